package wechatauth

import (
	"context"
	"errors"

	"github.com/caddyserver/caddy/v2"
)

// What the external tests ask the running Caddy's third-party platform:
// what its receiver stored, and a component_access_token.

func activeComponent() (*component, error) {
	v, err := caddy.ActiveContext().AppIfConfigured("wechat")
	if err != nil {
		return nil, err
	}
	a, ok := v.(*App)
	if !ok || a.component == nil {
		return nil, errors.New("the running config has no wechat component")
	}
	return a.component, nil
}

// ComponentTicketForTest is the ticket the running platform has stored.
func ComponentTicketForTest(ctx context.Context) (string, error) {
	c, err := activeComponent()
	if err != nil {
		return "", err
	}
	t, _, err := c.storedTicket(ctx)
	return t, err
}

// ComponentAuthorizedForTest reports whether the running platform counts
// appID as authorized.
func ComponentAuthorizedForTest(ctx context.Context, appID string) (bool, error) {
	c, err := activeComponent()
	if err != nil {
		return false, err
	}
	return c.authorized(ctx, appID)
}

// ComponentAccessTokenForTest asks the running platform for its token.
func ComponentAccessTokenForTest(ctx context.Context) (string, error) {
	c, err := activeComponent()
	if err != nil {
		return "", err
	}
	return c.accessToken(ctx)
}
