package wechat

import (
	"context"
	"time"

	"github.com/patrickmn/go-cache"
)

// The cache of short-lived credentials (the basic access_token, the
// jsapi_ticket): one fetch at a time, reused until shortly before expiry,
// dropped only by whoever holds the current value.

// cachedToken is a cached credential and when we stop using it.
type cachedToken struct {
	token   string
	useTill time.Time
}

// cachedOrFetch returns the value cached under key, or fetches it with
// concurrent callers sharing one fetch. The fetch runs detached from the first
// caller's context, so one impatient caller cannot fail the others waiting on
// it; a caller giving up gets a *RequestError for op.
func (c *Client) cachedOrFetch(ctx context.Context, key, op string, fetch func(context.Context) (string, error)) (string, error) {
	if v, ok := c.cached(key); ok {
		return v, nil
	}
	ch := c.flight.DoChan(key, func() (any, error) {
		if v, ok := c.cached(key); ok {
			return v, nil
		}
		if v, ok := c.fromShared(ctx, key); ok {
			return v, nil
		}
		return fetch(context.WithoutCancel(ctx))
	})
	select {
	case <-ctx.Done():
		return "", &RequestError{Op: op, Err: ctx.Err()}
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	}
}

// cached returns the value cached under key while it is still to be used.
func (c *Client) cached(key string) (string, bool) {
	v, ok := c.tokens.Get(key)
	if !ok {
		return "", false
	}
	ct := v.(cachedToken)
	if !c.now().Before(ct.useTill) {
		return "", false
	}
	return ct.token, true
}

// store caches value under key for its life of expiresIn seconds, less a
// margin of 5 minutes (or 10% of the life, if shorter).
// The value is offered to the other replicas too (Config.Shared).
func (c *Client) store(key, value string, expiresIn int) {
	life := time.Duration(expiresIn) * time.Second
	margin := min(5*time.Minute, life/10)
	useTill := c.now().Add(life - margin)
	c.keep(key, value, useTill)
	c.toShared(key, value, useTill)
}

// keep caches value under key until useTill.
func (c *Client) keep(key, value string, useTill time.Time) {
	c.tokenMu.Lock()
	c.tokens.Set(key, cachedToken{token: value, useTill: useTill}, cache.NoExpiration)
	c.tokenMu.Unlock()
}

// invalidate drops key's value, but only if it still equals value, so a
// caller holding a stale value cannot evict a fresh one another caller just
// fetched.
func (c *Client) invalidate(key, value string) {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if v, ok := c.tokens.Get(key); ok && v.(cachedToken).token == value {
		c.tokens.Delete(key)
	}
}
