package wechat

import (
	"context"
	"errors"
	"net/url"
	"strings"
)

// AuthorizeOptions adds WeChat's optional authorize parameters.
type AuthorizeOptions struct {
	// ForcePopup forces the consent popup even where WeChat would authorize silently.
	ForcePopup bool
	// ForceSnapShot forces the snapshot-page logic (快照页); the identity obtained is virtual.
	ForceSnapShot bool
}

// AuthorizeURL builds the authorize page URL the browser is redirected to. WeChat
// matches the link against a strict pattern, so the order is fixed: appid,
// redirect_uri, response_type=code, scope, state, the options, then #wechat_redirect.
func (c *Client) AuthorizeURL(redirectURI, scope, state string, opts AuthorizeOptions) string {
	b := c.connectURL("/connect/oauth2/authorize", redirectURI, scope, state)
	if opts.ForcePopup {
		b.WriteString("&forcePopup=true")
	}
	if opts.ForceSnapShot {
		b.WriteString("&forceSnapShot=true")
	}
	b.WriteString("#wechat_redirect")
	return b.String()
}

// connectURL starts an open.weixin.qq.com page URL in WeChat's fixed order:
// appid, redirect_uri, response_type=code, scope, state.
func (c *Client) connectURL(path, redirectURI, scope, state string) *strings.Builder {
	return c.connectURLFor(c.cfg.AppID, path, redirectURI, scope, state)
}

// connectURLFor is connectURL for another account's appid: a third-party
// platform authorizes on behalf of its authorizers.
func (c *Client) connectURLFor(appID, path, redirectURI, scope, state string) *strings.Builder {
	b := new(strings.Builder)
	b.WriteString(c.openBase)
	b.WriteString(path)
	b.WriteString("?appid=")
	b.WriteString(url.QueryEscape(appID))
	b.WriteString("&redirect_uri=")
	b.WriteString(url.QueryEscape(redirectURI))
	b.WriteString("&response_type=code&scope=")
	b.WriteString(url.QueryEscape(scope))
	b.WriteString("&state=")
	b.WriteString(url.QueryEscape(state))
	return b
}

// Token is a web (网页授权) access_token as sns/oauth2/access_token and
// sns/oauth2/refresh_token return it.
type Token struct {
	AccessToken    string `json:"access_token"`
	ExpiresIn      int    `json:"expires_in"`
	RefreshToken   string `json:"refresh_token"`
	OpenID         string `json:"openid"`
	Scope          string `json:"scope"`
	IsSnapshotUser int    `json:"is_snapshotuser,omitempty"`
	UnionID        string `json:"unionid,omitempty"`
}

// Snapshot reports a snapshot-page (快照页) virtual user: its openid, unionid and
// profile are not the real user's, so no session or binding may be made for it.
func (t *Token) Snapshot() bool { return t != nil && t.IsSnapshotUser == 1 }

// ExchangeCode redeems an authorization code for a web access_token. It is never
// retried: a code is single-use, so repeating a request whose answer was lost
// would only earn 40163.
func (c *Client) ExchangeCode(ctx context.Context, code string) (*Token, error) {
	if code == "" {
		return nil, errors.New("wechat: code is empty: the callback had no code (the user may have declined)")
	}
	var t Token
	err := c.do(ctx, request{
		op: pathCodeToken, method: "GET",
		query: url.Values{"appid": {c.cfg.AppID}, "secret": {c.cfg.AppSecret},
			"code": {code}, "grant_type": {"authorization_code"}},
	}, &t)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// RefreshToken renews a web access_token with its refresh_token (valid 30 days).
// It is not retried: WeChat may rotate the refresh_token on success.
func (c *Client) RefreshToken(ctx context.Context, refreshToken string) (*Token, error) {
	if refreshToken == "" {
		return nil, errors.New("wechat: refresh token is empty: pass the refresh_token from ExchangeCode")
	}
	var t Token
	err := c.do(ctx, request{
		op: pathRefreshToken, method: "GET",
		query: url.Values{"appid": {c.cfg.AppID}, "grant_type": {"refresh_token"},
			"refresh_token": {refreshToken}},
	}, &t)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// CheckToken asks sns/auth whether a web access_token is still valid for openID;
// nil means valid.
func (c *Client) CheckToken(ctx context.Context, accessToken, openID string) error {
	return c.do(ctx, request{
		op: pathAuth, method: "GET", retry: true,
		query: url.Values{"access_token": {accessToken}, "openid": {openID}},
	}, nil)
}
