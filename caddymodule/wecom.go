package wechatauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// WeCom (企业微信) staff sign-in (docs/wecom.md): a self-built app (自建应用)
// of the corp signs its members in, silently inside the WeCom client and by
// scanning WeCom's QR code in desktop browsers. Who may enter is decided
// here from what WeCom says of the member (wecom_member.go), never from a
// userid alone: WeCom hands a userid to members outside the app's visible
// range too.

// WeCom is the wecom block of wechat_auth: the corp, its app, and who of
// the corp may enter.
type WeCom struct {
	// CorpID is the corp's ID (企业ID, ww…): 企业微信管理后台 → 我的企业 →
	// 企业信息 → 企业ID.
	CorpID string `json:"corp_id,omitempty"`

	// AgentID is the self-built app's AgentId, a number: 企业微信管理后台 →
	// 应用管理 → the app.
	AgentID string `json:"agent_id,omitempty"`

	// Secret is that app's Secret (each app has its own). Write it as
	// {env.WECOM_SECRET} or {file./run/secrets/wecom_secret}: it is expanded
	// at start and never appears in adapted JSON, logs or errors.
	Secret string `json:"secret,omitempty"`

	// Scope is base (default: silent; userid, name and departments) or
	// privateinfo (the member confirms once, remembered 30 days; adds the
	// sensitive fields the admin enabled for the app: mobile, email,
	// gender, avatar). Inside WeCom only: desktop QR sign-in is always base.
	Scope string `json:"scope,omitempty"`

	// AllowUsers lists the userids that may enter (WeCom compares userids
	// ignoring case, and so does this). A 互联企业 member is written
	// CorpId/userid. With neither AllowUsers nor AllowDepartments, every
	// member the app can see (its visible range, 可见范围) may enter.
	AllowUsers []string `json:"allow_users,omitempty"`

	// AllowDepartments lists department ids whose members may enter; a
	// department includes all its sub-departments. Ids are in 企业微信管理后台
	// → 通讯录 → the department's … menu → 部门ID.
	AllowDepartments []int64 `json:"allow_departments,omitempty"`

	// AllowLinkedCorps lists the corp IDs of 互联企业/上下游 corps whose
	// members may enter (WeCom names them CorpId/userid). Refused otherwise.
	AllowLinkedCorps []string `json:"allow_linked_corps,omitempty"`

	// AllowCustomers admits the corp's customers (客户: WeCom gives an
	// external_userid) who are not members. Refused by default.
	AllowCustomers bool `json:"allow_customers,omitempty"`

	// AllowNonMembers admits anyone WeCom signs in who is not a member (an
	// openid only), customers included. Refused by default.
	AllowNonMembers bool `json:"allow_non_members,omitempty"`

	// DepartmentsTTL is how long the corp's department tree, which
	// AllowDepartments is resolved through, is kept (default 10m). A
	// member in a department the kept tree does not know fetches it again
	// (at most every 30s).
	DepartmentsTTL caddy.Duration `json:"departments_ttl,omitempty"`

	// APIBase is WeCom's JSON API base URL (default
	// https://qyapi.weixin.qq.com): point it at the simulator or an egress proxy.
	APIBase string `json:"api_base,omitempty"`

	// OpenBase is the in-client authorize page's base URL (default
	// https://open.weixin.qq.com).
	OpenBase string `json:"open_base,omitempty"`

	// LoginBase is the desktop login page's base URL (default
	// https://login.work.weixin.qq.com).
	LoginBase string `json:"login_base,omitempty"`
}

// The wecom scope settings, and the WeCom scopes they ask for.
const (
	wecomScopeBase        = "base"
	wecomScopePrivateInfo = "privateinfo"
)

const defaultWeComDepartmentsTTL = 10 * time.Minute

// setDefaults fills what the wecom block left out.
func (c *WeCom) setDefaults() {
	switch c.Scope {
	case "", wechat.WeComScopeBase:
		c.Scope = wecomScopeBase
	case wechat.WeComScopePrivateInfo:
		c.Scope = wecomScopePrivateInfo
	}
	if c.DepartmentsTTL == 0 {
		c.DepartmentsTTL = caddy.Duration(defaultWeComDepartmentsTTL)
	}
}

// wecomScope is the WeCom scope the authorize URL asks for.
func (c *WeCom) wecomScope() string {
	if c.Scope == wecomScopePrivateInfo {
		return wechat.WeComScopePrivateInfo
	}
	return wechat.WeComScopeBase
}

// validate holds the wecom block's value rules; placeholders not yet
// expanded ({env.…}) pass, and are checked again after expansion.
func (c *WeCom) validate() error {
	if c.CorpID == "" {
		return errors.New("wecom corp_id is empty: set the corp ID (企业微信管理后台 → 我的企业 → 企业信息 → 企业ID), e.g. wecom ww0123456789abcdef 1000002 {env.WECOM_SECRET}")
	}
	if !wecomUnexpanded(c.CorpID) && !validWeComID(c.CorpID) {
		return fmt.Errorf("wecom corp_id %q is not a corp ID: it looks like ww followed by letters and digits (企业微信管理后台 → 我的企业 → 企业信息 → 企业ID)", c.CorpID)
	}
	if !wecomUnexpanded(c.AgentID) {
		if n, err := strconv.ParseUint(c.AgentID, 10, 63); err != nil || n == 0 {
			return fmt.Errorf("wecom agent_id %q is not an AgentId: it is a number such as 1000002 (企业微信管理后台 → 应用管理 → the app → AgentId)", c.AgentID)
		}
	}
	if c.Secret == "" {
		return errors.New("wecom secret is empty: set the app's Secret (企业微信管理后台 → 应用管理 → the app → Secret), e.g. {env.WECOM_SECRET}")
	}
	if c.Scope != wecomScopeBase && c.Scope != wecomScopePrivateInfo {
		return fmt.Errorf("wecom scope %q is unknown: use base (silent: userid, name, departments) or privateinfo (the member confirms; adds mobile, email, gender, avatar)", c.Scope)
	}
	for _, u := range c.AllowUsers {
		if !validWeComUser(u) {
			return fmt.Errorf("wecom allow_users %q is not a userid: 1 to 64 letters, digits and _-@. starting with a letter or digit (a 互联企业 member as CorpId/userid), as 企业微信管理后台 → 通讯录 shows it under 账号", u)
		}
	}
	for _, d := range c.AllowDepartments {
		if d <= 0 {
			return fmt.Errorf("wecom allow_departments %d is not a department id: ids are positive numbers (企业微信管理后台 → 通讯录 → the department → 部门ID)", d)
		}
	}
	for _, corp := range c.AllowLinkedCorps {
		if !validWeComID(corp) {
			return fmt.Errorf("wecom allow_linked_corps %q is not a corp ID: write the linked corp's ID, the part before / in its members' userids", corp)
		}
		if strings.EqualFold(corp, c.CorpID) {
			return fmt.Errorf("wecom allow_linked_corps %s is this corp's own corp_id: list only other corps; this corp's members are admitted by allow_users and allow_departments", corp)
		}
	}
	if c.DepartmentsTTL < 0 {
		return fmt.Errorf("wecom departments_ttl %s is negative: use e.g. 10m", time.Duration(c.DepartmentsTTL))
	}
	for _, b := range []struct{ name, value string }{{"api_base", c.APIBase}, {"open_base", c.OpenBase}, {"login_base", c.LoginBase}} {
		if b.value == "" || wecomUnexpanded(b.value) {
			continue
		}
		if u, err := url.Parse(b.value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("wecom %s %q must be an http(s) URL such as https://qyapi.weixin.qq.com", b.name, b.value)
		}
	}
	return nil
}

// restricted reports whether an allow list limits which members may enter.
func (c *WeCom) restricted() bool { return len(c.AllowUsers) > 0 || len(c.AllowDepartments) > 0 }

func wecomUnexpanded(s string) bool { return strings.Contains(s, "{") }

// validWeComID is a corp ID's shape: letters and digits (ww… in practice).
func validWeComID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !wecomAlnum(s[i]) {
			return false
		}
	}
	return true
}

// validWeComUser is a userid's shape (WeCom's user/create: 1 to 64 bytes of
// letters, digits and _-@., the first a letter or digit), or a linked
// corp's member as CorpId/userid.
func validWeComUser(s string) bool {
	if corp, user, linked := strings.Cut(s, "/"); linked {
		return validWeComID(corp) && validWeComUser(user) && !strings.Contains(user, "/")
	}
	if s == "" || len(s) > 64 || !wecomAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !wecomAlnum(s[i]) && !strings.ContainsRune("_-@.", rune(s[i])) {
			return false
		}
	}
	return true
}

func wecomAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// expanded returns a copy of c with its placeholders expanded by expand
// (the handler's {env.*}/{file.*} expansion), checked again; the secret is
// expanded too and so lives only in the copy.
func (c *WeCom) expanded(expand func(setting, value string) (string, error)) (*WeCom, error) {
	out := *c
	for _, f := range []struct {
		name string
		v    *string
	}{{"wecom corp_id", &out.CorpID}, {"wecom agent_id", &out.AgentID}, {"wecom secret", &out.Secret},
		{"wecom api_base", &out.APIBase}, {"wecom open_base", &out.OpenBase}, {"wecom login_base", &out.LoginBase}} {
		v, err := expand(f.name, *f.v)
		if err != nil {
			return nil, err
		}
		*f.v = v
	}
	if out.Secret == "" {
		return nil, errors.New("wecom secret is empty after expansion: set the variable or file it names to the app's Secret (企业微信管理后台 → 应用管理 → the app → Secret)")
	}
	for _, f := range []struct{ name, v string }{{"corp_id", out.CorpID}, {"agent_id", out.AgentID}, {"api_base", out.APIBase},
		{"open_base", out.OpenBase}, {"login_base", out.LoginBase}} {
		if wecomUnexpanded(f.v) {
			return nil, fmt.Errorf("wecom %s %q still holds a placeholder after expansion: only {env.NAME} and {file./path} are expanded here", f.name, f.v)
		}
	}
	return &out, out.validate()
}

// client builds the WeCom API client for an expanded configuration.
func (c *WeCom) client(hc *http.Client, observe func(op string, took time.Duration, err error)) (*wechat.WeComClient, error) {
	return wechat.NewWeCom(wechat.WeComConfig{CorpID: c.CorpID, AgentID: c.AgentID, Secret: c.Secret,
		APIBase: c.APIBase, OpenBase: c.OpenBase, LoginBase: c.LoginBase, HTTPClient: hc, Observe: observe})
}
