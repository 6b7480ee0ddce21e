package wechatauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// The component_access_token is shared by every replica: each new token
// WeChat hands out may end the previous one early (docs/wechat.md §6), so
// exactly one replica fetches it per expiry. The first replica to find the
// stored token missing or about to expire claims the refresh in the store
// and fetches; the others wait for the token it stores.

const (
	// componentTokenAhead is how long before its expiry a token is
	// replaced ("在令牌快过期时(比如1小时50分),重新调用接口获取").
	componentTokenAhead = 10 * time.Minute
	// componentRefreshClaim is how long a replica holds the right to
	// fetch: a fetch that failed keeps the others from retrying at once
	// (a 61004 stays a 61004), and a crashed refresher is replaced after it.
	componentRefreshClaim = 15 * time.Second
	// componentTokenWait bounds how long a request waits for a token.
	componentTokenWait = 10 * time.Second
	// componentTokenPoll spaces the looks of a replica waiting for another
	// one's token.
	componentTokenPoll = 50 * time.Millisecond
)

// errNoTicket means no component_verify_ticket has arrived (or the last one
// expired): WeChat has not pushed to the receiver yet, or cannot reach it.
var errNoTicket = errors.New("no component_verify_ticket has been received in the last 12 hours: check that the Open Platform console's 授权事件接收URL points at this gateway's wechat_component_events route and that WeChat's pushes reach it (they come every 10 minutes)")

// accessToken returns a component_access_token usable for a while yet,
// from this process's copy, the store or WeChat.
func (c *component) accessToken(ctx context.Context) (string, error) {
	if tok, ok := c.cachedToken(); ok {
		return tok, nil
	}
	c.fetchMu.Lock() // one look at a time per process; the store serialises replicas
	defer c.fetchMu.Unlock()
	if tok, ok := c.cachedToken(); ok {
		return tok, nil
	}
	ctx, cancel := context.WithTimeout(ctx, componentTokenWait)
	defer cancel()
	t := time.NewTicker(componentTokenPoll)
	defer t.Stop()
	for {
		if tok, ok := c.tokenFromStore(ctx); ok {
			return tok, nil
		}
		won, err := c.store.Claim(ctx, c.storeKey("token_refresh"), []byte{1}, componentRefreshClaim)
		if err != nil {
			return "", fmt.Errorf("wechat component: the store could not be asked for the component_access_token: %w", err)
		}
		if won {
			tok, err := c.fetchToken(ctx)
			if errors.Is(err, errNoTicket) {
				// No WeChat call was made: the first push may come any moment.
				_ = c.store.Delete(ctx, c.storeKey("token_refresh"))
			} else if err != nil {
				// The others stop waiting and say the same, until the claim ends.
				_ = c.store.Set(ctx, c.storeKey("token_error"), []byte(err.Error()), componentRefreshClaim)
			}
			return tok, err
		}
		if v, _ := c.store.Get(ctx, c.storeKey("token_error")); v != nil {
			return "", fmt.Errorf("wechat component: the last fetch of the component_access_token failed: %s", v)
		}
		select {
		case <-ctx.Done():
			return "", errors.New("wechat component: another replica is fetching the component_access_token and has not stored one; see that replica's log (api_component_token)")
		case <-t.C:
		}
	}
}

// cachedToken is this process's copy, while usable.
func (c *component) cachedToken() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.usable) {
		return c.token, true
	}
	return "", false
}

func (c *component) keepToken(tok string, usable time.Time) {
	c.mu.Lock()
	c.token, c.usable = tok, usable
	c.mu.Unlock()
}

// tokenFromStore reads the shared token; ok only while it is usable.
func (c *component) tokenFromStore(ctx context.Context) (string, bool) {
	k := c.storeKey("token")
	v, err := c.store.Get(ctx, k)
	if err != nil || v == nil {
		return "", false
	}
	ms, tok, ok := c.open(k, v)
	usable := time.UnixMilli(ms)
	if !ok || tok == "" || !c.now().Before(usable) {
		return "", false
	}
	c.keepToken(tok, usable)
	return tok, true
}

// fetchToken asks WeChat for a token with the stored ticket and stores it.
// A ticket WeChat calls expired or invalid (61005/61006) is tried once more
// when a newer ticket arrived meanwhile.
func (c *component) fetchToken(ctx context.Context) (string, error) {
	var tried string
	for {
		ticket, _, err := c.storedTicket(ctx)
		if err != nil {
			return "", fmt.Errorf("wechat component: reading the component_verify_ticket from the store: %w", err)
		}
		if ticket == "" {
			c.logger.Error("cannot fetch the component_access_token", zap.String("component_app_id", c.appID), zap.Error(errNoTicket))
			return "", fmt.Errorf("wechat component: %w", errNoTicket)
		}
		got := c.now()
		t, err := c.client.ComponentAccessToken(ctx, ticket)
		if err == nil {
			return c.storeToken(ctx, t, got), nil
		}
		if !wechat.IsTicketRejected(err) || tried != "" {
			c.logComponentTokenError(err)
			return "", err
		}
		tried = ticket
		if newer, _, _ := c.storedTicket(ctx); newer == tried {
			c.logComponentTokenError(err)
			return "", err
		}
	}
}

// storeToken keeps a fetched token here and in the store, for use until
// componentTokenAhead before it expires, and frees the refresh for the
// next expiry.
func (c *component) storeToken(ctx context.Context, t *wechat.ComponentToken, got time.Time) string {
	life := time.Duration(t.ExpiresIn) * time.Second
	usable := got.Add(life - min(componentTokenAhead, life/2))
	k := c.storeKey("token")
	if err := c.store.Set(ctx, k, c.seal(k, usable.UnixMilli(), t.AccessToken), life); err != nil {
		c.logger.Warn("the component_access_token could not be stored for the other replicas; they will wait for it", zap.Error(err))
	}
	_ = c.store.Delete(ctx, c.storeKey("token_refresh"))
	c.keepToken(t.AccessToken, usable)
	c.logger.Info("fetched a component_access_token", zap.String("component_app_id", c.appID), zap.Time("use_until", usable))
	return t.AccessToken
}

// logComponentTokenError tells the operator what to fix: the errors of
// wechat carry the errcode and its hint (61004: the platform's IP
// whitelist; 61005/61006: the ticket), never the secret or the ticket.
func (c *component) logComponentTokenError(err error) {
	msg := "cannot fetch the component_access_token"
	switch wechat.Code(err) {
	case 61004:
		msg = "WeChat refused this server's IP for the platform (61004): add it to the Open Platform console → 第三方平台 → 开发资料 → 白名单IP"
	case 61005, 61006:
		msg = "WeChat refused the component_verify_ticket (61005 expired / 61006 invalid): the gateway waits for the next push; if none comes, check the 授权事件接收URL"
	case 40125, 41004, 61011:
		msg = "WeChat refused the platform's credentials: check the wechat component app_id and app_secret"
	}
	c.logger.Error(msg, zap.String("component_app_id", c.appID), zap.Error(err))
}

// dropToken forgets tok after WeChat rejected it (40001/42001: a newer one
// was fetched elsewhere, or it expired early): here, and in the store when
// the store still holds it, so the next ask fetches or reads a fresh one.
func (c *component) dropToken(ctx context.Context, tok string) {
	c.mu.Lock()
	if c.token == tok {
		c.token = ""
	}
	c.mu.Unlock()
	k := c.storeKey("token")
	if v, err := c.store.Get(ctx, k); err == nil && v != nil {
		if _, stored, ok := c.open(k, v); ok && stored == tok {
			_ = c.store.Delete(ctx, k)
		}
	}
	c.logger.Warn("WeChat rejected the component_access_token before its time; fetching a new one", zap.String("component_app_id", c.appID))
}
