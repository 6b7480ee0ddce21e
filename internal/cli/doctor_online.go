package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// The online checks ask WeChat (the configured api_base, nothing else) what
// it thinks of each account: the secret, this machine's IP, the menu.

// account is one AppID with the secret and API base its handlers use.
type account struct {
	AppID, Secret, APIBase string // as configured: placeholders unexpanded
	Sites                  []*authSite
}

func accountsOf(sites []*authSite) []*account {
	var out []*account
	idx := map[string]*account{}
	for _, s := range sites {
		if s.Auth.Relay != "" || s.Auth.AppSecret == "" {
			continue // a relay client has no secret; an empty one is reported offline
		}
		k := s.Auth.AppID + "\x00" + s.Auth.AppSecret + "\x00" + s.Auth.APIBase
		a := idx[k]
		if a == nil {
			a = &account{AppID: s.Auth.AppID, Secret: s.Auth.AppSecret, APIBase: s.Auth.APIBase}
			idx[k] = a
			out = append(out, a)
		}
		a.Sites = append(a.Sites, s)
	}
	return out
}

// expandSetting resolves {env.*} and {file.*} as Provision does. Its error
// names the setting, never the value (which may be a secret).
func expandSetting(setting, value string) (string, error) {
	out, err := caddy.NewReplacer().ReplaceOrErr(value, true, true)
	if err != nil || strings.TrimSpace(out) == "" {
		return "", fmt.Errorf("%s could not be expanded here: run the doctor with the environment (and files) Caddy runs with", setting)
	}
	return strings.TrimSpace(out), nil
}

func checkOnline(ctx context.Context, r *doctorReport, sites []*authSite, timeout time.Duration) {
	accounts := accountsOf(sites)
	perApp := map[string]int{}
	for _, a := range accounts {
		perApp[a.AppID]++
	}
	for _, a := range accounts {
		subject := "account " + a.AppID
		if perApp[a.AppID] > 1 {
			subject += " (" + a.Sites[0].Name() + ")"
			r.note("account "+a.AppID, "secret_differs", "sites of this account use different app_secret or api_base settings: at most one secret is current", "use the same app_secret {env.WECHAT_APP_SECRET} everywhere")
		}
		checkAccountOnline(ctx, r, subject, a, sites, timeout)
	}
}

func checkAccountOnline(ctx context.Context, r *doctorReport, subject string, a *account, sites []*authSite, timeout time.Duration) {
	if strings.Contains(a.AppID, "{") {
		r.unchecked(subject, "credentials", "credentials not checked: app_id could not be expanded here: run the doctor with the environment (and files) Caddy runs with", setFix("app_id", a.AppID))
		return
	}
	secret, err := expandSetting("app_secret", a.Secret)
	if err != nil {
		r.unchecked(subject, "credentials", "credentials not checked: "+err.Error(), setFix("app_secret", a.Secret))
		return
	}
	base := wechat.DefaultAPIBase
	if a.APIBase != "" {
		if base, err = expandSetting("api_base", a.APIBase); err != nil {
			r.unchecked(subject, "credentials", "credentials not checked: "+err.Error(), "")
			return
		}
	}
	client, err := wechat.New(wechat.Config{AppID: a.AppID, AppSecret: secret, APIBase: base, Timeout: timeout, MaxRetries: -1})
	if err != nil {
		r.unchecked(subject, "credentials", "credentials not checked: "+err.Error(), "fix app_id or api_base")
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 2*timeout)
	defer cancel()
	if _, err := client.BasicToken(cctx); err != nil {
		tokenProblem(r, subject, base, err)
		return
	}
	r.ok(subject, "credentials", "WeChat ("+base+") accepts the AppID and AppSecret and this machine's IP (cgi-bin/stable_token)")
	menu, err := client.GetMenu(cctx)
	switch wechat.Code(err) {
	case 0:
		if err != nil {
			r.unchecked(subject, "menu", "the menu could not be read: "+err.Error(), "")
			return
		}
		checkMenu(r, subject, menu, sites)
	case 46003:
		r.note(subject, "menu", "the account has no custom menu", "add buttons that open the protected sites with caddy wechat-menu push FILE")
	case 48001:
		r.problem(subject, "account_type", "WeChat refuses the menu API to this account (48001 api unauthorized): web authorization needs a verified 服务号 (service account); a 订阅号 cannot use it",
			"use a verified 服务号's AppID (公众平台 → 设置与开发 → 公众号设置 shows the account type), or a test account (测试号) for development")
	default:
		r.unchecked(subject, "menu", "the menu could not be read: "+err.Error(), "")
	}
}

// ipInMsg finds the caller IP WeChat puts into errmsg ("invalid ip 1.2.3.4 ipv6 …").
var ipInMsg = regexp.MustCompile(`\b(\d{1,3}(?:\.\d{1,3}){3})\b|ip ([0-9A-Fa-f:]*:[0-9A-Fa-f:.]+)`)

func callerIP(err error) string {
	var ae *wechat.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	m := ipInMsg.FindStringSubmatch(ae.Msg)
	switch {
	case m == nil:
		return ""
	case m[1] != "":
		return m[1]
	}
	return m[2]
}

// tokenProblem says what a failed cgi-bin/stable_token call means and what
// to change.
func tokenProblem(r *doctorReport, subject, base string, err error) {
	code := wechat.Code(err)
	ip := callerIP(err)
	seen := "this server's public IP"
	if ip != "" {
		seen = ip + " (the address WeChat saw)"
	}
	switch {
	case errors.Is(err, wechat.ErrRedirect):
		r.problem(subject, "api_base", "the API at "+base+" answered with a redirect, which neither the doctor nor the gateway follows (it would carry the AppSecret and login codes elsewhere): WeChat's API never redirects",
			"set api_base to WeChat's API ("+wechat.DefaultAPIBase+", the default: remove api_base) or to a proxy that answers the calls itself")
	case code == 40125 || code == 40001:
		r.problem(subject, "credentials", fmt.Sprintf("WeChat refused the AppSecret (errcode %d): it is wrong, or it was reset in the console, which ends the old one at once", code),
			"copy the current AppSecret from "+consoleSecret+" into the variable app_secret reads (e.g. WECHAT_APP_SECRET) and restart Caddy")
	case code == 40013:
		r.problem(subject, "credentials", "WeChat does not know this AppID (40013)", "copy the AppID (开发者ID) from "+consoleSecret+" into app_id")
	case code == 40243:
		r.problem(subject, "secret_frozen", "the AppSecret is frozen (40243): WeChat refuses every call made with it",
			"unfreeze it, or reset it and update the variable app_secret reads, at "+consoleSecret)
	case code == 40164 || code == 61004:
		r.problem(subject, "ip_whitelist", fmt.Sprintf("WeChat refused the call from %s (errcode %d): it is not in the account's API IP whitelist", seen, code),
			fmt.Sprintf("add %s to %s. Run the doctor where Caddy runs: behind NAT or an egress proxy, WeChat sees that address", orIP(ip), consoleIPList))
	case code >= 89501 && code <= 89505:
		r.problem(subject, "ip_confirm", fmt.Sprintf("calls from %s await the administrator's confirmation (errcode %d): WeChat holds them until then", seen, code),
			fmt.Sprintf("the account's administrator confirms the call in WeChat (the message from 公众平台安全助手); to avoid the question, add %s to %s. Then run the doctor again", orIP(ip), consoleIPList))
	case code == 89506:
		r.problem(subject, "ip_confirm", fmt.Sprintf("the administrator refused calls from %s twice (89506): WeChat blocks this IP for 24 hours", seen),
			fmt.Sprintf("add %s to %s, then retry after 24 hours", orIP(ip), consoleIPList))
	case code == 89507:
		r.problem(subject, "ip_confirm", fmt.Sprintf("the administrator refused a call from %s (89507): WeChat blocks this IP for 1 hour", seen),
			fmt.Sprintf("add %s to %s, then retry after an hour", orIP(ip), consoleIPList))
	case code == 48001:
		r.problem(subject, "account_type", "WeChat refuses this API to the account (48001): web authorization needs a verified 服务号", "use a verified 服务号's AppID")
	case code == 45009 || code == 45011 || code == -1:
		r.unchecked(subject, "credentials", "WeChat is busy or the API quota is used up ("+err.Error()+")", "run the doctor again later")
	default:
		r.unchecked(subject, "credentials", "WeChat at "+base+" could not be asked: "+err.Error(), "check api_base and this machine's network access to it")
	}
}

func orIP(ip string) string {
	if ip == "" {
		return "this server's public egress IP"
	}
	return ip
}

// checkMenu: every view button (and mini-program fallback URL) should open a
// site this configuration protects, or visitors arrive without a login.
func checkMenu(r *doctorReport, subject string, m *wechat.Menu, sites []*authSite) {
	n, bad := 0, 0
	var walk func(bs []wechat.Button, where string)
	walk = func(bs []wechat.Button, where string) {
		for i, b := range bs {
			at := fmt.Sprintf("%s[%d]", where, i)
			walk(b.SubButton, at+".sub_button")
			if b.URL == "" || (b.Type != "view" && b.Type != "miniprogram") {
				continue
			}
			n++
			u, err := url.Parse(b.URL)
			if err != nil || u.Hostname() == "" {
				bad++
				r.problem(subject, "menu_url", fmt.Sprintf("menu %s %q opens %q, which is not a URL", at, b.Name, b.URL), "fix the url in the menu file and push it with caddy wechat-menu push FILE")
				continue
			}
			if !protects(sites, strings.ToLower(u.Hostname())) {
				// A public page (an FAQ, the account's articles) is fine.
				bad++
				r.note(subject, "menu_url", fmt.Sprintf("menu %s %q opens %s, which no site of this configuration protects or relays for: visitors arrive there without a WeChat login (fine for a public page such as an FAQ)", at, b.Name, b.URL),
					"if that page needs the visitor's identity, point the button at a page of a protected site (edit the menu file, then caddy wechat-menu push FILE), or put that site behind wechat_auth")
			}
		}
	}
	walk(m.Button, "button")
	if bad == 0 {
		r.ok(subject, "menu", fmt.Sprintf("the menu's %d link button(s) open sites this configuration protects", n))
	}
}

func protects(sites []*authSite, host string) bool {
	for _, s := range sites {
		if s.Host == "" || s.Host == host || (strings.HasPrefix(s.Host, "*.") && strings.HasSuffix(host, s.Host[1:])) {
			return true
		}
		for _, rule := range s.Auth.RelayFor {
			if relayForAdmits(rule, "https", host, "") {
				return true
			}
		}
	}
	return false
}
