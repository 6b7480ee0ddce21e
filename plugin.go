// Package wechatauth lets `xcaddy build --with github.com/wxgate/caddy-wechat-auth`
// plug wechat_auth into a custom Caddy build: importing this package registers
// the http.handlers.wechat_auth module and its Caddyfile directive, the wechat
// app (global option), and the CLI subcommands wechat-demo, wechat-mock,
// wechat-doctor, wechat-menu, wechat-session and wechat-relay-key.
package wechatauth

import (
	_ "github.com/wxgate/caddy-wechat-auth/caddymodule"
	_ "github.com/wxgate/caddy-wechat-auth/internal/cli"
)
