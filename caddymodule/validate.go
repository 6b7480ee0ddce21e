package wechatauth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// setDefaults fills what the configuration left out.
func (h *Handler) setDefaults() {
	if h.Scope == "" {
		h.Scope = wechat.ScopeBase
	}
	if h.CookieName == "" {
		h.CookieName = defaultCookieName
	}
	if h.SessionTTL == 0 {
		h.SessionTTL = caddy.Duration(defaultSessionTTL)
	}
	if h.PathPrefix == "" {
		h.PathPrefix = defaultPathPrefix
	}
	if len(h.PathPrefix) > 1 {
		h.PathPrefix = strings.TrimSuffix(h.PathPrefix, "/")
	}
	if h.NonWeChat == "" {
		h.NonWeChat = nonWeChatPage
		if h.DesktopLogin != nil {
			h.NonWeChat = nonWeChatQRConnect
		}
	}
	if h.HeaderPrefix == "" {
		h.HeaderPrefix = defaultHeaderPrefix
	}
}

// Validate checks the configuration and says how to fix what is wrong. It
// holds every rule of every setting; the Caddyfile parser only shapes
// tokens. Provision runs it before building anything, so Caddy's own call
// after Provision finds it done.
func (h *Handler) Validate() error {
	if h.validated {
		return nil
	}
	if h.WeCom != nil {
		if err := h.validateWeComSite(); err != nil {
			return err
		}
	} else if h.AppID == "" && !h.ComponentFromHost {
		return errors.New("app_id is empty: set it to your Official Account's AppID (公众平台 → 设置与开发 → 基本配置 → 开发者ID), e.g. app_id wx0123456789abcdef")
	}
	if strings.ContainsAny(h.AppID, " \t\r\n{}/?&#") {
		return fmt.Errorf("app_id %q is not an AppID: it looks like wx followed by 16 hexadecimal characters", h.AppID)
	}
	if h.Scope != wechat.ScopeBase && h.Scope != wechat.ScopeUserInfo {
		return fmt.Errorf("scope %q is unknown: use snsapi_base (silent, openid only) or snsapi_userinfo (consent, nickname and avatar)", h.Scope)
	}
	if !strings.HasPrefix(h.PathPrefix, "/") || strings.ContainsAny(h.PathPrefix, "?#*{} ") {
		return fmt.Errorf("path_prefix %q must be a path starting with /, without ?, #, * or spaces, e.g. /wechat_auth", h.PathPrefix)
	}
	if h.PathPrefix == "/" {
		return errors.New(`path_prefix "/" would put the login endpoints at the site's root, among the app's own pages: use a path such as /wechat_auth`)
	}
	if !validToken(h.CookieName) {
		return fmt.Errorf("cookie_name %q is not a valid cookie name: use letters, digits, - and _", h.CookieName)
	}
	if h.CookieDomain != "" && !validHostname(strings.TrimPrefix(strings.ToLower(h.CookieDomain), ".")) {
		return fmt.Errorf("cookie_domain %q is not a domain name, e.g. example.com", h.CookieDomain)
	}
	if h.Assertion != nil {
		if err := h.Assertion.validate(); err != nil {
			return err
		}
	}
	if h.SessionTTL < caddy.Duration(time.Minute) {
		return fmt.Errorf("session_ttl %s is too short: use at least 1m, e.g. 168h", time.Duration(h.SessionTTL))
	}
	switch h.NonWeChat {
	case nonWeChatPage, nonWeChatAllow, nonWeChatDeny, nonWeChatLogin, nonWeChatQRConnect:
	default:
		return fmt.Errorf("non_wechat %q is unknown: use page, allow, deny, login or qrconnect", h.NonWeChat)
	}
	if err := h.validateDesktop(); err != nil {
		return err
	}
	if err := checkHeaderPrefix(h.HeaderPrefix); err != nil {
		return err
	}
	if err := h.validateSitePages(); err != nil {
		return err
	}
	if h.SubscriberTTL < 0 {
		return fmt.Errorf("subscriber_ttl %s is negative: use e.g. 5m", time.Duration(h.SubscriberTTL))
	}
	if _, err := parseDomainRules("redirect_domains", h.RedirectDomains); err != nil {
		return err
	}
	if _, err := parseDomainRules("jssdk_domains", h.JSSDKDomains); err != nil {
		return err
	}
	if len(h.RelayFor) > 0 && h.Relay != "" {
		return errors.New("relay_for and relay are both set: a site is either the relay (relay_for, on the domain registered in WeChat) or signs in through one (relay <url>), not both")
	}
	for _, d := range h.RelayFor {
		if _, err := parseDomainRuleOf("relay_for", d); err != nil {
			return err
		}
	}
	if h.Relay != "" && !strings.Contains(h.Relay, "{") {
		if _, err := relayEndpointOf(h.Relay); err != nil {
			return err
		}
	}
	if err := h.validateRelayKeys(); err != nil {
		return err
	}
	if err := h.validateComponent(); err != nil {
		return err
	}
	if err := h.validateWebTokens(); err != nil {
		return err
	}
	for _, b := range []struct{ name, value string }{{"api_base", h.APIBase}, {"open_base", h.OpenBase}, {"require_subscribe", h.SubscribeQR}} {
		if b.value == "" || strings.Contains(b.value, "{") {
			continue
		}
		if u, err := url.Parse(b.value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s %q must be an http(s) URL such as https://api.weixin.qq.com", b.name, b.value)
		}
	}
	return nil
}

// headersWeRead are request headers the module, Caddy or the upstream
// relies on; every header under header_prefix is stripped, so the prefix
// must not cover any of them.
var headersWeRead = []string{"cookie", "host", "user-agent", "accept", "referer", "authorization", "content-",
	"x-forwarded-", "x-requested-with", "x-original-url", "x-real-ip", "sec-", "if-", "origin"}

func checkHeaderPrefix(p string) error {
	norm := normalizeHeaderKey(p)
	if !validToken(p) || !strings.HasSuffix(norm, "-") || len(norm) < 3 {
		return fmt.Errorf("header_prefix %q is not a valid header name prefix: use letters, digits and -, ending in -, such as X-WeChat-", p)
	}
	for _, h := range headersWeRead {
		if strings.HasPrefix(h, norm) {
			return fmt.Errorf("header_prefix %q would strip the %s header(s) from every request: choose a prefix of your own, such as X-WeChat-", p, strings.TrimSuffix(h, "-"))
		}
	}
	return nil
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
