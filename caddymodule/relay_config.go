package wechatauth

import (
	"crypto/cipher"
	"errors"
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
	origins  []origin     // client: its origins, one per relay_key
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
// The relay derives each client's key from relay_secret; a client holds
// its own key for each of its origins (relay_key) and nothing of the
// relay's or any other client's. Neither needs the other's session_keys.
func (h *Handler) provisionRelay(repl *caddy.Replacer) (*relayState, error) {
	if len(h.RelayFor) == 0 && h.Relay == "" {
		return nil, nil
	}
	now := func() time.Time { return h.now() }
	rs := &relayState{}
	if len(h.RelayFor) > 0 {
		secrets := make([][]byte, 0, len(h.RelaySecret))
		for i, raw := range h.RelaySecret {
			v, err := expand(repl, fmt.Sprintf("relay_secret #%d", i+1), raw)
			if err != nil {
				return nil, err
			}
			s, err := decodeRelaySecret(v, i+1)
			if err != nil {
				return nil, err
			}
			secrets = append(secrets, s)
		}
		rs.seal = newRelaySeal(h.AppID, relayRing(secrets), now)
		for _, d := range h.RelayFor {
			rule, _ := parseDomainRuleOf("relay_for", d) // Validate checked each
			rs.rules = append(rs.rules, rule)
		}
		return rs, nil
	}
	keys := map[origin][]cipher.AEAD{}
	for i, k := range h.RelayKeys {
		raw, err := expand(repl, fmt.Sprintf("relay_key #%d origin", i+1), k.Origin)
		if err != nil {
			return nil, err
		}
		o, err := parseClientOrigin(raw)
		if err != nil {
			return nil, fmt.Errorf("relay_key #%d: %v", i+1, err)
		}
		v, err := expand(repl, fmt.Sprintf("relay_key #%d key", i+1), k.Key)
		if err != nil {
			return nil, err
		}
		b, err := decodeKey(v)
		if err != nil || len(b) != relayKeyLen {
			return nil, fmt.Errorf("relay_key %s: the key is not the %d-byte base64 key the relay derives for this origin: on the relay, run WECHAT_RELAY_SECRET=… caddy wechat-relay-key %s and copy the key it prints", o, relayKeyLen, o)
		}
		a, err := newRelayAEAD(b)
		if err != nil {
			return nil, fmt.Errorf("relay_key %s: %v", o, err)
		}
		keys[o] = append(keys[o], a)
		rs.origins = append(rs.origins, o)
	}
	rs.seal = newRelaySeal(h.AppID, clientRing(keys), now)
	raw, err := expand(repl, "relay", h.Relay)
	if err != nil {
		return nil, err
	}
	if rs.endpoint, err = relayEndpointOf(raw); err != nil {
		return nil, err
	}
	rs.claims = storeClaims{h.app.store}
	return rs, nil
}

// relayMigration is what an operator of a relay set up before relay keys
// reads: the old form (one session_keys everywhere) cannot be made safe,
// since every client could then sign sessions valid on every other site.
const relayMigration = "the relay and its sites no longer share session_keys (a site holding the relay's could sign in as anyone on every other site): " +
	"on the relay set relay_secret {env.WECHAT_RELAY_SECRET} (head -c 32 /dev/urandom | base64); for each client site run, where that secret is, " +
	"WECHAT_RELAY_SECRET=… caddy wechat-relay-key https://shop.example.com and add the relay_key line it prints to that site; " +
	"then give each site session_keys of its own (docs/relay.md)"

// validateRelayKeys checks the relay's and the clients' keys as far as
// they are written out (placeholders are checked once expanded).
func (h *Handler) validateRelayKeys() error {
	switch {
	case len(h.RelayFor) > 0 && len(h.RelaySecret) == 0:
		return errors.New("relay_for needs relay_secret: " + relayMigration)
	case len(h.RelayFor) == 0 && len(h.RelaySecret) > 0:
		return errors.New("relay_secret is set but relay_for is not: only the relay holds relay_secret; a site that signs in through a relay takes relay <url> and relay_key <origin> <key>")
	case h.Relay != "" && len(h.RelayKeys) == 0:
		return errors.New("relay needs relay_key <this site's origin> <key>: " + relayMigration)
	case h.Relay == "" && len(h.RelayKeys) > 0:
		return errors.New("relay_key is set but relay is not: add relay <the relay's URL>, e.g. relay https://wx.example.com")
	}
	for i, k := range h.RelayKeys {
		if k.Key == "" {
			return fmt.Errorf("relay_key #%d has no key: relay_key <origin> <key>, e.g. relay_key https://shop.example.com {env.WECHAT_RELAY_KEY}", i+1)
		}
		if !strings.Contains(k.Origin, "{") {
			if _, err := parseClientOrigin(k.Origin); err != nil {
				return fmt.Errorf("relay_key #%d: %v", i+1, err)
			}
		}
	}
	for i, s := range h.RelaySecret {
		if !strings.Contains(s, "{") {
			if _, err := decodeRelaySecret(s, i+1); err != nil {
				return err
			}
		}
	}
	return nil
}
