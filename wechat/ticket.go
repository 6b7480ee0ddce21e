package wechat

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/patrickmn/go-cache"
)

const ticketKey = "jsapi_ticket"

type ticketResponse struct {
	Ticket    string `json:"ticket"`
	ExpiresIn int    `json:"expires_in"`
}

// JSAPITicket returns the account's jsapi_ticket for signing wx.config
// (WECHAT.md §9). getticket calls are limited per day, so the ticket is cached
// like the basic token: until 5 minutes (or 10% of its life) before it
// expires, with concurrent callers sharing one fetch. The fetch takes the
// basic token through the same path as every basic-token call, so a token
// WeChat rejects is refetched once. The ticket is a secret of the server:
// it never belongs in a page, a log line or an error.
func (c *Client) JSAPITicket(ctx context.Context) (string, error) {
	if t, ok := c.cached(ticketKey); ok {
		return t, nil
	}
	ch := c.flight.DoChan(ticketKey, func() (any, error) {
		if t, ok := c.cached(ticketKey); ok {
			return t, nil
		}
		return c.fetchTicket(context.WithoutCancel(ctx))
	})
	select {
	case <-ctx.Done():
		return "", &RequestError{Op: pathTicket, Err: ctx.Err()}
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	}
}

func (c *Client) fetchTicket(ctx context.Context) (string, error) {
	var res ticketResponse
	err := c.doBasic(ctx, request{op: pathTicket, method: "GET", retry: true,
		query: url.Values{"type": {"jsapi"}}}, &res)
	if err != nil {
		return "", err
	}
	if res.Ticket == "" || res.ExpiresIn <= 0 {
		return "", &RequestError{Op: pathTicket, Err: errors.New("response has no ticket or expires_in; check APIBase")}
	}
	c.store(ticketKey, res.Ticket, res.ExpiresIn)
	return res.Ticket, nil
}

// InvalidateJSAPITicket drops the cached jsapi_ticket if it still equals
// ticket (a page reported "invalid signature" although the signature was
// computed correctly), so the next JSAPITicket fetches a new one.
func (c *Client) InvalidateJSAPITicket(ticket string) { c.invalidate(ticketKey, ticket) }

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
func (c *Client) store(key, value string, expiresIn int) {
	life := time.Duration(expiresIn) * time.Second
	margin := min(5*time.Minute, life/10)
	c.tokenMu.Lock()
	c.tokens.Set(key, cachedToken{token: value, useTill: c.now().Add(life - margin)}, cache.NoExpiration)
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
