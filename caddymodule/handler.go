// Package wechatauth is the wechat_auth Caddy module: WeChat Official
// Account web authorization (公众号网页授权) in front of any upstream.
package wechatauth

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler puts WeChat Official Account web authorization in front of the
// routes after it. A visitor without a valid session who opens a protected
// page inside WeChat is sent through silent (snsapi_base) or consent
// (snsapi_userinfo) authorization and comes back with a signed, encrypted
// session cookie; the upstream then receives who the visitor is and never
// talks OAuth itself.
//
// Every request that reaches the handler first loses any client-sent
// header under header_prefix (any case, "_" for "-") and Remote-User, so
// only the handler can tell the upstream who is there. For a request with a
// valid session it sets these headers (names under the default prefix):
//
//	X-WeChat-OpenID      the openid
//	X-WeChat-UnionID     the unionid, when WeChat gave one
//	X-WeChat-Scope       snsapi_base, snsapi_userinfo or snsapi_login (desktop_login)
//	X-WeChat-Nickname    the nickname, percent-encoded UTF-8 (snsapi_userinfo)
//	X-WeChat-Avatar      the avatar URL (snsapi_userinfo)
//	X-WeChat-Subscribed  1 or 0: follows the account (subscriber_info)
//	X-WeChat-Source      mp (the Official Account's openid) or web (desktop_login's website app)
//	X-WeChat-Access-Token the visitor's web access_token (pass_access_token)
//
// and these placeholders:
//
//	{http.auth.user.id}          the openid (access logs' user_id; php_fastcgi's REMOTE_USER)
//	{http.auth.user.unionid}     the unionid, empty when WeChat gave none
//	{http.auth.user.scope}       snsapi_base, snsapi_userinfo or snsapi_login
//	{http.auth.user.nickname}    the nickname (snsapi_userinfo)
//	{http.auth.user.avatar}      the avatar URL (snsapi_userinfo)
//	{http.auth.user.subscribed}  1 or 0 (subscriber_info)
//	{http.auth.user.source}      mp or web
//
// Endpoints under path_prefix (default /wechat_auth) answer whatever the
// protect matcher:
//
//	/callback          WeChat's redirect_uri
//	/login?rd=URL      sign in afresh, then go to URL
//	/logout?rd=URL     end the session, then go to URL
//	/userinfo          the session as JSON
//	/subscribed?rd=URL the follow page's "我已关注" button: ask WeChat again
//	/jssdk?url=URL     a wx.config signature for a page (JS-SDK; jssdk_domains)
//	/jssdk.js          a helper that fetches it and calls wx.config
//	/auth              for Caddy forward_auth and Traefik ForwardAuth
//	/auth_request      for nginx auth_request
//	/relay?req=…       on a relay (relay_for): a client site's sealed login request
//	/handback?hb=…     on a relay client (relay): the relay's sealed hand-back
//
// What a request without a sufficient session gets is decided in one place
// (policy.go), whichever of the in-path handler, /auth or /auth_request
// it arrives through.
type Handler struct {
	// AppID is the Official Account's AppID (开发者ID), e.g. wx0123456789abcdef.
	AppID string `json:"app_id,omitempty"`

	// AppSecret is the Official Account's AppSecret. Write it as
	// {env.WECHAT_APP_SECRET} or {file./run/secrets/wechat_secret}: it is
	// expanded at provision time and so never appears in adapted JSON.
	AppSecret string `json:"app_secret,omitempty"`

	// Scope is the authorization scope protected routes need:
	// snsapi_base (default; silent, openid only) or snsapi_userinfo
	// (consent page; nickname and avatar too). A visitor whose session has
	// only snsapi_base is authorized again with snsapi_userinfo.
	Scope string `json:"scope,omitempty"`

	// SessionKeys sign (and, with a block key, encrypt) the cookies. The
	// first pair signs new cookies; every pair verifies existing ones, so
	// rotating means adding a new pair first and dropping the old one a
	// session TTL later. Without keys the module generates random ones at
	// start: sessions then end on restart and differ between replicas.
	SessionKeys []SessionKey `json:"session_keys,omitempty"`

	// CookieName names the session cookie (default wechat_session). Flow
	// cookies are named after it with the suffix _flow_<id>.
	CookieName string `json:"cookie_name,omitempty"`

	// CookieDomain sets the session cookie's Domain attribute, to share the
	// session with subdomains. Default: host-only.
	CookieDomain string `json:"cookie_domain,omitempty"`

	// SessionTTL is how long a session lasts (default 168h). It is enforced
	// from inside the signed cookie, not only by the browser's Max-Age.
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`

	// PathPrefix is where the endpoints live (default /wechat_auth).
	PathPrefix string `json:"path_prefix,omitempty"`

	// RedirectDomains lists extra hosts that return URLs may point to,
	// besides this site's own host and port: foo.bar (that host, default
	// port), .bar.foo or *.bar.foo (bar.foo and every subdomain),
	// foo.bar:8080 (that port only), foo.bar:* (any port).
	RedirectDomains []string `json:"redirect_domains,omitempty"`

	// JSSDKDomains lists extra hosts whose pages {path_prefix}/jssdk signs
	// for wx.config, in the forms of RedirectDomains. Pages on this site's
	// own scheme, host and port are always signed; any other URL is refused.
	JSSDKDomains []string `json:"jssdk_domains,omitempty"`

	// NonWeChat decides what visitors outside the WeChat client get:
	// page (default: a page with a QR code of the URL to open in WeChat),
	// allow (continue anonymously, without identity headers), deny (403) or
	// login (authorize anyway: desktop WeChat, WeChat DevTools, demos) or
	// qrconnect (scan-to-login with the website application of
	// DesktopLogin; the default when DesktopLogin is set).
	NonWeChat string `json:"non_wechat,omitempty"`

	// DesktopLogin is an Open Platform website application (网站应用微信登录)
	// that signs in visitors outside the WeChat client: they scan a QR code
	// with WeChat and confirm on the phone. Their sessions carry the website
	// app's openid, the unionid shared with the Official Account (a login
	// without one is refused), scope snsapi_login and X-WeChat-Source: web.
	DesktopLogin *DesktopLogin `json:"desktop_login,omitempty"`

	// HeaderPrefix prefixes the identity headers (default X-WeChat-). Every
	// client-sent header under this prefix is removed.
	HeaderPrefix string `json:"header_prefix,omitempty"`

	// APIBase is WeChat's JSON API base URL (default
	// https://api.weixin.qq.com): point it at the simulator or an egress proxy.
	APIBase string `json:"api_base,omitempty"`

	// OpenBase is the authorize page's base URL (default
	// https://open.weixin.qq.com).
	OpenBase string `json:"open_base,omitempty"`

	// SubscriberInfo looks up whether the visitor follows the account
	// (cgi-bin/user/info with the basic access_token) and forwards
	// X-WeChat-Subscribed: 1|0 and {http.auth.user.subscribed}. For a
	// follower of an account bound to an Open Platform account it also
	// forwards the unionid WeChat gives there, which a snsapi_base login
	// never carries. Answers are cached per openid for SubscriberTTL. Off by
	// default.
	SubscriberInfo bool `json:"subscriber_info,omitempty"`

	// SubscriberTTL is how long a follower answer is cached (default 5m).
	SubscriberTTL caddy.Duration `json:"subscriber_ttl,omitempty"`

	// RequireSubscribe admits only followers: others get a page asking them
	// to follow the account (403 JSON for API requests). Implies
	// SubscriberInfo. If WeChat cannot say, the page answers 503.
	RequireSubscribe bool `json:"require_subscribe,omitempty"`

	// SubscribeQR is the URL of the account's QR code image, shown on the
	// follow page.
	SubscribeQR string `json:"subscribe_qr,omitempty"`

	// KeepFragment brings a visitor back to the exact place a login started,
	// #fragment included: a page navigation needing a login gets a tiny page
	// whose script adds location.hash to the login URL (docs/relay.md).
	KeepFragment bool `json:"keep_fragment,omitempty"`

	// RelayFor makes this site the login relay (授权中转) for the hosts it
	// lists, in the forms of RedirectDomains: only this site's domain is
	// registered with WeChat; the others sign in through it (docs/relay.md).
	// It needs RelaySecret.
	RelayFor []string `json:"relay_for,omitempty"`

	// RelaySecret, on the relay, is the secret (base64, at least 32 bytes)
	// each client's relay key is derived from, with the client's origin:
	// caddy wechat-relay-key prints a client's key. The first secret seals
	// hand-backs; every one opens requests, so a secret rotates by adding
	// the new one second, then first (docs/relay.md). Write it as
	// {env.NAME} or {file./path}.
	RelaySecret []string `json:"relay_secret,omitempty"`

	// Relay makes this site sign in through the relay at this URL, its
	// address as registered with WeChat (https://wx.example.com, or
	// https://wx.example.com/mp with the relay's path_prefix /mp/wechat_auth).
	// It needs the relay's app_id and RelayKeys, no app_secret, and no
	// session_keys of the relay's: the site's own keep its sessions.
	Relay string `json:"relay,omitempty"`

	// RelayKeys, on a relay client, are its origins and the key the relay
	// derived for each. The client signs in through the relay only on these
	// origins, and builds its hand-back URL from them, never from the Host
	// header. For one origin the first key seals requests and every key
	// opens hand-backs.
	RelayKeys []RelayKey `json:"relay_keys,omitempty"`

	// Component signs visitors in through the third-party platform of the
	// wechat global option (第三方平台代公众号发起网页授权): app_id is an
	// Official Account that authorized the platform, and gives no
	// app_secret. Logins are refused with a page while the account is not
	// in the platform's authorized set (docs/third-party.md).
	Component bool `json:"component,omitempty"`

	// ComponentFromHost, with Component, serves every authorizer account
	// of the platform from one handler: the account is the first label of
	// the site's host, as WeChat requires of the platform's subdomains
	// (wxAPPID.wx.vendor.example), and app_id is left out. A session
	// belongs to its host's account only.
	ComponentFromHost bool `json:"component_from_host,omitempty"`

	// ComponentAuthorizers, with ComponentFromHost, are the only accounts
	// served, whatever the platform's authorization events say (for a
	// platform whose 授权事件接收URL is served elsewhere). Empty: the
	// accounts in the platform's authorized set.
	ComponentAuthorizers []string `json:"component_authorizers,omitempty"`

	// Assertion adds a signed identity to what goes upstream: a short-lived
	// ES256 JWS over the verified identity, in X-WeChat-Assertion, that the
	// upstream verifies with the keys at {path_prefix}/jwks.json, so an
	// upstream reachable around the gateway can tell a forged identity from
	// the gateway's (docs/assertion.md). Off when absent.
	Assertion *Assertion `json:"assertion,omitempty"`

	// PassAccessToken sends the visitor's web access_token (网页授权
	// access_token) upstream in X-WeChat-Access-Token, and in the
	// forward-auth answer (empty there when there is none), for apps that
	// call sns/userinfo themselves. The token is kept in the wechat app's
	// store, sealed, and refreshed with the refresh_token before its 7200 s
	// run out, once per session across requests and replicas; a
	// refresh_token WeChat refuses (after 30 days, or withdrawn) ends the
	// session into a fresh sign-in. Only the Official Account's own sign-in
	// has one: not a relay client, not desktop_login (docs/tokens.md).
	PassAccessToken bool `json:"pass_access_token,omitempty"`

	// VerifyInterval, when set (at least 1m), asks WeChat at most this often
	// per active session whether the visitor's authorization still stands
	// (sns/auth, or a refresh), off the request's path; a visitor who
	// withdrew it signs in again. While WeChat is unreachable the session
	// keeps working and the check is retried (docs/tokens.md).
	VerifyInterval caddy.Duration `json:"verify_interval,omitempty"`

	// ProfileTTL, when set (at least 1m), fetches a snsapi_userinfo
	// session's nickname and avatar again (sns/userinfo, through the
	// refresh_token) once they are older than this, waiting on WeChat at
	// most 200 ms; the session cookie carries the new profile from the next
	// response (docs/tokens.md).
	ProfileTTL caddy.Duration `json:"profile_ttl,omitempty"`

	// WeCom signs in a WeCom (企业微信) corp's members instead of the
	// Official Account's visitors (docs/wecom.md): inside the WeCom client
	// silently, in desktop browsers by WeCom's QR code; app_id and the
	// settings of the Official Account's flows are then left out. The
	// upstream gets X-WeCom-CorpID, X-WeCom-UserID, X-WeCom-Departments,
	// X-WeCom-Name (percent-encoded) and, under privateinfo, the fields
	// the member granted.
	WeCom *WeCom `json:"wecom,omitempty"`

	// SiteName names the site on the visitor pages (e.g. 报表系统).
	SiteName string `json:"site_name,omitempty"`
	// Pages maps the name of a visitor page (declined, wechatdown, …: the
	// names of pageTable, visitortext.go) to the site's own template file
	// for its body (sitepages.go, docs/setup.md "Pages the visitor sees").
	Pages map[string]string `json:"pages,omitempty"`

	// ProtectRaw limits which requests need a session; the Caddyfile fills it
	// from the directive's matcher. Empty: every request. Endpoints under
	// path_prefix answer whether or not they match.
	ProtectRaw caddyhttp.RawMatcherSets `json:"protect,omitempty" caddy:"namespace=http.matchers"`

	// What Provision builds: the route table and the runtime types the
	// routes and the protected path use (docs/architecture.md).
	logger    *zap.Logger
	app       *App // the process-wide wechat app: store, shared clients
	now       func() time.Time
	acct      *account
	sessions  *sessions
	logins    *logins
	gate      *gate
	followers *followers
	jssdk     *jssdkSigner
	assert    *assertionSigner // assertion; nil without
	tokens    *webTokenUse     // pass_access_token, verify_interval, profile_ttl; nil without
	hostGuard *siteNames       // whether the Host header is a configured name (sitenames.go)
	names     headerNames
	protect   caddyhttp.MatcherSets
	routes    map[string]route
	sites     siteCheck
	sitePages sitePageSet
	validated bool
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechat_auth",
		New: func() caddy.Module { return new(Handler) },
	}
}

const (
	defaultCookieName   = "wechat_session"
	defaultPathPrefix   = "/wechat_auth"
	defaultHeaderPrefix = "X-WeChat-"
	defaultSessionTTL   = 168 * time.Hour

	nonWeChatPage  = "page"
	nonWeChatAllow = "allow"
	nonWeChatDeny  = "deny"
	nonWeChatLogin = "login"

	// identityVar holds, in the request's vars, what a wechat_auth handler
	// left for a later one in the chain (our cookies are gone from the
	// request by then): the headers it set and their identity (*admitted),
	// or the verified identity alone (*identity); see earlierOf.
	identityVar = "wechat_auth.identity"
)

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
