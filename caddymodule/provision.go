package wechatauth

// Provision and Cleanup: what a loaded config builds for a handler (keys,
// clients, caches, its share of the wechat app) and drops when unloaded.

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/patrickmn/go-cache"
	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// Provision expands placeholders in secrets and keys, decodes the keys and
// builds the WeChat client and caches.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.now == nil {
		h.now = time.Now
	}
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
	h.revs = h.app.revocations
	if secret != "" {
		// One client per account, shared by every handler of the app_id:
		// one basic-token cache and one jsapi_ticket cache.
		h.client, err = h.app.client(wechat.Config{AppID: h.AppID, AppSecret: secret, APIBase: apiBase, OpenBase: openBase,
			Observe: observeAPI})
		if err != nil {
			return fmt.Errorf("api_base/open_base: %v", err)
		}
	}
	if err := h.provisionDesktop(repl, apiBase, openBase); err != nil {
		return err
	}
	h.app.announceSessionTTL(h.AppID, time.Duration(h.SessionTTL))

	pairs, err := h.expandKeys(repl)
	if err != nil {
		return err
	}
	if h.relay, err = h.provisionRelay(repl); err != nil {
		return err
	}
	h.ttl = time.Duration(h.SessionTTL)
	h.sessions = newCookieCodec(pairs, h.ttl)
	h.flows = newCookieCodec(pairs, flowTTL)
	h.flowPrefix = h.CookieName + "_flow_"
	h.endpointPath = h.PathPrefix + "/"
	h.names = newHeaderNames(h.HeaderPrefix)
	// No janitor goroutine: expired entries are dropped when the cache fills
	// (see remember), so a config reload leaves nothing running behind.
	h.memo = cache.New(memoTTL, 0)
	h.memoMax = memoMaxEntries

	if h.SubscriberInfo || h.RequireSubscribe {
		ttl := time.Duration(h.SubscriberTTL)
		if ttl <= 0 {
			ttl = defaultSubscriberTTL
		}
		h.followers = newFollowers(h.client, ttl, h.now, h.logger)
	}

	h.rules, _ = parseDomainRules("redirect_domains", h.RedirectDomains) // Validate checked each
	h.provisionJSSDK()
	if err := h.provisionAssertion(repl); err != nil {
		return err
	}

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

// Cleanup drops the verified-cookie cache of an unloaded config.
func (h *Handler) Cleanup() error {
	if h.memo != nil {
		h.memo.Flush()
	}
	if h.followers != nil {
		h.followers.cache.Flush()
	}
	return nil
}
