package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// The online checks of WeCom sites ask WeCom (the wecom block's api_base,
// nothing else) what it thinks of the app: the corp ID and Secret
// (gettoken), this machine's IP (企业可信IP, 60020 on a data call), and
// the app as agent/get describes it: disabled or not, its 可信域名 against
// each site's callback host, its visible range against allow_users and
// allow_departments.

// Where a WeCom app's settings live in the admin console.
const (
	wecomConsoleCorp   = "企业微信管理后台 (work.weixin.qq.com) → 我的企业 → 企业信息 → 企业ID"
	wecomConsoleApp    = "企业微信管理后台 → 应用管理 → 自建 → the app"
	wecomConsoleDomain = wecomConsoleApp + " → 网页授权及JS-SDK → 可信域名 (and 企业微信授权登录 → Web网页 → 授权回调域 for the QR sign-in)"
	wecomConsoleIP     = wecomConsoleApp + " → 企业可信IP"
	wecomConsoleRange  = wecomConsoleApp + " → 可见范围"
)

// wecomAllowUsersChecked bounds the user/get calls for allow_users.
const wecomAllowUsersChecked = 20

// wecomApp is one WeCom app (corp, agent, secret, API base) and its sites.
type wecomApp struct {
	CorpID, AgentID, Secret, APIBase string // as configured: placeholders unexpanded
	Sites                            []*authSite
}

func wecomAppsOf(sites []*authSite) []*wecomApp {
	var out []*wecomApp
	idx := map[string]*wecomApp{}
	for _, s := range sites {
		w := s.Auth.WeCom
		k := strings.Join([]string{w.CorpID, w.AgentID, w.Secret, w.APIBase}, "\x00")
		a := idx[k]
		if a == nil {
			a = &wecomApp{CorpID: w.CorpID, AgentID: w.AgentID, Secret: w.Secret, APIBase: w.APIBase}
			idx[k] = a
			out = append(out, a)
		}
		a.Sites = append(a.Sites, s)
	}
	return out
}

func checkWeComOnline(ctx context.Context, r *doctorReport, sites []*authSite, timeout time.Duration) {
	for _, a := range wecomAppsOf(sites) {
		checkWeComAppOnline(ctx, r, a, timeout)
	}
}

// wecomClient expands the app's settings as Provision does; "" subject
// means it could not, and said why.
func wecomClient(r *doctorReport, a *wecomApp, timeout time.Duration) (string, *wechat.WeComClient) {
	subject := "WeCom app " + a.CorpID + "/" + a.AgentID
	values := map[string]*string{"wecom corp_id": &a.CorpID, "wecom agent_id": &a.AgentID, "wecom secret": &a.Secret}
	expanded := map[string]string{}
	for _, setting := range sortedKeys(values) {
		v, err := expandSetting(setting, *values[setting])
		if err != nil {
			r.unchecked(subject, "wecom_credentials", "WeCom's settings not checked: "+err.Error(), "")
			return "", nil
		}
		expanded[setting] = v
	}
	subject = "WeCom app " + expanded["wecom corp_id"] + "/" + expanded["wecom agent_id"]
	base := wechat.DefaultWeComAPIBase
	if a.APIBase != "" {
		v, err := expandSetting("wecom api_base", a.APIBase)
		if err != nil {
			r.unchecked(subject, "wecom_credentials", "WeCom's settings not checked: "+err.Error(), "")
			return "", nil
		}
		base = v
	}
	c, err := wechat.NewWeCom(wechat.WeComConfig{CorpID: expanded["wecom corp_id"], AgentID: expanded["wecom agent_id"],
		Secret: expanded["wecom secret"], APIBase: base, Timeout: timeout, MaxRetries: -1})
	if err != nil {
		r.unchecked(subject, "wecom_credentials", "WeCom's settings not checked: "+err.Error(), "fix the wecom block")
		return "", nil
	}
	return subject, c
}

func checkWeComAppOnline(ctx context.Context, r *doctorReport, a *wecomApp, timeout time.Duration) {
	subject, c := wecomClient(r, a, timeout)
	if c == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 4*timeout)
	defer cancel()
	if _, err := c.Token(cctx); err != nil {
		wecomTokenProblem(r, subject, err)
		return
	}
	r.ok(subject, "wecom_credentials", "WeCom accepts the corp ID and the app's Secret (cgi-bin/gettoken)")
	agent, err := c.Agent(cctx)
	if err != nil {
		wecomAgentProblem(r, subject, c.AgentID(), err)
		return
	}
	r.ok(subject, "wecom_ip", "WeCom answers this machine's data calls (cgi-bin/agent/get): its IP is in the app's 企业可信IP, or the app has none")
	if agent.Close == 1 {
		r.problem(subject, "wecom_app", "the app is disabled (停用): WeCom signs no one in through it", "enable it in "+wecomConsoleApp)
	}
	for _, s := range a.Sites {
		checkWeComDomain(r, s, agent.RedirectDomain)
	}
	checkWeComRange(cctx, r, subject, c, agent, a.Sites)
}

// wecomTokenProblem says what a failed gettoken means and what to change.
func wecomTokenProblem(r *doctorReport, subject string, err error) {
	switch code := wechat.Code(err); {
	case errors.Is(err, wechat.ErrRedirect):
		r.problem(subject, "wecom_api_base", "WeCom's API answered with a redirect, which neither the doctor nor the gateway follows: WeCom's API never redirects",
			"set the wecom block's api_base to "+wechat.DefaultWeComAPIBase+" (the default: remove it) or to a proxy that answers the calls itself")
	case code == 40013:
		r.problem(subject, "wecom_credentials", "WeCom does not know this corp ID (40013)", "copy the corp ID from "+wecomConsoleCorp+" into the wecom block's corp_id")
	case code == 40001:
		r.problem(subject, "wecom_credentials", "WeCom refused the app's Secret (40001): it is wrong, belongs to another corp, was reset in the console, or the app is disabled (停用)",
			"copy the Secret from "+wecomConsoleApp+" → Secret (查看) into the variable the wecom block's secret reads (e.g. WECOM_SECRET) and restart Caddy; a disabled app is enabled on the same page")
	case code == 60020:
		wecomIPProblem(r, subject, err)
	case code == -1:
		r.unchecked(subject, "wecom_credentials", "WeCom is busy ("+err.Error()+")", "run the doctor again later")
	default:
		r.unchecked(subject, "wecom_credentials", "WeCom could not be asked: "+err.Error(), wecomCallFix(err))
	}
}

// wecomCallFix is the fix of a WeCom call that failed otherwise than the
// checks expect: a known errcode's hint is in the message already
// (wechat.APIError), an unknown one is WeCom's to explain, and no answer,
// or not WeCom's, points at api_base.
func wecomCallFix(err error) string {
	var ae *wechat.APIError
	switch {
	case errors.As(err, &ae) && ae.Hint() != "":
		return ""
	case ae != nil:
		return fmt.Sprintf("look errcode %d up in WeCom's 全局错误码 (https://open.work.weixin.qq.com/devtool/query?e=%d, the address WeCom's errmsg gives) and fix what it names", ae.Code, ae.Code)
	}
	return "run the doctor again; if it fails the same way, check the wecom block's api_base (" + wechat.DefaultWeComAPIBase + " unless a proxy stands in) and this machine's network access to it"
}

func wecomAgentProblem(r *doctorReport, subject, agentID string, err error) {
	switch wechat.Code(err) {
	case 60020:
		wecomIPProblem(r, subject, err)
	case 301002:
		r.problem(subject, "wecom_agent", "the Secret is another app's than agent_id "+agentID+" (301002): WeCom gives each app's Secret a token for that app only, so its sign-in codes cannot be redeemed",
			"set the wecom block's secret to the Secret of app "+agentID+" ("+wecomConsoleApp+" → Secret), or agent_id to the AgentId of the app whose Secret it is")
	case 40056:
		r.problem(subject, "wecom_agent", "WeCom knows no app "+agentID+" in this corp (40056)", "copy the AgentId from "+wecomConsoleApp+" into the wecom block's agent_id")
	default:
		r.unchecked(subject, "wecom_agent", "the app's settings could not be read (cgi-bin/agent/get): "+err.Error(), wecomCallFix(err))
	}
}

// wecomIPProblem reports 60020; WeCom's errmsg names the IP it saw.
func wecomIPProblem(r *doctorReport, subject string, err error) {
	ip := callerIP(err)
	seen := "this server's public IP"
	if ip != "" {
		seen = ip + " (the address WeCom saw)"
	}
	r.problem(subject, "wecom_ip", fmt.Sprintf("WeCom refused data calls from %s (60020): it is not in the app's 企业可信IP, so every sign-in fails after the member authorizes", seen),
		fmt.Sprintf("add %s to %s (it takes effect after about a minute). Run the doctor where Caddy runs: behind NAT or an egress proxy, WeCom sees that address", orIP(ip), wecomConsoleIP))
}

// checkWeComDomain compares the site's callback host (port included when
// not the scheme's default) with the app's 可信域名: WeCom refuses any other
// redirect host (50001). Behind trusted_proxies the callback's host is the
// proxy's X-Forwarded-Host, the name visitors use, not Caddy's own port.
func checkWeComDomain(r *doctorReport, s *authSite, domain string) {
	if s.Host == "" {
		r.unchecked(s.Name(), "wecom_domain", "the site has no host, so its callback host is whatever the visitor typed: the doctor cannot compare it with the app's 可信域名", "give the site its host name")
		return
	}
	host := s.Host
	if s.Port != "" && !s.Trusted {
		host = net.JoinHostPort(host, s.Port)
	}
	got := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(domain), "https://"), "http://"), "/"))
	switch {
	case got == "":
		r.problem(s.Name(), "wecom_domain", "the app has no 可信域名: WeCom refuses every sign-in callback (50001)",
			"set the 可信域名 to "+host+" in "+wecomConsoleDomain+", and serve the WW_verify_….txt file it asks for at the site's root")
	case got != strings.ToLower(host):
		r.problem(s.Name(), "wecom_domain", fmt.Sprintf("the app's 可信域名 is %s, but this site's callback is on %s: WeCom refuses it (50001 redirect_uri需使用应用可信域名; the host must match exactly, port included)", got, host),
			"set the 可信域名 to "+host+" in "+wecomConsoleDomain+", or serve the site on "+got)
	case s.Trusted && s.Port != "":
		r.ok(s.Name(), "wecom_domain", "the callback host "+host+" is the app's 可信域名, as long as the trusted proxy in front sends X-Forwarded-Host "+host+" (Caddy itself listens on port "+s.Port+")")
	default:
		r.ok(s.Name(), "wecom_domain", "the callback host "+host+" is the app's 可信域名")
	}
}

// checkWeComRange checks the visible range: someone must be in it, and so
// must the members and departments the sites admit.
func checkWeComRange(ctx context.Context, r *doctorReport, subject string, c *wechat.WeComClient, agent *wechat.WeComAgent, sites []*authSite) {
	if agent.VisibleNobody() {
		r.problem(subject, "wecom_range", "the app's visible range (可见范围) is empty: WeCom signs members in, but the gateway refuses them all (60011 from user/get)",
			"add the departments and members who need the sites to "+wecomConsoleRange)
		return
	}
	var users []string
	var depts []int64
	for _, s := range sites {
		for _, u := range s.Auth.WeCom.AllowUsers {
			if !strings.Contains(u, "/") && !slices.ContainsFunc(users, func(x string) bool { return strings.EqualFold(x, u) }) {
				users = append(users, u) // a 互联企业 member is not read through user/get
			}
		}
		for _, d := range s.Auth.WeCom.AllowDepartments {
			if !slices.Contains(depts, d) {
				depts = append(depts, d)
			}
		}
	}
	bad, unsure := 0, false
	if len(depts) > 0 {
		tree, err := c.Departments(ctx, 0)
		if err != nil {
			unsure = true
			r.unchecked(subject, "wecom_range", "the departments the app sees could not be listed (cgi-bin/department/simplelist): "+err.Error(), wecomCallFix(err))
		}
		for _, d := range depts {
			// The gateway admits a member whose department is d or under it
			// as the app sees the tree (wechat.WithinDepartments): d itself
			// may be above the visible range, as the whole company (1) is.
			if err == nil && !slices.ContainsFunc(tree, func(x wechat.WeComDepartment) bool { return wechat.WithinDepartments([]int64{x.ID}, []int64{d}, tree) }) {
				bad++
				r.problem(subject, "wecom_range", fmt.Sprintf("allow_departments %d is outside the app's visible range (or is no department): its members are refused", d),
					fmt.Sprintf("add department %d (or a department above it) to %s, or fix the id in allow_departments (通讯录 → the department → 部门ID)", d, wecomConsoleRange))
			}
		}
	}
	if len(users) > wecomAllowUsersChecked {
		r.note(subject, "wecom_range", fmt.Sprintf("only the first %d of %d allow_users entries were looked up", wecomAllowUsersChecked, len(users)), "")
		users = users[:wecomAllowUsersChecked]
	}
	for _, u := range users {
		_, err := c.User(ctx, u)
		switch wechat.Code(err) {
		case 0:
			if err != nil {
				unsure = true
				r.unchecked(subject, "wecom_range", "allow_users "+u+" could not be looked up: "+err.Error(), wecomCallFix(err))
			}
		case 60111:
			bad++
			r.problem(subject, "wecom_range", "allow_users "+u+" is no member of the corp (60111 userid not found)", "write the member's 账号 (userid) from 通讯录 → the member, not their name")
		case 60011, 60021:
			bad++
			r.problem(subject, "wecom_range", "allow_users "+u+" is outside the app's visible range ("+strconv.Itoa(wechat.Code(err))+"): they are refused",
				"add "+u+" or their department to "+wecomConsoleRange)
		default:
			unsure = true
			r.unchecked(subject, "wecom_range", "allow_users "+u+" could not be looked up: "+err.Error(), wecomCallFix(err))
		}
	}
	if bad == 0 && !unsure {
		r.ok(subject, "wecom_range", fmt.Sprintf("the app's visible range has %d department(s), %d member(s) and %d tag(s), and covers every allow_users and allow_departments entry",
			len(agent.AllowParties.PartyID), len(agent.AllowUserInfos.User), len(agent.AllowTags.TagID)))
	}
}
