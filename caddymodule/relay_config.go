package wechatauth

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// relayState is what a relay (relay_for) or a relay client (relay) needs
// at run time.
type relayState struct {
	seal     *relaySeal
	rules    []domainRule // relay: relay_for
	endpoint string       // client: the relay's <url>/wechat_auth/relay
	claims   claims       // client: the hand-backs spent
}

// relayEndpointOf turns relay's URL (the relay's registered address, with
// its scheme) into the relay's entry point: <url>/wechat_auth/relay.
func relayEndpointOf(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || strings.Contains(raw, "#") {
		return "", fmt.Errorf("relay %q must be the relay's address as registered in WeChat's console, with its scheme: https://wx.example.com, or https://wx.example.com/mp for a path setting", raw)
	}
	if _, err := makeOrigin(u.Scheme, u.Host); err != nil {
		return "", fmt.Errorf("relay %q: %q is not a host name", raw, u.Host)
	}
	return strings.TrimSuffix(u.Scheme+"://"+u.Host+u.EscapedPath(), "/") + defaultPathPrefix + "/relay", nil
}

// provisionRelay builds what the relay or a client needs; nil for neither.
// Both seal with the session_keys, which must therefore be set (the same on
// the relay and every client) and include a block key: the hand-back
// carries who signed in through the visitor's address bar.
func (h *Handler) provisionRelay(repl *caddy.Replacer, pairs [][]byte) (*relayState, error) {
	if len(h.RelayFor) == 0 && h.Relay == "" {
		return nil, nil
	}
	setting := "relay_for"
	if h.Relay != "" {
		setting = "relay"
	}
	if len(h.SessionKeys) == 0 || len(pairs) < 2 || pairs[1] == nil {
		return nil, fmt.Errorf("%s needs session_keys with a block key, the same on the relay and on every site it serves: session_keys {env.WECHAT_SESSION_HASH_KEY} {env.WECHAT_SESSION_BLOCK_KEY} (each: head -c 32 /dev/urandom | base64)", setting)
	}
	rs := &relayState{seal: newRelaySeal(h.AppID, pairs, func() time.Time { return h.now() })}
	for _, d := range h.RelayFor {
		rule, _ := parseDomainRuleOf("relay_for", d) // Validate checked each
		rs.rules = append(rs.rules, rule)
	}
	if h.Relay != "" {
		raw, err := expand(repl, "relay", h.Relay)
		if err != nil {
			return nil, err
		}
		if rs.endpoint, err = relayEndpointOf(raw); err != nil {
			return nil, err
		}
		rs.claims = storeClaims{h.app.store}
	}
	return rs, nil
}
