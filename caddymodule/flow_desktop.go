package wechatauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// Desktop login (网站应用微信登录, docs/desktop.md): under non_wechat
// qrconnect a visitor on a desktop browser signs in with the Open Platform
// website application of desktop_login, by scanning a QR code with WeChat.
// It is a flow of its own (signin.go) and shares everything else with the
// in-WeChat login (state, flow cookie, return URL, callback, replay,
// declined). The session records the website app's AppID (its openid is
// that app's) and scope snsapi_login; the upstream tells the two apart by
// X-WeChat-Source (mp or web) and joins them by X-WeChat-UnionID, so a
// desktop login without a unionid is refused rather than issued.

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

// desktopFollowersUnchecked is the DesktopLogin.Followers value that admits
// desktop visitors without a follower check.
const desktopFollowersUnchecked = "unchecked"

// validateDesktop holds desktop_login's value rules (Validate calls it).
func (h *Handler) validateDesktop() error {
	if h.NonWeChat == nonWeChatQRConnect && h.DesktopLogin == nil {
		return errors.New("non_wechat qrconnect needs desktop_login <website-appid> <secret>: the website application (网站应用) that signs desktop visitors in")
	}
	if err := h.DesktopLogin.checkFollowers(h.RequireSubscribe); err != nil {
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

// checkFollowers makes the follower rules' meaning for desktop
// visitors explicit. WeChat says whether someone follows the account only
// for the account's own openid (cgi-bin/user/info); a desktop session holds
// the website app's openid (40003 there) and a unionid, which user/info
// does not take. So require_subscribe cannot be met on the desktop, and a
// configuration must say that desktop visitors pass unchecked rather than
// be refused (or answered 503) every time.
func (dl *DesktopLogin) checkFollowers(requireSubscribe bool) error {
	switch {
	case dl == nil:
		return nil
	case dl.Followers != "" && dl.Followers != desktopFollowersUnchecked:
		return fmt.Errorf("desktop_followers %q is not a value it takes: write desktop_followers unchecked (desktop visitors pass without a follower check)", dl.Followers)
	case requireSubscribe && dl.Followers == "":
		return errors.New("require_subscribe cannot be checked for desktop_login's visitors: WeChat tells whether someone follows the account only for the account's own openid, not for the website application's openid or a unionid. " +
			"Write desktop_followers unchecked to admit desktop visitors without the check (followers only inside WeChat), " +
			"or protect the followers-only paths with a wechat_auth of their own without desktop_login")
	}
	return nil
}

// kindDesktop is desktop_login's flow in the flow cookie.
const kindDesktop flowKind = 2

// desktopFlow signs desktop visitors in with the website application.
type desktopFlow struct {
	appID     string     // the website app's
	source    *appSource // sourceWeb for appID
	client    *wechat.Client
	accountID string // the Official Account's app_id, for log lines
	links     *links
	now       func() time.Time
	logger    *zap.Logger
}

// newDesktopFlow builds the website app's flow; nil without desktop_login.
func (h *Handler) newDesktopFlow(repl *caddy.Replacer, apiBase, openBase string, lk *links) (*desktopFlow, error) {
	dl := h.DesktopLogin
	if dl == nil {
		return nil, nil
	}
	var err error
	if dl.AppID, err = expand(repl, "desktop_login", dl.AppID); err != nil {
		return nil, err
	}
	secret, err := expand(repl, "desktop_login", dl.AppSecret)
	if err != nil {
		return nil, err
	}
	if secret == "" {
		return nil, errors.New("desktop_login's secret is empty: set the website application's AppSecret, e.g. desktop_login <website-appid> {env.WECHAT_WEB_APP_SECRET}, and make sure that variable is set")
	}
	client, err := h.app.client(wechat.Config{AppID: dl.AppID, AppSecret: secret, APIBase: apiBase, OpenBase: openBase})
	if err != nil {
		return nil, fmt.Errorf("desktop_login: %v", err)
	}
	h.logger.Info("desktop_login: visitors outside WeChat sign in with the website application; a login whose WeChat answer has no unionid is refused, so bind the website application and app_id to one Open Platform account",
		zap.String("desktop_login", dl.AppID), zap.String("app_id", h.AppID))
	return &desktopFlow{appID: dl.AppID, source: sourceWeb.forApp(dl.AppID), client: client, accountID: h.AppID, links: lk, now: h.now, logger: h.logger}, nil
}

func (d *desktopFlow) kind() flowKind { return kindDesktop }

// serves a browser outside WeChat that is not on a phone: WeChat's QR code
// on a phone's own screen is a dead end, so phones get the open-in-WeChat
// page (non_wechat).
func (d *desktopFlow) serves(r *http.Request) bool { return !isWeChat(r) && !isPhone(r) }

func (d *desktopFlow) loginScope(string) string { return wechat.ScopeLogin }

func (d *desktopFlow) label() string { return "sign_in_desktop" }

func (d *desktopFlow) codeApp() string { return d.appID }

func (d *desktopFlow) begin(site origin, f flowState) (string, error) {
	return d.client.QRConnectURL(d.links.endpoint(site, "callback"), f.State), nil
}

// owns the website app's sessions. Follower rules do not apply to them:
// user/info answers for the Official Account's own openids only
// (DesktopLogin.checkFollowers).
func (d *desktopFlow) owns(s *Session) (*appSource, bool) {
	return d.source, s.Scope == wechat.ScopeLogin && s.AppID == d.appID
}

// adopts an older version's flow cookie of a desktop login.
func (d *desktopFlow) adopts(f flowState) bool { return f.Scope == wechat.ScopeLogin }

// redeem exchanges the code with the website app, whose snsapi_login token
// carries the unionid and reaches userinfo. A login without a unionid is
// refused: the website app is not bound to the Official Account's Open
// Platform account, and an openid of its own would be a second identity
// for the same person.
func (d *desktopFlow) redeem(ctx context.Context, f flowState, code string) (loginEnd, error) {
	tok, err := d.client.ExchangeCode(ctx, code)
	if err != nil {
		return loginEnd{}, err
	}
	if tok.Snapshot() {
		return loginEnd{ending: endSnapshot}, nil
	}
	if !validIdentity(tok.OpenID, tok.UnionID, d.logger) {
		return loginEnd{ending: endUnavailable}, nil
	}
	s := Session{AppID: d.appID, OpenID: tok.OpenID, UnionID: tok.UnionID, Scope: wechat.ScopeLogin, ID: randomAlnum(sessionIDLen)}
	fillProfile(ctx, d.client, &s, tok, d.now, d.logger)
	if s.UnionID == "" {
		if ce := d.logger.Check(zap.ErrorLevel, "desktop_login: WeChat returned no unionid for the website application, so the login was refused: bind the website application and app_id to the same Open Platform account (open.weixin.qq.com → 管理中心 → 绑定公众号)"); ce != nil {
			ce.Write(zap.String("desktop_login", s.AppID), zap.String("app_id", d.accountID))
		}
		return loginEnd{ending: endMisconfigured, ref: "no unionid"}, nil
	}
	return loginEnd{ending: endSession, sess: s}, nil
}
