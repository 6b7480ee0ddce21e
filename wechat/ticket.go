package wechat

import (
	"context"
	"errors"
	"net/url"
)

const ticketKey = "jsapi_ticket"

type ticketResponse struct {
	Ticket    string `json:"ticket"`
	ExpiresIn int    `json:"expires_in"`
}

// JSAPITicket returns the account's jsapi_ticket for signing wx.config
// (docs/wechat.md §9). getticket calls are limited per day, so the ticket is cached
// like the basic token: until 5 minutes (or 10% of its life) before it
// expires, with concurrent callers sharing one fetch. The fetch takes the
// basic token through the same path as every basic-token call, so a token
// WeChat rejects is refetched once. The ticket is a secret of the server:
// it never belongs in a page, a log line or an error.
func (c *Client) JSAPITicket(ctx context.Context) (string, error) {
	return c.cachedOrFetch(ctx, ticketKey, pathTicket, c.fetchTicket)
}

func (c *Client) fetchTicket(ctx context.Context) (string, error) {
	var res ticketResponse
	err := c.doBasic(ctx, request{op: pathTicket, method: "GET", retry: true,
		query: url.Values{"type": {"jsapi"}}}, &res)
	if err != nil {
		return "", err
	}
	if res.Ticket == "" || res.ExpiresIn <= 0 {
		return "", &RequestError{Op: pathTicket, Err: errors.New("response has no ticket or expires_in; check api_base")}
	}
	c.store(ticketKey, res.Ticket, res.ExpiresIn)
	return res.Ticket, nil
}

// InvalidateJSAPITicket drops the cached jsapi_ticket if it still equals
// ticket (a page reported "invalid signature" although the signature was
// computed correctly), so the next JSAPITicket fetches a new one.
func (c *Client) InvalidateJSAPITicket(ticket string) { c.invalidate(ticketKey, ticket) }
