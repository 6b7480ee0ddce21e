# syntax=docker/dockerfile:1
#
# The custom Caddy with wechat_auth, as a small non-root image.
#
#   docker build -t caddy-wechat-auth .
#   docker run -p 8080:8080 -v $PWD/Caddyfile:/etc/caddy/Caddyfile:ro \
#     -e WECHAT_APP_ID -e WECHAT_APP_SECRET -e WECHAT_SESSION_HASH_KEY -e WECHAT_SESSION_BLOCK_KEY \
#     caddy-wechat-auth
#
# The image runs as uid 65532 and cannot bind ports below 1024: listen on
# :8080 (or grant CAP_NET_BIND_SERVICE). Examples: examples/kubernetes.

# Build: Go 1.26 (go.mod asks for 1.26 or later; this is the 1.26 patch release
# the tests run with).
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# A static binary: no libc in the final image, no cgo.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/caddy ./cmd/caddy \
	&& mkdir -p /out/data /out/config /out/etc/caddy /out/tmp

# Run: nothing but the binary, CA roots (for api.weixin.qq.com) and writable
# data/config dirs owned by the unprivileged user.
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/caddy /usr/bin/caddy
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build --chown=65532:65532 /out/config /config
COPY --from=build --chown=65532:65532 /out/etc/caddy /etc/caddy
COPY --from=build --chown=65532:65532 /out/tmp /tmp
ENV XDG_DATA_HOME=/data \
	XDG_CONFIG_HOME=/config \
	HOME=/data
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/bin/caddy"]
CMD ["run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
