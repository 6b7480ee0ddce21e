package wechatauth

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterDirective("wechat_auth", parseCaddyfile)
	// Right after basic_auth: authentication before anything that serves.
	httpcaddyfile.RegisterDirectiveOrder("wechat_auth", httpcaddyfile.After, "basic_auth")
}

// parseCaddyfile turns the directive into a route. The matcher, if any, does
// not become the route's matcher: it says what is protected, while the
// endpoints under path_prefix (the callback above all) must answer whatever
// it matches. So it travels inside the handler as "protect".
func parseCaddyfile(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	var handler Handler
	if err := handler.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	if matcherSet != nil {
		handler.ProtectRaw = caddyhttp.RawMatcherSets{matcherSet}
	}
	return h.NewRoute(nil, &handler), nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	wechat_auth [<matcher>] {
//		app_id           <appid>
//		app_secret       <secret>                    # {env.WECHAT_APP_SECRET} or {file./run/secrets/x}
//		scope            snsapi_base|snsapi_userinfo
//		session_keys     <hash-key> [<block-key>]     # repeat to rotate: the first pair signs
//		cookie_name      <name>
//		cookie_domain    <domain>
//		session_ttl      <duration>
//		path_prefix      <path>
//		redirect_domains <host>...
//		jssdk_domains    <host>...                  # pages {path_prefix}/jssdk may sign besides this site's
//		non_wechat       page|allow|deny|login|qrconnect
//		desktop_login    <website-appid> <secret>       # scan-to-login outside WeChat (implies non_wechat qrconnect)
//		header_prefix    <prefix>
//		api_base         <url>
//		open_base        <url>
//		subscriber_info                              # forward X-WeChat-Subscribed: 1|0
//		subscriber_ttl   <duration>                  # follower cache, default 5m
//		require_subscribe [<qr-image-url>]           # followers only
//		desktop_followers unchecked                  # desktop_login visitors: no follower check (needed with require_subscribe)
//		relay_for        <host>...                   # this site is the login relay for these hosts
//		relay_secret     <secret>...                 # on the relay: what client keys derive from
//		relay            <url>                       # sign in through the relay at url (no app_secret)
//		relay_key        <origin> <key>              # on a client: this origin's key from the relay
//		keep_fragment                                # return to the #fragment a login started from
//		assertion {                                  # a signed identity for the upstream (docs/assertion.md)
//			header    <name>                        # default X-WeChat-Assertion
//			issuer    <iss>                         # default the site origin
//			audience  <aud>                         # default the site origin
//			key       {file./path/key.pem}          # repeat to rotate: the first signs, all are published
//			ttl       <duration>                    # default and at most 5m
//			well_known                              # also serve /.well-known/jwks.json
//		}
//		wecom <corp_id> <agent_id> <secret> { … }     # WeCom (企业微信) staff sign-in instead (wecom_caddyfile.go, docs/wecom.md)
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.Errf("wechat_auth takes its settings in a block { app_id … app_secret … }, not %q on the directive line", d.Val())
	}
	seen := map[string]bool{}
	var desktopFollowers string // desktop_login's, which may come later in the block
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] && name != "session_keys" && name != "redirect_domains" && name != "relay_for" && name != "jssdk_domains" && name != "relay_key" && name != "page" {
			return d.Errf("%s is set twice: keep one", name)
		}
		seen[name] = true
		switch name {
		case "app_id":
			if err := oneArg(d, &h.AppID); err != nil {
				return err
			}
		case "app_secret":
			if err := oneArg(d, &h.AppSecret); err != nil {
				return err
			}
		case "scope":
			if err := oneArg(d, &h.Scope); err != nil {
				return err
			}
		case "session_keys":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.Errf("session_keys takes a hash key and an optional block key (base64), e.g. session_keys {env.WECHAT_SESSION_HASH_KEY} {env.WECHAT_SESSION_BLOCK_KEY}")
			}
			k := SessionKey{HashKey: args[0]}
			if len(args) == 2 {
				k.BlockKey = args[1]
			}
			h.SessionKeys = append(h.SessionKeys, k)
		case "cookie_name":
			if err := oneArg(d, &h.CookieName); err != nil {
				return err
			}
		case "cookie_domain":
			if err := oneArg(d, &h.CookieDomain); err != nil {
				return err
			}
		case "session_ttl":
			if err := durationArg(d, &h.SessionTTL, "168h"); err != nil {
				return err
			}
		case "path_prefix":
			if err := oneArg(d, &h.PathPrefix); err != nil {
				return err
			}
		case "redirect_domains":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.RedirectDomains = append(h.RedirectDomains, args...)
		case "relay_for":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("relay_for needs the hosts this relay signs in for, e.g. relay_for shop.example.com *.preview.example.com")
			}
			h.RelayFor = append(h.RelayFor, args...)
		case "relay":
			if err := oneArg(d, &h.Relay); err != nil {
				return err
			}
		case "relay_secret":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("relay_secret needs the relay's secret, e.g. relay_secret {env.WECHAT_RELAY_SECRET} (head -c 32 /dev/urandom | base64); a second one while rotating")
			}
			h.RelaySecret = args
		case "relay_key":
			args := d.RemainingArgs()
			if len(args) != 2 {
				// The values are not echoed: one is a key.
				return d.Errf("relay_key takes two values: <this site's origin> <key>, e.g. relay_key https://shop.example.com {env.WECHAT_RELAY_KEY}; caddy wechat-relay-key on the relay prints the line")
			}
			h.RelayKeys = append(h.RelayKeys, RelayKey{Origin: args[0], Key: args[1]})
		case "component":
			h.Component = true
			if d.NextArg() {
				if d.Val() != "from_host" {
					return d.Errf("component takes no value, or from_host: app_id (or, with from_host, the host's first label) names the authorizer account, the wechat global option's component block the platform")
				}
				h.ComponentFromHost = true
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "component_authorizers":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("component_authorizers needs the AppIDs of the accounts to serve, e.g. component_authorizers wxmerchanta000001 wxmerchantb000001")
			}
			h.ComponentAuthorizers = append(h.ComponentAuthorizers, args...)
		case "keep_fragment":
			if d.NextArg() {
				return d.Errf("keep_fragment takes no value")
			}
			h.KeepFragment = true
		case "desktop_login":
			args := d.RemainingArgs()
			if len(args) != 2 {
				// The values are not echoed: one may be the secret.
				return d.Errf("desktop_login takes two values: <website-appid> <secret>, e.g. desktop_login wxabc… {env.WECHAT_WEB_APP_SECRET}")
			}
			h.DesktopLogin = &DesktopLogin{AppID: args[0], AppSecret: args[1]}
		case "jssdk_domains":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.JSSDKDomains = append(h.JSSDKDomains, args...)
		case "non_wechat":
			if err := oneArg(d, &h.NonWeChat); err != nil {
				return err
			}
		case "header_prefix":
			if err := oneArg(d, &h.HeaderPrefix); err != nil {
				return err
			}
		case "subscriber_info":
			if d.NextArg() {
				return d.Errf("subscriber_info takes no value; set the cache time with subscriber_ttl")
			}
			h.SubscriberInfo = true
		case "desktop_followers":
			if err := oneArg(d, &desktopFollowers); err != nil {
				return err
			}
		case "subscriber_ttl":
			if err := durationArg(d, &h.SubscriberTTL, "5m"); err != nil {
				return err
			}
		case "require_subscribe":
			h.RequireSubscribe = true
			if d.NextArg() {
				h.SubscribeQR = d.Val()
			}
			if d.NextArg() {
				return d.Errf("require_subscribe takes at most one value: the URL of the account's QR code image")
			}
		case "site_name":
			if err := oneArg(d, &h.SiteName); err != nil {
				return err
			}
		case "page":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("page takes a page name and a template file: page declined /etc/caddy/pages/declined.html")
			}
			if h.Pages == nil {
				h.Pages = map[string]string{}
			}
			if _, dup := h.Pages[args[0]]; dup {
				return d.Errf("page %s is set twice: keep one", args[0])
			}
			h.Pages[args[0]] = args[1]
		case "wecom":
			w, err := unmarshalWeCom(d)
			if err != nil {
				return err
			}
			h.WeCom = w
		case "assertion":
			a, err := unmarshalAssertion(d)
			if err != nil {
				return err
			}
			h.Assertion = a
		case "pass_access_token":
			if d.NextArg() {
				return d.Errf("pass_access_token takes no value")
			}
			h.PassAccessToken = true
		case "verify_interval":
			if err := durationArg(d, &h.VerifyInterval, "15m"); err != nil {
				return err
			}
		case "profile_ttl":
			if err := durationArg(d, &h.ProfileTTL, "24h"); err != nil {
				return err
			}
		case "api_base":
			if err := oneArg(d, &h.APIBase); err != nil {
				return err
			}
		case "open_base":
			if err := oneArg(d, &h.OpenBase); err != nil {
				return err
			}
		default:
			return d.Errf("unknown wechat_auth setting %q: see the README for app_id, app_secret, scope, session_keys, cookie_name, cookie_domain, session_ttl, path_prefix, redirect_domains, jssdk_domains, non_wechat, desktop_login, desktop_followers, header_prefix, api_base, open_base, subscriber_info, subscriber_ttl, require_subscribe, relay_for, relay_secret, relay, relay_key, component, component_authorizers, keep_fragment, site_name, page, assertion, pass_access_token, verify_interval, profile_ttl, wecom", name)
		}
	}
	if desktopFollowers != "" {
		if h.DesktopLogin == nil {
			return d.Errf("desktop_followers is set without desktop_login: it says what follower rules do for desktop_login's visitors; remove it")
		}
		h.DesktopLogin.Followers = desktopFollowers
	}
	return nil
}

// oneArg reads exactly one argument of the current setting into dst.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	if !d.NextArg() {
		return d.Errf("%s needs a value", name)
	}
	*dst = d.Val()
	if d.NextArg() {
		// The extra value is not echoed: it may be part of a secret.
		return d.Errf("%s takes one value, got more: quote a value that contains spaces", name)
	}
	return nil
}

// durationArg parses a duration setting. The rules for its value belong to
// Validate; only 0 is refused here, because in JSON it means "unset" and so
// would silently become the default.
func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration, example string) error {
	name := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("%s %q is not a duration: write e.g. %s", name, s, example)
	}
	if dur == 0 {
		return d.Errf("%s 0 would mean the default: write the duration you want, e.g. %s", name, example)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// unmarshalAssertion reads the assertion block; a bare "assertion" turns it
// on with every default.
func unmarshalAssertion(d *caddyfile.Dispenser) (*Assertion, error) {
	if d.NextArg() {
		return nil, d.Errf("assertion takes its settings in a block { audience … key … }, not a value on its line")
	}
	a := &Assertion{}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] && name != "key" {
			return nil, d.Errf("assertion %s is set twice: keep one", name)
		}
		seen[name] = true
		switch name {
		case "header":
			if err := oneArg(d, &a.Header); err != nil {
				return nil, err
			}
		case "issuer":
			if err := oneArg(d, &a.Issuer); err != nil {
				return nil, err
			}
		case "audience":
			if err := oneArg(d, &a.Audience); err != nil {
				return nil, err
			}
		case "key":
			var k string
			if err := oneArg(d, &k); err != nil {
				return nil, err
			}
			a.Keys = append(a.Keys, k)
		case "ttl":
			if err := durationArg(d, &a.TTL, "5m"); err != nil {
				return nil, err
			}
		case "well_known":
			if d.NextArg() {
				return nil, d.Errf("well_known takes no value")
			}
			a.WellKnown = true
		default:
			return nil, d.Errf("unknown assertion setting %q: use header, issuer, audience, key, ttl or well_known", name)
		}
	}
	return a, nil
}
