package wechat

import (
	"context"
	"errors"
	"net/url"
	"time"
)

// Third-party platform (第三方平台, "component") calls. A Client built with
// the platform's own AppID and AppSecret (Config.AppID, Config.AppSecret) is
// the platform's client: it fetches the component_access_token and runs web
// authorization on behalf of the Official Accounts that authorized the
// platform (authorizers), which have no secret here (docs/wechat.md,
// "Third-party platform").

// API paths of the component calls.
const (
	pathComponentToken   = "/cgi-bin/component/api_component_token"
	pathComponentCode    = "/sns/oauth2/component/access_token"
	pathComponentRefresh = "/sns/oauth2/component/refresh_token"
)

// ComponentToken is the platform's component_access_token (valid 7200 s).
type ComponentToken struct {
	AccessToken string `json:"component_access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// Expiry is when the token expires, counted from got (when it was fetched).
func (t *ComponentToken) Expiry(got time.Time) time.Time {
	return got.Add(time.Duration(t.ExpiresIn) * time.Second)
}

// ComponentAccessToken fetches a component_access_token with the latest
// component_verify_ticket WeChat pushed. It is not retried: each call makes a
// new token and ends the previous one early, so exactly one refresher per
// platform may call it. 61005/61006 (IsTicketRejected) mean the ticket is too
// old or not the latest one; 61004 names the IP to whitelist.
func (c *Client) ComponentAccessToken(ctx context.Context, verifyTicket string) (*ComponentToken, error) {
	if verifyTicket == "" {
		return nil, errors.New("wechat: component_verify_ticket is empty: no ticket push arrived yet; check the platform's 授权事件接收URL in the Open Platform console")
	}
	body, err := jsonBody(map[string]any{
		"component_appid": c.cfg.AppID, "component_appsecret": c.cfg.AppSecret,
		"component_verify_ticket": verifyTicket,
	})
	if err != nil {
		return nil, err
	}
	var t ComponentToken
	if err := c.do(ctx, request{op: pathComponentToken, method: "POST", body: body}, &t); err != nil {
		return nil, err
	}
	if t.AccessToken == "" || t.ExpiresIn <= 0 {
		return nil, &RequestError{Op: pathComponentToken,
			Err: errors.New("response has no component_access_token or expires_in; check api_base")}
	}
	return &t, nil
}

// ComponentAuthorizeURL is AuthorizeURL on behalf of the authorizer account
// authorizerAppID: the same fixed order (appid, redirect_uri,
// response_type=code, scope, state) then component_appid and #wechat_redirect,
// as WeChat documents it. redirectURI must lie on the platform's 公众号开发域名
// or on <authorizer AppID>.<that domain>, else WeChat shows 10003.
func (c *Client) ComponentAuthorizeURL(authorizerAppID, redirectURI, scope, state string) string {
	b := c.connectURLFor(authorizerAppID, "/connect/oauth2/authorize", redirectURI, scope, state)
	b.WriteString("&component_appid=")
	b.WriteString(url.QueryEscape(c.cfg.AppID))
	b.WriteString("#wechat_redirect")
	return b.String()
}

// ComponentExchangeCode redeems a code the authorize page gave for
// authorizerAppID, with the platform's component_access_token. The Token's
// unionid is not documented for this call; fetch it with UserInfo. Never
// retried: a code is single-use.
func (c *Client) ComponentExchangeCode(ctx context.Context, authorizerAppID, code, componentToken string) (*Token, error) {
	if code == "" {
		return nil, errors.New("wechat: code is empty: the callback had no code (the user may have declined)")
	}
	return c.componentWebToken(ctx, pathComponentCode, authorizerAppID, componentToken,
		url.Values{"code": {code}, "grant_type": {"authorization_code"}})
}

// ComponentRefreshToken renews a web access_token issued through the
// platform. Not retried, like RefreshToken.
func (c *Client) ComponentRefreshToken(ctx context.Context, authorizerAppID, refreshToken, componentToken string) (*Token, error) {
	if refreshToken == "" {
		return nil, errors.New("wechat: refresh token is empty: pass the refresh_token from ComponentExchangeCode")
	}
	return c.componentWebToken(ctx, pathComponentRefresh, authorizerAppID, componentToken,
		url.Values{"refresh_token": {refreshToken}, "grant_type": {"refresh_token"}})
}

// componentWebToken runs one of the two sns/oauth2/component calls; both
// name the authorizer and the platform the same way.
func (c *Client) componentWebToken(ctx context.Context, op, authorizerAppID, componentToken string, q url.Values) (*Token, error) {
	if authorizerAppID == "" {
		return nil, errors.New("wechat: the authorizer AppID is empty: pass the Official Account that authorized the platform")
	}
	if componentToken == "" {
		return nil, errors.New("wechat: component_access_token is empty: fetch one with ComponentAccessToken")
	}
	q.Set("appid", authorizerAppID)
	q.Set("component_appid", c.cfg.AppID)
	q.Set("component_access_token", componentToken)
	var t Token
	if err := c.do(ctx, request{op: op, method: "GET", query: q}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// IsTicketRejected reports 61005 (component ticket is expired) or 61006
// (component ticket is invalid): fetch again with the newest ticket pushed.
func IsTicketRejected(err error) bool { c := Code(err); return c == 61005 || c == 61006 }
