package wechatauth

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseComponentBlock reads the wechat option's component { } block. The
// secrets (app_secret, token, encoding_aes_key, previous_encoding_aes_key)
// must be {env.*} or {file.*} placeholders, expanded when Caddy provisions
// the app: a literal, or {$VAR} (expanded while adapting), would be written
// into the adapted JSON and every config dump.
func parseComponentBlock(d *caddyfile.Dispenser) (*ComponentConfig, error) {
	if d.NextArg() {
		return nil, d.Err("wechat component takes its settings in a block: component { app_id … app_secret … token … encoding_aes_key … }")
	}
	c := new(ComponentConfig)
	seen := map[string]bool{}
	for d.NextBlock(1) {
		name := d.Val()
		if seen[name] {
			return nil, d.Errf("wechat component %s is given twice: keep one", name)
		}
		seen[name] = true
		var dst *string
		secret := true
		switch name {
		case "app_id":
			dst, secret = &c.AppID, false
		case "app_secret":
			dst = &c.AppSecret
		case "token":
			dst = &c.Token
		case "encoding_aes_key":
			dst = &c.EncodingAESKey
		case "previous_encoding_aes_key":
			dst = &c.PreviousEncodingAESKey
		case "api_base":
			dst, secret = &c.APIBase, false
		case "open_base":
			dst, secret = &c.OpenBase, false
		default:
			return nil, d.Errf("unknown wechat component setting %q: use app_id, app_secret, token, encoding_aes_key, previous_encoding_aes_key, api_base or open_base", name)
		}
		if !d.NextArg() {
			return nil, d.Errf("wechat component %s needs a value", name)
		}
		*dst = d.Val()
		if d.NextArg() {
			return nil, d.ArgErr()
		}
		if secret && !runtimePlaceholder(*dst) {
			return nil, d.Errf("wechat component %s must be read at run time, so it never appears in the adapted config: write {env.NAME} or {file./run/secrets/name}", name)
		}
	}
	for _, need := range []string{"app_id", "app_secret", "token", "encoding_aes_key"} {
		if !seen[need] {
			return nil, d.Errf("wechat component needs %s (app_id, app_secret, token and encoding_aes_key from the Open Platform console → 第三方平台 → 开发资料)", need)
		}
	}
	return c, nil
}

// runtimePlaceholder reports whether v is exactly one {env.*} or {file.*}
// placeholder.
func runtimePlaceholder(v string) bool {
	return strings.HasSuffix(v, "}") && strings.Count(v, "{") == 1 &&
		(strings.HasPrefix(v, "{env.") || strings.HasPrefix(v, "{file."))
}
