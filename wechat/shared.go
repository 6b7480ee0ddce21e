package wechat

import (
	"context"
	"time"
)

// SharedCredentials lets the replicas of one deployment share an account's
// short-lived credentials (the basic access_token, the jsapi_ticket) and
// decide together when the basic token must be force-refreshed. Without it
// a Client caches for its own process and never force-refreshes.
type SharedCredentials interface {
	// Credential returns a credential another replica (or this one) fetched,
	// and how much longer it may be used; ok is false when there is none.
	Credential(ctx context.Context, key string) (value string, usable time.Duration, ok bool)
	// SetCredential offers a fresh credential to the other replicas for as
	// long as it may be used.
	SetCredential(ctx context.Context, key, value string, usable time.Duration)
	// AllowForceRefresh reports whether this replica may force-refresh the
	// basic token now: at most one replica per account per 30 s, within
	// WeChat's daily budget of 20 (docs/wechat.md §4). wait is true when another
	// replica holds that right, so its new token is worth waiting for.
	AllowForceRefresh(ctx context.Context) (allowed, wait bool)
}

// sharedTimeout bounds a call to SharedCredentials: they stand in for a
// WeChat call, never hold one up for long.
const sharedTimeout = 2 * time.Second

// renewWait and renewPoll bound how long a replica that may not force a
// refresh waits for the one that does.
const (
	renewWait = 3 * time.Second
	renewPoll = 50 * time.Millisecond
)

// fromShared returns key's credential from the shared cache, caching it here
// too, when one is there and usable.
func (c *Client) fromShared(ctx context.Context, key string) (string, bool) {
	if c.cfg.Shared == nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	v, usable, ok := c.cfg.Shared.Credential(ctx, key)
	if !ok || v == "" || usable <= 0 {
		return "", false
	}
	c.keep(key, v, c.now().Add(usable))
	return v, true
}

// toShared offers a credential this replica fetched to the others.
func (c *Client) toShared(key, value string, useTill time.Time) {
	if c.cfg.Shared == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	c.cfg.Shared.SetCredential(ctx, key, value, useTill.Sub(c.now()))
}

// renewBasicToken replaces a basic token WeChat rejected. A normal fetch
// from WeChat (stable_token hands out the token some other process may have
// force-refreshed) comes first; only when it returns the very token WeChat
// rejected, and the shared limiter lets this replica, is it force-refreshed.
// Other replicas then get the new token from the shared cache or from
// stable_token, without forcing again.
func (c *Client) renewBasicToken(ctx context.Context, rejected string) (string, error) {
	v, err, _ := c.flight.Do(basicTokenKey, func() (any, error) {
		if tok, ok := c.cached(basicTokenKey); ok && tok != rejected {
			return tok, nil
		}
		if tok, ok := c.fromShared(ctx, basicTokenKey); ok && tok != rejected {
			return tok, nil
		}
		tok, err := c.fetchBasicToken(ctx, false)
		if err != nil || tok != rejected || c.cfg.Shared == nil {
			return tok, err
		}
		sctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		allowed, wait := c.cfg.Shared.AllowForceRefresh(sctx)
		cancel()
		if !allowed && wait {
			return c.awaitRenewed(ctx, rejected)
		}
		if !allowed {
			return tok, nil
		}
		return c.fetchBasicToken(ctx, true)
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// awaitRenewed waits for the replica that won the right to force-refresh to
// share the new token, then asks stable_token once more in any case.
func (c *Client) awaitRenewed(ctx context.Context, rejected string) (string, error) {
	t := time.NewTicker(renewPoll)
	defer t.Stop()
	for deadline := time.Now().Add(renewWait); time.Now().Before(deadline); { // real time: a test clock may stand still
		select {
		case <-ctx.Done():
			return "", &RequestError{Op: pathStableToken, Err: ctx.Err()}
		case <-t.C:
		}
		if tok, ok := c.fromShared(ctx, basicTokenKey); ok && tok != rejected {
			return tok, nil
		}
	}
	return c.fetchBasicToken(ctx, false)
}
