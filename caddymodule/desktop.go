package wechatauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// Desktop login (网站应用微信登录, docs/desktop.md): under non_wechat
// qrconnect a visitor outside the WeChat client signs in with the Open
// Platform website application of desktop_login. It is the signInDesktop
// outcome of the policy and runs through the same flow as the in-WeChat
// login (state, flow cookie, return URL, callback, replay, declined): the
// flow's scope, snsapi_login, is what tells startFlow to send the browser to
// qrconnect and the callback to redeem the code with the website app. The
// session records the website app's AppID (its openid is that app's) and
// scope snsapi_login; the upstream tells the two apart by X-WeChat-Source
// (mp or web) and joins them by X-WeChat-UnionID, so a desktop login
// without a unionid is refused rather than issued.

// DesktopLogin is an Open Platform website application (网站应用) that signs
// in desktop visitors by scanning a QR code with WeChat.
type DesktopLogin struct {
	// AppID is the website application's AppID (open.weixin.qq.com → 管理中心 →
	// 网站应用), not the Official Account's. Its 授权回调域 setting must be
	// this site's host: that setting is the website app's own.
	AppID string `json:"app_id,omitempty"`

	// AppSecret is the website application's AppSecret. Write it as
	// {env.WECHAT_WEB_APP_SECRET} or {file.…}: it is expanded at start and
	// never appears in adapted JSON or logs.
	AppSecret string `json:"app_secret,omitempty"`

	// Followers says what subscriber_info and require_subscribe do for the
	// visitors this app signs in (X-WeChat-Source web), whom WeChat's
	// cgi-bin/user/info cannot answer for: it takes the Official Account's
	// own openid only, not this app's nor a unionid. Its one value,
	// "unchecked", admits them with no follower check and no
	// X-WeChat-Subscribed (follower rules then hold inside WeChat only); it
	// is required with require_subscribe. Caddyfile: desktop_followers.
	Followers string `json:"followers,omitempty"`
}

// nonWeChatQRConnect is the non_wechat mode that signs visitors outside the
// WeChat client in with desktop_login.
const nonWeChatQRConnect = "qrconnect"

// Source values: which app an openid belongs to.
var (
	sourceMP  = []string{"mp"}  // the Official Account (公众号)
	sourceWeb = []string{"web"} // the website application of desktop_login
)

// desktopFollowersUnchecked is the DesktopLogin.Followers value that admits
// desktop visitors without a follower check.
const desktopFollowersUnchecked = "unchecked"

// validateDesktop holds desktop_login's value rules (Validate calls it).
func (h *Handler) validateDesktop() error {
	if h.NonWeChat == nonWeChatQRConnect && h.DesktopLogin == nil {
		return errors.New("non_wechat qrconnect needs desktop_login <website-appid> <secret>: the website application (网站应用) that signs desktop visitors in")
	}
	if err := h.validateDesktopFollowers(); err != nil {
		return err
	}
	dl := h.DesktopLogin
	if dl == nil {
		return nil
	}
	switch {
	case dl.AppID == "":
		return errors.New("desktop_login has no AppID: write desktop_login <website-appid> {env.WECHAT_WEB_APP_SECRET} with the website application's AppID (open.weixin.qq.com → 管理中心 → 网站应用)")
	case strings.ContainsAny(dl.AppID, " \t\r\n/?&#"):
		return fmt.Errorf("desktop_login AppID %q is not an AppID: it looks like wx followed by 16 hexadecimal characters", dl.AppID)
	case dl.AppID == h.AppID:
		return fmt.Errorf("desktop_login AppID %s is the Official Account's app_id: a website application has an AppID of its own on open.weixin.qq.com", dl.AppID)
	case dl.AppSecret == "":
		return errors.New("desktop_login has no secret: write desktop_login <website-appid> {env.WECHAT_WEB_APP_SECRET}")
	case h.Relay != "" || len(h.RelayFor) > 0:
		return errors.New("desktop_login cannot be combined with relay or relay_for: the website application redirects to this site's own callback, registered as its 授权回调域")
	case h.NonWeChat != nonWeChatQRConnect:
		return fmt.Errorf("desktop_login is set but non_wechat is %s: use non_wechat qrconnect (or leave non_wechat out) so desktop visitors can sign in", h.NonWeChat)
	}
	return nil
}

// validateDesktopFollowers makes the follower rules' meaning for desktop
// visitors explicit. WeChat says whether someone follows the account only
// for the account's own openid (cgi-bin/user/info); a desktop session holds
// the website app's openid (40003 there) and a unionid, which user/info
// does not take. So require_subscribe cannot be met on the desktop, and a
// configuration must say that desktop visitors pass unchecked rather than
// be refused (or answered 503) every time.
func (h *Handler) validateDesktopFollowers() error {
	dl := h.DesktopLogin
	switch {
	case dl == nil:
		return nil
	case dl.Followers != "" && dl.Followers != desktopFollowersUnchecked:
		return fmt.Errorf("desktop_followers %q is not a value it takes: write desktop_followers unchecked (desktop visitors pass without a follower check)", dl.Followers)
	case h.RequireSubscribe && dl.Followers == "":
		return errors.New("require_subscribe cannot be checked for desktop_login's visitors: WeChat tells whether someone follows the account only for the account's own openid, not for the website application's openid or a unionid. " +
			"Write desktop_followers unchecked to admit desktop visitors without the check (followers only inside WeChat), " +
			"or protect the followers-only paths with a wechat_auth of their own without desktop_login")
	}
	return nil
}

// followerRulesApply reports whether subscriber_info and require_subscribe
// apply to a session: not to a desktop one, whose openid user/info does not
// know (validateDesktopFollowers).
func followerRulesApply(s *Session) bool { return s.Scope != wechat.ScopeLogin }

// provisionDesktop builds the website app's WeChat client.
func (h *Handler) provisionDesktop(repl *caddy.Replacer, apiBase, openBase string) error {
	dl := h.DesktopLogin
	if dl == nil {
		return nil
	}
	var err error
	if dl.AppID, err = expand(repl, "desktop_login", dl.AppID); err != nil {
		return err
	}
	secret, err := expand(repl, "desktop_login", dl.AppSecret)
	if err != nil {
		return err
	}
	if secret == "" {
		return errors.New("desktop_login's secret is empty: set the website application's AppSecret, e.g. desktop_login <website-appid> {env.WECHAT_WEB_APP_SECRET}, and make sure that variable is set")
	}
	h.desktop, err = h.app.client(wechat.Config{AppID: dl.AppID, AppSecret: secret, APIBase: apiBase, OpenBase: openBase})
	if err != nil {
		return fmt.Errorf("desktop_login: %v", err)
	}
	h.logger.Info("desktop_login: visitors outside WeChat sign in with the website application; a login whose WeChat answer has no unionid is refused, so bind the website application and app_id to one Open Platform account",
		zap.String("desktop_login", dl.AppID), zap.String("app_id", h.AppID))
	return nil
}

// desktopFor reports whether r is a visitor the website app signs in: a
// browser outside WeChat that is not on a phone (outsideWeChatOutcome sends
// phones to the open-in-WeChat page).
func (h *Handler) desktopFor(r *http.Request) bool {
	return h.desktop != nil && h.NonWeChat == nonWeChatQRConnect && !isWeChat(r) && !isPhone(r)
}

// loginScope is the scope a sign-in outcome starts a flow with.
func (h *Handler) loginScope(o outcome) string {
	if o == signInDesktop {
		return wechat.ScopeLogin
	}
	return h.Scope
}

// clientFor is the WeChat client of a flow's app; nil when this handler has
// none (a relay client, or a desktop flow after desktop_login was removed).
func (h *Handler) clientFor(f flowState) *wechat.Client {
	if f.Scope == wechat.ScopeLogin {
		return h.desktop
	}
	return h.client
}

// ownSession reports whether s was issued by this handler's apps: the
// Official Account's (any scope but snsapi_login) or desktop_login's
// website app (snsapi_login only). A cookie of any other app is refused.
func (h *Handler) ownSession(s *Session) bool {
	if s.Scope == wechat.ScopeLogin {
		return h.desktop != nil && s.AppID == h.DesktopLogin.AppID
	}
	return s.AppID == h.AppID
}

// sessionAppID is the AppID a new session of scope records.
func (h *Handler) sessionAppID(scope string) string {
	if scope == wechat.ScopeLogin && h.DesktopLogin != nil {
		return h.DesktopLogin.AppID
	}
	return h.AppID
}

// requireUnionID refuses a desktop login without a unionid: the website
// app is not bound to the Official Account's Open Platform account, and an
// openid of its own would be a second identity for the same person.
func (h *Handler) requireUnionID(s *Session) bool {
	if s.Scope != wechat.ScopeLogin || s.UnionID != "" {
		return true
	}
	if ce := h.logger.Check(zap.ErrorLevel, "desktop_login: WeChat returned no unionid for the website application, so the login was refused: bind the website application and app_id to the same Open Platform account (open.weixin.qq.com → 管理中心 → 绑定公众号)"); ce != nil {
		ce.Write(zap.String("desktop_login", s.AppID), zap.String("app_id", h.AppID))
	}
	return false
}
