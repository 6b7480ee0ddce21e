package wechatauth

// Provision and Cleanup: what a loaded config builds for a handler (keys,
// clients, its flows and runtime types, the route table, its share of the
// wechat app) and drops when unloaded.

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/patrickmn/go-cache"
	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// Provision expands placeholders in secrets and keys, decodes the keys and
// builds the WeChat clients, the sign-in flows, the runtime types and the
// route table.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.now == nil {
		h.now = time.Now
	}
	// The runtime types read the handler's clock through this, so a test
	// that moves h.now moves them all.
	clock := func() time.Time { return h.now() }
	repl := caddy.NewReplacer()
	secret, err := h.expandChecked(repl)
	if err != nil {
		return err
	}
	apiBase, err := expand(repl, "api_base", h.APIBase)
	if err != nil {
		return err
	}
	openBase, err := expand(repl, "open_base", h.OpenBase)
	if err != nil {
		return err
	}
	if h.app == nil {
		if h.app, err = appFrom(ctx); err != nil {
			return err
		}
	}
	h.acct = &account{appID: h.AppID}
	if secret != "" {
		// One client per account, shared by every handler of the app_id:
		// one basic-token cache and one jsapi_ticket cache.
		h.acct.client, err = h.app.client(wechat.Config{AppID: h.AppID, AppSecret: secret, APIBase: apiBase, OpenBase: openBase,
			Observe: observeAPI})
		if err != nil {
			return fmt.Errorf("api_base/open_base: %v", err)
		}
	}
	h.app.announceSessionTTL(h.AppID, time.Duration(h.SessionTTL))

	pairs, err := h.expandKeys(repl)
	if err != nil {
		return err
	}
	h.names = newHeaderNames(h.HeaderPrefix)
	h.names.endpointPath = h.PathPrefix + "/"
	h.hostGuard = &siteNames{handler: h}
	rules, _ := parseDomainRules("redirect_domains", h.RedirectDomains) // Validate checked each
	lk := &links{pathPrefix: h.PathPrefix, scope: h.Scope, rules: rules}
	jar := cookieJar{sessionName: h.CookieName, domain: h.CookieDomain}
	ttl := time.Duration(h.SessionTTL)
	// No janitor goroutine: expired entries are dropped when the cache fills
	// (see remember), so a config reload leaves nothing running behind.
	h.sessions = &sessions{name: h.CookieName, codec: newCookieCodec(pairs, ttl), jar: jar, memo: cache.New(memoTTL, 0),
		memoMax: memoMaxEntries, ttl: ttl, revs: h.app.revocations, app: h.app, now: clock, logger: h.logger}
	pages := newVisitorPages(h.SiteName, h.sitePages, apiBase, openBase, h.logger)
	h.sites.pages = pages
	h.logins = &logins{
		cookies:  &flowCookies{prefix: h.CookieName + "_flow_", codec: newCookieCodec(pairs, flowTTL), jar: jar, now: clock},
		sessions: h.sessions, claims: codeClaims{h.app}, links: lk, pages: pages, keepFragment: h.KeepFragment,
		now: clock, logger: h.logger,
	}
	h.tokens = h.newWebTokenUse(clock)
	if err := h.provisionFlows(repl, apiBase, openBase); err != nil {
		return err
	}

	if h.SubscriberInfo || h.RequireSubscribe {
		ttl := time.Duration(h.SubscriberTTL)
		if ttl <= 0 {
			ttl = defaultSubscriberTTL
		}
		h.followers = newFollowers(h.acct.client, ttl, clock, h.logger)
	}
	h.jssdk = newJSSDKSigner(h.acct, h.JSSDKDomains, h.hostGuard, h.now, h.logger)
	if err := h.provisionAssertion(repl); err != nil {
		return err
	}
	pol := &policy{scope: h.Scope, nonWeChat: h.NonWeChat, requireSubscribe: h.RequireSubscribe, followers: h.followers,
		followersApp: h.AppID, logins: h.logins, now: clock}
	h.gate = &gate{policy: pol, logins: h.logins, sessions: h.sessions, links: lk, names: &h.names, followers: h.followers,
		assert: h.assert, tokens: h.tokens, sites: &h.sites, pages: pages, flowPrefix: h.logins.cookies.prefix, nonWeChat: h.NonWeChat, subscribeQR: h.SubscribeQR, wecom: h.WeCom != nil}
	h.routes = h.routeTable()

	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		h.logger.Warn("registering the caddy_wechat_* metrics failed; they will not be served", zap.Error(err))
	}

	if len(h.ProtectRaw) > 0 {
		mods, err := ctx.LoadModule(h, "ProtectRaw")
		if err != nil {
			return fmt.Errorf("loading the protect matchers: %v", err)
		}
		if err := h.protect.FromInterface(mods); err != nil {
			return fmt.Errorf("loading the protect matchers: %v", err)
		}
	}
	return nil
}

// provisionFlows chooses the handler's sign-in flows (signin.go): the one
// that serves most visitors first — the relay client's (relay) or the
// Official Account's own — then, on a relay (relay_for), the logins it runs
// for its clients, and desktop_login's website app.
func (h *Handler) provisionFlows(repl *caddy.Replacer, apiBase, openBase string) error {
	if h.WeCom != nil {
		return h.provisionWeCom(repl)
	}
	l := h.logins
	outsideToo := h.NonWeChat == nonWeChatLogin
	if h.Component {
		return h.provisionComponentFlow(outsideToo)
	}
	relay, err := h.provisionRelay(repl)
	if err != nil {
		return err
	}
	mp := &mpFlow{acct: h.acct, source: sourceMP.forApp(h.AppID), links: l.links, outsideToo: outsideToo, tokens: h.tokens, now: l.now, logger: h.logger}
	if h.Relay != "" {
		rc := &relayClientFlow{appID: h.AppID, source: sourceMP.forApp(h.AppID), seal: relay.seal, endpoint: relay.endpoint, claims: relay.claims,
			origins: relay.origins, outsideToo: outsideToo, logins: l, logger: h.logger}
		l.flows = append(l.flows, rc)
		h.sites.guard = rc
	} else {
		l.flows = append(l.flows, mp)
	}
	if len(h.RelayFor) > 0 {
		l.flows = append(l.flows, &relayedFlow{mpFlow: mp, seal: relay.seal, rules: relay.rules, logins: l})
	}
	desktop, err := h.newDesktopFlow(repl, apiBase, openBase, l.links)
	if err != nil {
		return err
	}
	if desktop != nil {
		l.flows = append(l.flows, desktop)
	}
	h.sessions.flows = l.flows
	return nil
}

// Cleanup drops the verified-cookie cache of an unloaded config.
func (h *Handler) Cleanup() error {
	if h.sessions != nil {
		h.sessions.memo.Flush()
	}
	if h.followers != nil {
		h.followers.cache.Flush()
	}
	return nil
}
