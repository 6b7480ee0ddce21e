package wechatauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// Signing in to an Official Account through the third-party platform of the
// wechat global option (第三方平台代公众号发起网页授权, docs/third-party.md):
// the handler's app_id is an account that authorized the platform (an
// authorizer); the authorize URL names the platform with component_appid,
// and the platform redeems the code with its component_access_token. The
// account gives no secret. A login, and the first sight of a session, is
// refused unless the authorizer is in the platform's authorized set.

// kindComponent is the platform's flow in the flow cookie.
const kindComponent flowKind = 6

// sourceComponent marks an openid of an authorizer account signed in
// through the platform (X-WeChat-Source): the openid is the account's, as
// with its own web authorization.
var sourceComponent = &appSource{name: "mp", placeholder: "mp", appHeader: true}

// componentFlow signs visitors in to the authorizer account authorizer
// through the platform, or, fromHost, to the account its host names.
type componentFlow struct {
	authorizer string
	fromHost   bool
	listed     map[string]bool // component_authorizers: served instead of the authorized set
	platform   *component
	links      *links
	pages      *visitorPages
	outsideToo bool
	now        func() time.Time
	logger     *zap.Logger
}

func (c *componentFlow) kind() flowKind { return kindComponent }

func (c *componentFlow) serves(r *http.Request) bool { return c.outsideToo || isWeChat(r) }

func (c *componentFlow) loginScope(requested string) string { return requested }

func (c *componentFlow) label() string { return "sign_in" }

// codeApp namespaces the claims of codes: the platform's, as codes of
// every authorizer it serves are redeemed by it.
func (c *componentFlow) codeApp() string { return c.platform.appID }

// authorizerOn is the account a site serves: the handler's app_id, or the
// first label of host (wxAPPID.wx.vendor.example); "" when that label is no
// AppID.
func (c *componentFlow) authorizerOn(host string) string {
	if !c.fromHost {
		return c.authorizer
	}
	label, _, _ := strings.Cut(host, ".")
	if !alnum(label) || len(label) > 32 {
		return ""
	}
	return label
}

func (c *componentFlow) begin(site origin, f flowState) (string, error) {
	a := c.authorizerOn(site.Host)
	if a == "" {
		return "", errors.New("the host names no authorizer account") // refuseSite answered first
	}
	return c.platform.client.ComponentAuthorizeURL(a, c.links.endpoint(site, "callback"), f.Scope, f.State), nil
}

// owns takes the authorizer's sessions while the platform still serves it:
// a cookie of another account (another merchant's) is never one; with
// fromHost, boundToSite checks the account against the request's host.
func (c *componentFlow) owns(s *Session) (*appSource, bool) {
	if (s.Scope != wechat.ScopeBase && s.Scope != wechat.ScopeUserInfo) || s.AppID == "" {
		return nil, false
	}
	if c.fromHost && (!alnum(s.AppID) || len(s.AppID) > 32) || !c.fromHost && s.AppID != c.authorizer {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	ok, err := c.serving(ctx, s.AppID)
	return sourceComponent, ok || err != nil // the store unreachable: keep the sessions
}

// serving reports whether the flow signs in to account a: listed in
// component_authorizers when the handler lists accounts, else in the
// platform's authorized set.
func (c *componentFlow) serving(ctx context.Context, a string) (bool, error) {
	if c.listed != nil {
		return c.listed[a], nil
	}
	return c.platform.authorizedCached(ctx, a)
}

// boundToSite reports whether s is a session of the account r's site
// serves (fromHost): a cookie copied from one merchant's host to another's
// is refused there.
func (c *componentFlow) boundToSite(r *http.Request, s *Session) bool {
	o, err := siteOrigin(r)
	return err == nil && s.AppID == c.authorizerOn(o.Host)
}

// refuseSite answers every login and endpoint of an account that has not
// authorized the platform (or withdrew) with a page, never an authorize
// redirect that WeChat would refuse (10015). A store that cannot say lets
// the login go on: WeChat refuses it if need be.
func (c *componentFlow) refuseSite(w http.ResponseWriter, r *http.Request, o origin) bool {
	a := c.authorizerOn(o.Host)
	ok, err := false, error(nil)
	if a != "" {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		ok, err = c.serving(ctx, a)
	}
	if ok || err != nil {
		return false
	}
	if ce := c.logger.Check(zap.WarnLevel, "refused a sign-in: the account has not authorized the third-party platform (no authorized event received, or it was withdrawn); the merchant authorizes it in their Official Account, and the platform's 授权事件接收URL must receive the event"); ce != nil {
		ce.Write(zap.String("authorizer_app_id", a), zap.String("host", o.Host), zap.String("component_app_id", c.platform.appID))
	}
	c.pages.show(w, r, pageNotAuthorized, pageValues{})
	return true
}

// redeem exchanges the code through the platform. A component token WeChat
// calls invalid (another replica or tool fetched a newer one) is dropped and
// the exchange tried once more with a fresh one: the code was not used.
func (c *componentFlow) redeem(ctx context.Context, f flowState, code string) (loginEnd, error) {
	a := c.authorizerOn(callbackHost(ctx))
	if a == "" {
		return loginEnd{ending: endUnavailable}, nil
	}
	tok, err := c.exchange(ctx, a, code)
	if err != nil {
		return loginEnd{}, err
	}
	if tok.Snapshot() {
		return loginEnd{ending: endSnapshot}, nil
	}
	userInfo := strings.Contains(tok.Scope, wechat.ScopeUserInfo)
	if !validIdentity(tok.OpenID, "", c.logger) {
		return loginEnd{ending: endUnavailable}, nil
	}
	s := Session{AppID: a, OpenID: tok.OpenID, Scope: wechat.ScopeBase, ID: randomAlnum(sessionIDLen)}
	if userInfo && fillProfile(ctx, c.platform.client, &s, tok, c.now, c.logger) {
		s.Scope = wechat.ScopeUserInfo
	}
	return loginEnd{ending: endSession, sess: s}, nil
}

func (c *componentFlow) exchange(ctx context.Context, authorizer, code string) (*wechat.Token, error) {
	for attempt := 0; ; attempt++ {
		ct, err := c.platform.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		tok, err := c.platform.client.ComponentExchangeCode(ctx, authorizer, code, ct)
		if attempt == 0 && wechat.IsTokenInvalid(err) {
			c.platform.dropToken(ctx, ct)
			continue
		}
		return tok, err
	}
}

// validateComponent refuses what an authorizer account served through the
// platform cannot do: the platform holds no secret of the account, so
// nothing that needs the account's own API calls (followers, JS-SDK
// signatures) or its own callback domain (relay, desktop_login).
func (h *Handler) validateComponent() error {
	if (h.ComponentFromHost || len(h.ComponentAuthorizers) > 0) && !h.Component {
		return errors.New("component_from_host and component_authorizers need component")
	}
	for _, a := range h.ComponentAuthorizers {
		if !alnum(a) || len(a) > 32 || strings.ToLower(a) != a {
			return fmt.Errorf("component_authorizers %q is not an AppID (lower-case letters and digits, as the host's first label is)", a)
		}
	}
	if !h.Component {
		return nil
	}
	for _, c := range []struct {
		set  bool
		name string
	}{
		{h.AppSecret != "", "app_secret"}, {h.Relay != "", "relay"}, {len(h.RelayFor) > 0, "relay_for"},
		{h.DesktopLogin != nil, "desktop_login"}, {h.SubscriberInfo, "subscriber_info"},
		{h.RequireSubscribe, "require_subscribe"}, {len(h.JSSDKDomains) > 0, "jssdk_domains"},
		{h.NonWeChat == nonWeChatQRConnect, "non_wechat qrconnect"},
		{h.ComponentFromHost && h.AppID != "", "app_id (with from_host the host names the account)"},
		{h.ComponentFromHost && h.Assertion != nil, "assertion (with from_host)"},
		{h.ComponentFromHost && h.CookieDomain != "", "cookie_domain (with from_host each merchant's host keeps its own cookie; a shared one would be refused on every other host)"},
		{!h.ComponentFromHost && len(h.ComponentAuthorizers) > 0, "component_authorizers without from_host (app_id is the one account)"},
	} {
		if c.set {
			return fmt.Errorf("component and %s do not go together: an account served through the third-party platform gives it no secret of its own; remove %s", c.name, c.name)
		}
	}
	return nil
}

// provisionComponentFlow makes the platform's flow the handler's only one.
func (h *Handler) provisionComponentFlow(outsideToo bool) error {
	if h.app.component == nil {
		return errors.New("component needs the third-party platform in the wechat global option: wechat { component { app_id … app_secret … token … encoding_aes_key … } } (docs/third-party.md)")
	}
	l := h.logins
	fl := &componentFlow{authorizer: h.AppID, platform: h.app.component, links: l.links, pages: l.pages, outsideToo: outsideToo, now: l.now, logger: h.logger}
	l.flows = []signInFlow{fl}
	h.sites.guard = fl
	h.sessions.flows = l.flows
	if len(h.ComponentAuthorizers) > 0 {
		fl.listed = make(map[string]bool, len(h.ComponentAuthorizers))
		for _, a := range h.ComponentAuthorizers {
			fl.listed[a] = true
		}
	}
	if h.ComponentFromHost {
		fl.fromHost = true
		h.sessions.bound = fl.boundToSite
	}
	return nil
}

// callbackHost is the host of the callback whose code is being redeemed,
// as siteOrigin sees it (X-Forwarded-Host from a trusted proxy): the
// callback runs on the site that began the login, whose host names the
// account. redeem gets the request's context only; Caddy's replacer in it
// reads the request.
func callbackHost(ctx context.Context) string {
	repl, ok := ctx.Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return ""
	}
	host, _ := repl.GetString("http.request.host")
	if trusted, _ := caddyhttp.GetVar(ctx, caddyhttp.TrustedProxyVarKey).(bool); trusted {
		if fh, _ := repl.GetString("http.request.header.X-Forwarded-Host"); firstValue(fh) != "" {
			host = firstValue(fh)
		}
	}
	h, _ := splitHostPort(strings.ToLower(host), "")
	return h
}
