package wechatauth

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// A WeCom site: the wecom block's rules next to the handler's (Validate),
// its expansion (Provision and CheckConfig), and its flows.

// validateWeComSite holds the rules of a wechat_auth with wecom: WeCom
// members are its only visitors, so the Official Account's settings have
// nothing to act on and are refused rather than ignored.
func (h *Handler) validateWeComSite() error {
	c := h.WeCom
	c.setDefaults()
	if err := c.validate(); err != nil {
		return err
	}
	for _, s := range []struct {
		set  bool
		name string
	}{{h.AppID != "", "app_id"}, {h.AppSecret != "", "app_secret"}, {h.DesktopLogin != nil, "desktop_login"},
		{h.Relay != "", "relay"}, {len(h.RelayFor) > 0, "relay_for"}, {h.SubscriberInfo, "subscriber_info"},
		{h.RequireSubscribe, "require_subscribe"}, {len(h.JSSDKDomains) > 0, "jssdk_domains"},
		{h.Scope != wechat.ScopeBase, "scope"}, {h.Component, "component"}, {h.PassAccessToken, "pass_access_token"},
		{h.VerifyInterval != 0, "verify_interval"}, {h.ProfileTTL != 0, "profile_ttl"}} {
		if s.set {
			return fmt.Errorf("wecom and %s are both set: a wechat_auth with wecom signs in the corp's members only, and %s belongs to the Official Account's sign-in; remove it, or protect the Official Account's pages with a wechat_auth of their own (the wecom block has its own scope)", s.name, s.name)
		}
	}
	switch h.NonWeChat {
	case nonWeChatPage, nonWeChatDeny, nonWeChatAllow:
	default:
		return fmt.Errorf("non_wechat %s does not apply with wecom: visitors WeCom cannot sign in (personal WeChat, phone browsers) get page (default), deny or allow", h.NonWeChat)
	}
	return nil
}

// expandWeCom expands the wecom block's placeholders into a copy and
// checks the result; the copy holds the secret.
func (h *Handler) expandWeCom(repl *caddy.Replacer) (*WeCom, error) {
	return h.WeCom.expanded(func(setting, value string) (string, error) { return expand(repl, setting, value) })
}

// provisionWeCom makes the WeCom flows a site's only flows: in the WeCom
// client first, then the QR login for desktop browsers.
func (h *Handler) provisionWeCom(repl *caddy.Replacer) error {
	cfg, err := h.expandWeCom(repl)
	if err != nil {
		return err
	}
	api, err := cfg.client(nil, observeAPI)
	if err != nil {
		return fmt.Errorf("wecom: %v", err)
	}
	if h.now == nil {
		return errors.New("wecom: provisioned without a clock")
	}
	clock := func() time.Time { return h.now() }
	in := newWeComSignIn(cfg, api, newWeComDepartments(api, time.Duration(cfg.DepartmentsTTL), clock), h.logger)
	l := h.logins
	src := sourceWeCom.forApp(cfg.CorpID)
	l.flows = []signInFlow{
		&wecomFlow{in: in, source: src, links: l.links, logins: l, logger: h.logger},
		&wecomFlow{in: in, source: src, desktop: true, links: l.links, logins: l, logger: h.logger},
	}
	h.sessions.flows = l.flows
	h.names.wecom = true
	h.logger.Info("wecom: WeCom members sign in (inside WeCom, and by QR code in desktop browsers); everyone else gets non_wechat's answer",
		zap.String("corp_id", cfg.CorpID), zap.String("agent_id", cfg.AgentID), zap.String("scope", cfg.wecomScope()),
		zap.Strings("allow_users", cfg.AllowUsers), zap.Int64s("allow_departments", cfg.AllowDepartments))
	return nil
}
