package wechat

// ScopeLogin is the scope of an Open Platform website application
// (网站应用微信登录): a desktop visitor scans a QR code and confirms on the
// phone; the token it yields reaches sns/userinfo like snsapi_userinfo's.
const ScopeLogin = "snsapi_login"

// QRConnectURL builds the desktop login page URL of a website application
// (docs/wechat.md §10) for this client's AppID, in the same fixed order as
// AuthorizeURL: appid, redirect_uri, response_type=code, scope=snsapi_login,
// state, then #wechat_redirect.
func (c *Client) QRConnectURL(redirectURI, state string) string {
	b := c.connectURL("/connect/qrconnect", redirectURI, ScopeLogin, state)
	b.WriteString("#wechat_redirect")
	return b.String()
}
