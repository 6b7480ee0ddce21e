#!/bin/sh
# Counts the files and file switches of four requests through the gateway
# (docs/architecture.md, "Tracing a request"): an in-WeChat login callback,
# a first-seen session cookie, a forward-auth check, and a relay login.
# Needs dlv: go install github.com/go-delve/delve/cmd/dlv@v1.27.2
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out" debug.test* caddymodule/debug.test*' EXIT
dlv trace ./caddymodule 'caddy-wechat-auth/(caddymodule|wechat)[./]|traceMark' --test \
	--build-flags='-tags=tracerequests' -- -test.run TestTraceFourRequests >/dev/null 2>"$out"
go run ./scripts/tracecount . "$out"
