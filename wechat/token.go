package wechat

import (
	"context"
	"errors"
	"net/url"
)

const basicTokenKey = "basic"

type stableTokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// BasicToken returns the account's basic (non-web) access_token. It comes from
// cgi-bin/stable_token, which hands every replica the same token, so replicas never
// log each other out as cgi-bin/token would. The token is cached until 5 minutes
// (or 10% of its life, if shorter) before it expires; concurrent callers share one fetch.
func (c *Client) BasicToken(ctx context.Context) (string, error) {
	return c.cachedOrFetch(ctx, basicTokenKey, pathStableToken, func(ctx context.Context) (string, error) {
		return c.fetchBasicToken(ctx, false)
	})
}

// ForceRefreshBasicToken asks cgi-bin/stable_token for a new token with
// force_refresh:true, caches it and returns it. WeChat allows 20 a day, 30 s
// apart (otherwise it answers with the current token), and a force refresh
// invalidates the token every replica holds: call it only where one replica
// decides for all, under a shared rate limit, never as the reflex of each
// replica to a 40001 (docs/wechat.md §4). This package force-refreshes only
// through Config.Shared's limiter (see renewBasicToken).
func (c *Client) ForceRefreshBasicToken(ctx context.Context) (string, error) {
	// Shares the flight of normal fetches, so a concurrent BasicToken waits
	// for the forced token instead of fetching the one about to be replaced.
	v, err, _ := c.flight.Do(basicTokenKey, func() (any, error) {
		return c.fetchBasicToken(ctx, true)
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (c *Client) fetchBasicToken(ctx context.Context, force bool) (string, error) {
	body, err := jsonBody(map[string]any{
		"grant_type": "client_credential", "appid": c.cfg.AppID,
		"secret": c.cfg.AppSecret, "force_refresh": force,
	})
	if err != nil {
		return "", err
	}
	var res stableTokenResponse
	// Safe to retry in normal mode: every call returns the same token. A
	// forced refresh is not repeated: each one counts against 20 a day.
	err = c.do(ctx, request{op: pathStableToken, method: "POST", body: body, retry: !force}, &res)
	if err != nil {
		return "", err
	}
	if res.AccessToken == "" || res.ExpiresIn <= 0 {
		return "", &RequestError{Op: pathStableToken,
			Err: errors.New("response has no access_token or expires_in; check api_base")}
	}
	c.store(basicTokenKey, res.AccessToken, res.ExpiresIn)
	return res.AccessToken, nil
}

// InvalidateBasicToken drops the cached basic token, but only if it still equals
// token, so a caller holding a stale token cannot evict a fresh one another caller
// just fetched.
func (c *Client) InvalidateBasicToken(token string) { c.invalidate(basicTokenKey, token) }

// withBasicToken runs call with the basic token; when WeChat rejects the token
// (IsTokenInvalid: another process may have force-refreshed it, or it expired)
// it drops it, fetches one in normal mode and runs call once more. It
// force-refreshes only through renewBasicToken's shared limiter (Config.Shared):
// each replica doing so by reflex would log the others out (docs/wechat.md §4).
func (c *Client) withBasicToken(ctx context.Context, call func(token string) error) error {
	tok, err := c.BasicToken(ctx)
	if err != nil {
		return err
	}
	err = call(tok)
	if !IsTokenInvalid(err) {
		return err
	}
	c.InvalidateBasicToken(tok)
	if tok, err = c.renewBasicToken(ctx, tok); err != nil {
		return err
	}
	return call(tok)
}

// doBasic runs r, an API call that takes the basic access_token, through
// withBasicToken: the token is added to r's query for each attempt.
func (c *Client) doBasic(ctx context.Context, r request, out any) error {
	base := r.query
	return c.withBasicToken(ctx, func(token string) error {
		q := make(url.Values, len(base)+1)
		for k, v := range base {
			q[k] = v
		}
		q.Set("access_token", token)
		r.query = q
		return c.do(ctx, r, out)
	})
}
