package wechatauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// CheckConfig applies to a wechat_auth handler's adapted JSON the rules its
// Provision applies, without building anything (no client, no store, no
// network): wechat-doctor runs it so that it never passes a configuration
// Caddy refuses. Placeholders are expanded from this process's
// environment, as Caddy does at start; UnsetPlaceholders tells first which
// ones cannot be.
func CheckConfig(raw json.RawMessage) error {
	var h Handler
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("the wechat_auth JSON does not fit the handler: %v", err)
	}
	repl := caddy.NewReplacer()
	if _, err := h.expandChecked(repl); err != nil {
		return err
	}
	var err error
	if dl := h.DesktopLogin; dl != nil {
		if s, err := expand(repl, "desktop_login", dl.AppSecret); err != nil || s == "" {
			return errors.New("desktop_login's secret is empty: set the website application's AppSecret, e.g. desktop_login <website-appid> {env.WECHAT_WEB_APP_SECRET}, and make sure that variable is set")
		}
	}
	for _, b := range []struct{ name, value string }{{"api_base", h.APIBase}, {"open_base", h.OpenBase}} {
		if _, err := expand(repl, b.name, b.value); err != nil {
			return err
		}
	}
	if _, _, err = expandSessionKeys(repl, h.SessionKeys); err != nil {
		return err
	}
	// The assertion's signing keys, parsed as provisionAssertion does.
	if a := h.Assertion; a != nil && len(a.Keys) > 0 {
		pems := make([]string, len(a.Keys))
		for i, k := range a.Keys {
			if pems[i], err = expand(repl, "assertion key", k); err != nil {
				return fmt.Errorf("assertion key #%d: a placeholder in it could not be expanded: use {file./path/key.pem} with a readable file, or {env.NAME} with NAME set", i+1)
			}
		}
		if _, err := parseKeySet(pems); err != nil {
			return err
		}
	}
	return nil
}

// expandChecked applies the rules Provision and CheckConfig share, in
// Provision's order: defaults, app_id and app_secret expanded, Validate, then
// the rules that need expanded values or files. It returns the expanded
// secret.
func (h *Handler) expandChecked(repl *caddy.Replacer) (secret string, err error) {
	h.setDefaults()
	if h.AppID, err = expand(repl, "app_id", h.AppID); err != nil {
		return "", err
	}
	if secret, err = expand(repl, "app_secret", h.AppSecret); err != nil {
		return "", err
	}
	if err = h.Validate(); err != nil {
		return "", err
	}
	h.validated = true
	if h.WeCom != nil {
		if _, err := h.expandWeCom(repl); err != nil {
			return "", err
		}
	}
	// The rules after Validate that need expanded values or files: the
	// app_secret (only a relay client without follower lookups, a
	// platform's or a WeCom site talks to WeChat without one), and the
	// site's own pages, which are loaded here.
	if secret == "" && !h.Component && h.WeCom == nil && (h.Relay == "" || h.SubscriberInfo || h.RequireSubscribe) {
		return "", errors.New("app_secret is empty: set it to your account's AppSecret, e.g. app_secret {env.WECHAT_APP_SECRET}, and make sure that variable is set (a site with relay needs it only for subscriber_info and require_subscribe)")
	}
	h.sitePages, err = loadSitePages(h.Pages)
	return secret, err
}

// expandSessionKeys expands and decodes session_keys; keys are the
// expanded strings (for the block-key check), pairs what securecookie takes.
func expandSessionKeys(repl *caddy.Replacer, in []SessionKey) (keys []SessionKey, pairs [][]byte, err error) {
	keys = make([]SessionKey, len(in))
	for i, k := range in {
		if keys[i].HashKey, err = expand(repl, fmt.Sprintf("session_keys #%d hash key", i+1), k.HashKey); err != nil {
			return nil, nil, err
		}
		if keys[i].BlockKey, err = expand(repl, fmt.Sprintf("session_keys #%d block key", i+1), k.BlockKey); err != nil {
			return nil, nil, err
		}
	}
	pairs, err = keyPairs(keys)
	return keys, pairs, err
}

var (
	envPlaceholder  = regexp.MustCompile(`\{env\.([A-Za-z0-9_]+)\}`)
	filePlaceholder = regexp.MustCompile(`\{file\.([^}]+)\}`)
)

// UnsetPlaceholders lists what the handler's JSON reads that this process
// cannot: environment variables that are unset or empty ("WECHAT_APP_SECRET")
// and files that cannot be read ("file /run/secrets/x").
func UnsetPlaceholders(raw json.RawMessage) []string {
	s := string(raw)
	var out []string
	seen := map[string]bool{}
	for _, m := range envPlaceholder.FindAllStringSubmatch(s, -1) {
		if seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		if v, err := caddy.NewReplacer().ReplaceOrErr(m[0], true, true); err != nil || strings.TrimSpace(v) == "" {
			out = append(out, m[1])
		}
	}
	for _, m := range filePlaceholder.FindAllStringSubmatch(s, -1) {
		if _, err := caddy.NewReplacer().ReplaceOrErr(m[0], true, true); err != nil && !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, "file "+m[1])
		}
	}
	return out
}

// expand resolves {env.*} and {file.*} in a setting. It reports a placeholder
// that stays unexpanded by the setting's name only: the value may be secret.
func expand(repl *caddy.Replacer, setting, value string) (string, error) {
	out, err := repl.ReplaceOrErr(value, true, true)
	if err != nil {
		return "", fmt.Errorf("%s: a placeholder could not be expanded (%v): use {env.NAME} with NAME set, or {file./path} with a readable file", setting, err)
	}
	return strings.TrimSpace(out), nil
}
