package cli

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Relay checks: one registered callback domain (the relay, relay_for) logs
// visitors in for other sites (relay). The relay and its clients share the
// app_id and the session keys, which need a block key: the hand-back that
// carries who signed in is sealed with them.

// relayRuleCovers reports whether a relay_for entry (the forms of
// redirect_domains: host, .domain, *.domain, host:port, host:*) covers a
// client on host and port ("" for the default port).
func relayRuleCovers(rule, host, port string) bool {
	rule = strings.ToLower(strings.TrimSpace(rule))
	rulePort := ""
	if h, p, err := net.SplitHostPort(rule); err == nil {
		rule, rulePort = h, p
	}
	if rulePort != "*" && rulePort != port {
		return false
	}
	if d, ok := strings.CutPrefix(rule, "*."); ok {
		return host == d || strings.HasSuffix(host, "."+d)
	}
	if d, ok := strings.CutPrefix(rule, "."); ok {
		return host == d || strings.HasSuffix(host, "."+d)
	}
	return host == rule
}

// checkRelays: a client's relay, when it is in the configurations checked,
// must list the client in relay_for; relay partners need a block key.
func checkRelays(r *doctorReport, sites []*authSite) {
	for _, c := range sites {
		if c.Auth.Relay == "" {
			continue
		}
		name := c.Name()
		if len(c.Auth.SessionKeys) > 0 && c.Auth.SessionKeys[0].BlockKey == "" {
			r.problem(name, "relay_keys", "session_keys has no block key: the relay's hand-back, which carries who signed in, is sealed with it, so logins through the relay fail",
				"set "+keysFix+" on the relay and on every site that uses it")
		}
		u, err := url.Parse(c.Auth.Relay)
		if err != nil || u.Hostname() == "" {
			r.problem(name, "relay", fmt.Sprintf("relay %q is not a URL", c.Auth.Relay), "write the relay's address as registered in WeChat's console, e.g. relay https://wx.example.com")
			continue
		}
		var relays []*authSite
		for _, s := range sites {
			if s.Host == strings.ToLower(u.Hostname()) && len(s.Auth.RelayFor) > 0 {
				relays = append(relays, s)
			}
		}
		if len(relays) == 0 {
			r.note(name, "relay", "logs in through "+c.Auth.Relay+", which is not in the configurations checked: pass its file with another --config to check it too", "")
			continue
		}
		for _, rel := range relays {
			listed := false
			for _, rule := range rel.Auth.RelayFor {
				listed = listed || relayRuleCovers(rule, c.Host, c.Port)
			}
			if !listed {
				r.problem(name, "relay", fmt.Sprintf("the relay %s does not list %s in relay_for (%s): it refuses to log visitors in for this site (403 此站点未获授权)", rel.Name(), c.Host, strings.Join(rel.Auth.RelayFor, " ")),
					fmt.Sprintf("add %s to relay_for on %s", c.Host, rel.Name()))
			} else {
				r.ok(name, "relay", "the relay "+rel.Name()+" lists this site in relay_for")
			}
			if rel.Auth.AppID != c.Auth.AppID {
				r.problem(name, "relay", fmt.Sprintf("app_id %s differs from the relay's (%s): the relay's hand-backs are refused", c.Auth.AppID, rel.Auth.AppID), "use the relay's app_id on every site that uses it")
			}
		}
	}
}
