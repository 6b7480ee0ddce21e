// Package wechatauth lets `xcaddy build --with github.com/wxgate/caddy-wechat-auth`
// plug wechat_auth into a custom Caddy build: importing this package registers
// the http.handlers.wechat_auth module, its Caddyfile directive, and the CLI
// subcommands wechat-mock, wechat-menu and wechat-demo.
package wechatauth

import (
	_ "github.com/wxgate/caddy-wechat-auth/caddymodule"
	_ "github.com/wxgate/caddy-wechat-auth/internal/cli"
)
