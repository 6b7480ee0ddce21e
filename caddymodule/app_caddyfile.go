package wechatauth

import (
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("wechat", parseWeChatOption)
}

// parseWeChatOption configures the wechat app from the global options.
// Syntax:
//
//	wechat {
//		store              <url>
//		key_prefix         <prefix>
//		unchecked_sessions refuse|admit
//		component {
//			app_id                    <platform AppID>
//			app_secret                {env.WECHAT_COMPONENT_SECRET}
//			token                     {env.WECHAT_COMPONENT_TOKEN}
//			encoding_aes_key          {env.WECHAT_COMPONENT_AES_KEY}
//			previous_encoding_aes_key {env.WECHAT_COMPONENT_OLD_AES_KEY}
//			api_base                  <url>
//			open_base                 <url>
//		}
//	}
//
// A one-line form, wechat <url>, sets the store alone.
func parseWeChatOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("the wechat global option is given twice: merge both into one wechat { } block")
	}
	d.Next() // the option's name
	var app App
	if d.NextArg() {
		app.Store = d.Val()
		if d.NextArg() {
			return nil, d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "store":
			if app.Store != "" {
				return nil, d.Err("wechat store is given twice: keep one")
			}
			if !d.NextArg() {
				return nil, d.Errf("wechat store needs a URL, e.g. store redis://127.0.0.1:6379/0 or store {env.WECHAT_STORE}")
			}
			app.Store = d.Val()
		case "key_prefix":
			if app.KeyPrefix != "" {
				return nil, d.Err("wechat key_prefix is given twice: keep one")
			}
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			app.KeyPrefix = d.Val()
		case "unchecked_sessions":
			if app.UncheckedSessions != "" {
				return nil, d.Err("wechat unchecked_sessions is given twice: keep one")
			}
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			app.UncheckedSessions = d.Val()
			if err := validUncheckedSessions(app.UncheckedSessions); err != nil {
				return nil, d.Err(err.Error())
			}
		case "component":
			if app.Component != nil {
				return nil, d.Err("wechat component is given twice: one Caddy serves one third-party platform")
			}
			c, err := parseComponentBlock(d)
			if err != nil {
				return nil, err
			}
			app.Component = c
		default:
			return nil, d.Errf("unknown wechat option %q: use store, key_prefix, unchecked_sessions or component", d.Val())
		}
		if d.NextArg() {
			return nil, d.ArgErr()
		}
	}
	return httpcaddyfile.App{Name: "wechat", Value: caddyconfig.JSON(&app, nil)}, nil
}
