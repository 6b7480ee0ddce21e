package wechatauth

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/patrickmn/go-cache"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// followers knows whether visitors follow the account (关注公众号), from
// cgi-bin/user/info with the basic access_token. Answers are cached per
// openid so a hot page costs no WeChat call, and concurrent requests for one
// openid share one call.
type followers struct {
	client *wechat.Client
	cache  *cache.Cache // openid → followerEntry
	group  singleflight.Group
	ttl    time.Duration
	now    func() time.Time
}

type followerEntry struct {
	subscribed bool
	fetched    time.Time
	forced     bool // fetched by a cache bypass
}

const (
	defaultSubscriberTTL = 5 * time.Minute
	// followerLookupTimeout bounds a lookup on a page request.
	followerLookupTimeout = 5 * time.Second
	// minRecheck is the shortest interval between two cache-bypassing
	// lookups of one openid ("我已关注" pressed repeatedly).
	minRecheck = 3 * time.Second
	// followersMaxEntries bounds the cache like the session memo.
	followersMaxEntries = 50000
)

var (
	subscribedYes = []string{"1"}
	subscribedNo  = []string{"0"}
)

func newFollowers(c *wechat.Client, ttl time.Duration, now func() time.Time) *followers {
	return &followers{client: c, cache: cache.New(ttl, 0), ttl: ttl, now: now}
}

// subscribed reports whether openID follows the account. fresh bypasses the
// cache (after the visitor says they have just followed), but not more often
// than once per minRecheck.
func (f *followers) subscribed(ctx context.Context, openID string, fresh bool) (bool, error) {
	if x, ok := f.cache.Get(openID); ok {
		e := x.(followerEntry)
		if !fresh || (e.forced && f.now().Sub(e.fetched) < minRecheck) {
			return e.subscribed, nil
		}
	}
	v, err, _ := f.group.Do(openID, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), followerLookupTimeout)
		defer cancel()
		info, err := f.client.Follower(ctx, openID, "zh_CN")
		if err != nil {
			return false, err
		}
		e := followerEntry{subscribed: info.Subscribed(), fetched: f.now(), forced: fresh}
		if f.cache.ItemCount() >= followersMaxEntries {
			f.cache.DeleteExpired()
		}
		if f.cache.ItemCount() < followersMaxEntries {
			f.cache.Set(openID, e, f.ttl)
		}
		return e.subscribed, nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// applyFollower adds follower status to a request with a verified identity.
// It reports false when it answered the request itself: a non-follower on a
// require_subscribe site, or WeChat unreachable when the status is required.
// Without require_subscribe a failed lookup only leaves the header out.
func (h *Handler) applyFollower(w http.ResponseWriter, r *http.Request, id *identity) bool {
	sub, err := h.followers.subscribed(r.Context(), id.sess.OpenID, false)
	if err != nil {
		h.logger.Warn("follower lookup failed", zap.Int("errcode", wechat.Code(err)), zap.Error(err))
		if !h.RequireSubscribe {
			return true
		}
		if isAPIRequest(r) {
			writeJSONError(w, http.StatusServiceUnavailable, "wechat_unavailable", "WeChat did not answer whether you follow the account; retry in a moment", "")
			return false
		}
		writeWeChatDown(w, r.URL.RequestURI())
		return false
	}
	vals, ph := subscribedNo, "0"
	if sub {
		vals, ph = subscribedYes, "1"
	}
	r.Header[h.names.subscribed] = vals
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.subscribed", ph)
	}
	if sub || !h.RequireSubscribe {
		return true
	}
	if isAPIRequest(r) {
		writeJSONError(w, http.StatusForbidden, "not_subscribed", "follow the Official Account in WeChat, then retry", "")
		return false
	}
	site, err := h.siteOrigin(r)
	if err != nil {
		writeBadHost(w)
		return false
	}
	writePage(w, http.StatusForbidden, "subscribe", page{
		Title:     "请先关注公众号",
		QRImage:   h.SubscribeQR,
		ActionURL: h.PathPrefix + "/subscribed?rd=" + url.QueryEscape(safeReturnURL(r.URL.RequestURI(), site, h.rules)),
	})
	return false
}

// serveSubscribed is the "我已关注" button: it checks again with WeChat,
// bypassing the cache, and returns to the page.
func (h *Handler) serveSubscribed(w http.ResponseWriter, r *http.Request) {
	site, err := h.siteOrigin(r)
	if err != nil {
		writeBadHost(w)
		return
	}
	ret := safeReturnURL(r.URL.Query().Get("rd"), site, h.rules)
	id := h.identityFrom(r)
	if id == nil || h.followers == nil {
		redirect(w, r, ret)
		return
	}
	if _, err := h.followers.subscribed(r.Context(), id.sess.OpenID, true); err != nil {
		h.logger.Warn("follower lookup failed", zap.Int("errcode", wechat.Code(err)), zap.Error(err))
		writeWeChatDown(w, r.URL.RequestURI())
		return
	}
	redirect(w, r, ret)
}
