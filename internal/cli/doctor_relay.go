package cli

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
)

// Relay checks: one registered callback domain (the relay, relay_for) logs
// visitors in for other sites (relay). The relay holds relay_secret; each
// client holds the relay key derived for its own origin (relay_key) and
// session_keys of its own. Whether relay_for admits a client is the
// gateway's own rule (wechatauth.DomainRuleAllows), not a copy of it.

// relayForAdmits reports whether a relay_for entry admits a client at
// scheme://host[:port] ("" port: the scheme's default). An entry the
// gateway would refuse at start admits nothing.
func relayForAdmits(rule, scheme, host, port string) bool {
	if scheme == "" {
		scheme = "https"
	}
	hostport := host
	if port != "" {
		hostport = net.JoinHostPort(host, port)
	}
	ok, err := wechatauth.DomainRuleAllows("relay_for", rule, scheme, hostport)
	return ok && err == nil
}

// checkRelays: a client's relay, when it is in the configurations checked,
// must list the client in relay_for; relay partners need a block key.
func checkRelays(r *doctorReport, sites []*authSite) {
	for _, c := range sites {
		if c.Auth.Relay == "" {
			continue
		}
		name := c.Name()
		checkRelayKey(r, c)
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
			if len(rel.Auth.RelaySecret) == 0 {
				r.problem(rel.Name(), "relay_keys", "relay_for without relay_secret: Caddy refuses to start",
					"set relay_secret {env.WECHAT_RELAY_SECRET} (head -c 32 /dev/urandom | base64) and derive each site's relay_key from it with caddy wechat-relay-key")
			}
			listed := false
			for _, rule := range rel.Auth.RelayFor {
				listed = listed || relayForAdmits(rule, c.Scheme, c.Host, c.Port)
			}
			if !listed {
				r.problem(name, "relay", fmt.Sprintf("the relay %s does not list %s in relay_for (%s): it refuses to log visitors in for this site (403 此站点未获授权)", rel.Name(), c.Host, strings.Join(rel.Auth.RelayFor, " ")),
					fmt.Sprintf("add %s to relay_for on %s", c.Host, rel.Name()))
			} else {
				r.ok(name, "relay", "the relay "+rel.Name()+" lists this site in relay_for")
			}
			if len(c.Auth.SessionKeys) > 0 && len(rel.Auth.SessionKeys) > 0 && c.Auth.SessionKeys[0] == rel.Auth.SessionKeys[0] {
				r.problem(name, "relay_keys", "this site signs its sessions with the relay's session_keys: whoever runs it could sign anybody in on the relay",
					"give this site session_keys of its own: "+keysFix)
			}
			if rel.Auth.AppID != c.Auth.AppID {
				r.problem(name, "relay", fmt.Sprintf("app_id %s differs from the relay's (%s): the relay's hand-backs are refused", c.Auth.AppID, rel.Auth.AppID), "use the relay's app_id on every site that uses it")
			}
		}
	}
}

// checkRelayKey: a client needs a relay_key for the origin it serves; the
// gateway refuses to start without one, and refuses visitors on any other.
func checkRelayKey(r *doctorReport, c *authSite) {
	name := c.Name()
	if len(c.Auth.RelayKeys) == 0 {
		r.problem(name, "relay_keys", "relay without relay_key: Caddy refuses to start (the relay and its sites no longer share session_keys)",
			"on the relay set relay_secret {env.WECHAT_RELAY_SECRET}; run WECHAT_RELAY_SECRET=… caddy wechat-relay-key <this site's origin> there and add the relay_key line it prints here")
		return
	}
	if c.Host == "" {
		return
	}
	scheme := c.Scheme
	if scheme == "" {
		scheme = "https"
	}
	want := scheme + "://" + c.Host
	if c.Port != "" {
		want += ":" + c.Port
	}
	for _, k := range c.Auth.RelayKeys {
		if strings.Contains(k.Origin, "{") {
			return // known once expanded
		}
		if got, err := wechatauth.ClientOrigin(k.Origin); err == nil && got == want {
			r.ok(name, "relay_keys", "relay_key covers "+want)
			return
		}
	}
	r.problem(name, "relay_keys", "no relay_key for "+want+": visitors on it get 403 (此网址未配置微信登录)",
		"run caddy wechat-relay-key "+want+" on the relay and add the line it prints here")
}
