package cli

import (
	"encoding/json"
	"strings"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
)

// checkSettings runs the gateway's own rules (caddymodule.CheckConfig, what
// Provision refuses) on the handler, with this environment: a variable it
// reads that is not set here leaves the handler unchecked, in every mode.
func checkSettings(r *doctorReport, name string, a authConfig) {
	if unset := wechatauth.UnsetPlaceholders(a.Raw); len(unset) > 0 {
		r.unchecked(name, "settings", "not checked: wechat_auth reads "+strings.Join(unset, ", ")+", which is not set where the doctor runs, so the doctor cannot tell what Caddy will make of it",
			"set "+strings.Join(unset, " and ")+" (the same environment and files Caddy runs with), then run the doctor again")
		return
	}
	if err := wechatauth.CheckConfig(a.Raw); err != nil {
		r.problem(name, "settings", "Caddy refuses to start with this wechat_auth: "+err.Error(),
			"change the setting the message names; `caddy validate --config <file>` gives the same error")
		return
	}
	r.ok(name, "settings", "Caddy accepts the wechat_auth settings (app_id, app_secret, session_keys, scope, …)")
	if blockless(a) {
		r.note(name, "session_keys_block", "session_keys has no block key: cookies are signed but not encrypted, so a visitor can read their own openid in the cookie",
			"add a second key to encrypt them: session_keys {env.WECHAT_SESSION_HASH_KEY} {env.WECHAT_SESSION_BLOCK_KEY} (each: head -c 32 /dev/urandom | base64)")
	}
}

// setFix names the variables (or files) a setting reads that are not set.
func setFix(setting, value string) string {
	b, _ := json.Marshal(value)
	if unset := wechatauth.UnsetPlaceholders(b); len(unset) > 0 {
		return "set " + strings.Join(unset, " and ") + " where the doctor runs (as where Caddy runs)"
	}
	return "give " + setting + " a value"
}

func blockless(a authConfig) bool {
	return len(a.SessionKeys) > 0 && a.SessionKeys[0].BlockKey == ""
}
