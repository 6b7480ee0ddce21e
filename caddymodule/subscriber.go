package wechatauth

import (
	"context"
	"time"

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
	logger *zap.Logger
}

type followerEntry struct {
	subscribed bool
	// unionID is the follower's unionid from cgi-bin/user/info (accounts bound
	// to an Open Platform account), shared read-only by the requests that
	// forward it; nil otherwise. It is the one source of a snsapi_base
	// visitor's unionid: the code exchange sends it only for snsapi_userinfo.
	unionID []string
	err     error // the lookup failed; cached for failedLookupTTL only
	fetched time.Time
	forced  bool // fetched by a cache bypass
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
	// failedLookupTTL holds a failed lookup back: during a WeChat outage a
	// busy page must not call WeChat, and log, on every request.
	failedLookupTTL = 15 * time.Second
)

func newFollowers(c *wechat.Client, ttl time.Duration, now func() time.Time, logger *zap.Logger) *followers {
	return &followers{client: c, cache: cache.New(ttl, 0), ttl: ttl, now: now, logger: logger}
}

// subscribed reports whether openID follows the account, and the follower's
// unionid if WeChat gave one. fresh bypasses the cache (after the visitor says
// they have just followed), but not more often than once per minRecheck.
func (f *followers) subscribed(ctx context.Context, openID string, fresh bool) (bool, []string, error) {
	if x, ok := f.cache.Get(openID); ok {
		e := x.(followerEntry)
		if !fresh || (e.forced && f.now().Sub(e.fetched) < minRecheck) {
			procMetrics.followerLookup(lookupCacheHit)
			return e.subscribed, e.unionID, e.err
		}
	}
	v, err, _ := f.group.Do(openID, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), followerLookupTimeout)
		defer cancel()
		info, err := f.client.Follower(ctx, openID, "zh_CN")
		if err != nil {
			if ce := f.logger.Check(zap.WarnLevel, "follower lookup failed; answers for this visitor wait 15s before WeChat is asked again"); ce != nil {
				ce.Write(zap.Int("errcode", wechat.Code(err)), zap.Error(err))
			}
			f.store(openID, followerEntry{err: err, fetched: f.now(), forced: fresh}, failedLookupTTL)
			procMetrics.followerLookup(lookupError)
			return followerEntry{}, err
		}
		e := followerEntry{subscribed: info.Subscribed(), fetched: f.now(), forced: fresh}
		if info.Subscribed() && validWeChatID(info.UnionID) {
			e.unionID = []string{info.UnionID}
		}
		if e.subscribed {
			procMetrics.followerLookup(lookupFollower)
		} else {
			procMetrics.followerLookup(lookupNotFollower)
		}
		f.store(openID, e, f.ttl)
		return e, nil
	})
	if err != nil {
		return false, nil, err
	}
	e := v.(followerEntry)
	return e.subscribed, e.unionID, nil
}

// store caches an answer, within followersMaxEntries.
func (f *followers) store(openID string, e followerEntry, ttl time.Duration) {
	if f.cache.ItemCount() >= followersMaxEntries {
		f.cache.DeleteExpired()
	}
	if f.cache.ItemCount() < followersMaxEntries {
		f.cache.Set(openID, e, ttl)
	}
}
