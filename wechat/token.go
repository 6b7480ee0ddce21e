package wechat

import (
	"context"
	"errors"
	"time"

	"github.com/patrickmn/go-cache"
)

const basicTokenKey = "basic"

// cachedToken is the basic access_token and when we stop using it.
type cachedToken struct {
	token   string
	useTill time.Time
}

type stableTokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// BasicToken returns the account's basic (non-web) access_token. It comes from
// cgi-bin/stable_token, which hands every replica the same token, so replicas never
// log each other out as cgi-bin/token would. The token is cached until 5 minutes
// (or 10% of its life, if shorter) before it expires; concurrent callers share one fetch.
func (c *Client) BasicToken(ctx context.Context) (string, error) {
	if tok, ok := c.cachedBasicToken(); ok {
		return tok, nil
	}
	// The fetch runs detached from the first caller's context, so one impatient
	// caller cannot fail the others waiting on the same fetch.
	ch := c.flight.DoChan(basicTokenKey, func() (any, error) {
		if tok, ok := c.cachedBasicToken(); ok {
			return tok, nil
		}
		return c.fetchBasicToken(context.WithoutCancel(ctx))
	})
	select {
	case <-ctx.Done():
		return "", &RequestError{Op: pathStableToken, Err: ctx.Err()}
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	}
}

func (c *Client) cachedBasicToken() (string, bool) {
	v, ok := c.tokens.Get(basicTokenKey)
	if !ok {
		return "", false
	}
	ct := v.(cachedToken)
	if !c.now().Before(ct.useTill) {
		return "", false
	}
	return ct.token, true
}

func (c *Client) fetchBasicToken(ctx context.Context) (string, error) {
	body, err := jsonBody(map[string]any{
		"grant_type": "client_credential", "appid": c.cfg.AppID,
		"secret": c.cfg.AppSecret, "force_refresh": false,
	})
	if err != nil {
		return "", err
	}
	var res stableTokenResponse
	// Safe to retry: without force_refresh every call returns the same token.
	err = c.do(ctx, request{op: pathStableToken, method: "POST", body: body, retry: true,
		secrets: []string{c.cfg.AppSecret}}, &res)
	if err != nil {
		return "", err
	}
	if res.AccessToken == "" || res.ExpiresIn <= 0 {
		return "", &RequestError{Op: pathStableToken,
			Err: errors.New("response has no access_token or expires_in; check APIBase")}
	}
	life := time.Duration(res.ExpiresIn) * time.Second
	margin := min(5*time.Minute, life/10)
	c.tokenMu.Lock()
	c.tokens.Set(basicTokenKey, cachedToken{token: res.AccessToken, useTill: c.now().Add(life - margin)}, cache.NoExpiration)
	c.tokenMu.Unlock()
	return res.AccessToken, nil
}

// InvalidateBasicToken drops the cached basic token, but only if it still equals
// token, so a caller holding a stale token cannot evict a fresh one another caller
// just fetched.
func (c *Client) InvalidateBasicToken(token string) {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if v, ok := c.tokens.Get(basicTokenKey); ok && v.(cachedToken).token == token {
		c.tokens.Delete(basicTokenKey)
	}
}

// withBasicToken runs call with the basic token; when WeChat rejects the token as
// invalid or expired (another process may have force-refreshed it) it drops it,
// fetches a new one and runs call once more.
func (c *Client) withBasicToken(ctx context.Context, call func(token string) error) error {
	tok, err := c.BasicToken(ctx)
	if err != nil {
		return err
	}
	err = call(tok)
	if code := Code(err); code != 40001 && code != 42001 {
		return err
	}
	c.InvalidateBasicToken(tok)
	if tok, err = c.BasicToken(ctx); err != nil {
		return err
	}
	return call(tok)
}
