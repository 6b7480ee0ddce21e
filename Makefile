# caddy-wechat-auth — the commands a newcomer and CI run.
#   make demo   build and run the one-command demo (simulator + gateway + demo app)
#   make test   install what the tests need (Debian packages), then vet and go test -race everything
#   make build  build ./caddy, the custom Caddy with wechat_auth
#   make bench  Go micro-benchmarks and the load benchmark (see README, Performance)

GO       ?= go
BIN      ?= ./caddy
PKGS     ?= ./...

.PHONY: all build demo test test-deps vet fmt-check bench clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/caddy

demo: build
	$(BIN) wechat-demo

test-deps:
	bash scripts/install-test-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

test: test-deps fmt-check vet build
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

bench: build
	$(GO) run ./bench

clean:
	rm -f $(BIN)
