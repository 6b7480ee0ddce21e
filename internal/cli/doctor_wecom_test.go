package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The doctor on a WeCom site, with the simulator playing the corp as a real
// server: each console setting a sign-in depends on, broken the way an
// operator breaks it, is a problem naming the setting or console page.

// wecomSite is a correct WeCom site; %[1]s is the simulator's URL.
const wecomSite = `oa.example.com {
	handle /WW_verify_AbCdEfGh12345678.txt {
		respond "AbCdEfGh12345678"
	}
	handle {
		wechat_auth {
			session_keys {env.DOCTOR_TEST_HASH} {env.DOCTOR_TEST_BLOCK}
			wecom {env.WECOM_TEST_CORP} 1000002 {env.WECOM_TEST_SECRET} {
				allow_departments 2
				allow_users wangwu
				api_base %[1]s
			}
		}
		reverse_proxy 127.0.0.1:9
	}
}
`

// wecomDoctorCorp is DefaultCorp trusting oa.example.com, with a second app
// (1000003) whose Secret is "othersecret…".
func wecomDoctorCorp() wechattest.Corp {
	c := wechattest.DefaultCorp("")
	c.Apps[0].TrustedDomains = []string{"oa.example.com"}
	c.Apps = append(c.Apps, wechattest.CorpApp{AgentID: 1000003, Secret: "othersecret0123456789abcdefghijklmnopqrst", VisibleDepartments: []int64{1}})
	return c
}

type wecomDoctorCase struct {
	name    string
	site    string                      // default wecomSite
	corp    func(c *wechattest.Corp)    // edits wecomDoctorCorp
	env     map[string]string           // overrides WECOM_TEST_*
	prep    func(t *testing.T) []string // flags
	check   string
	level   string // default problem
	message []string
	fix     []string
	code    int
}

var wecomDoctorCases = []wecomDoctorCase{
	{name: "wrong Secret (40001)", env: map[string]string{"WECOM_TEST_SECRET": "wrongsecret0123456789abcdefghijklmnopqr"},
		check: "wecom_credentials", message: []string{"40001", "Secret"}, fix: []string{"应用管理", "secret", "WECOM_SECRET"}, code: 1},
	{name: "app disabled (40001 from gettoken)", corp: func(c *wechattest.Corp) { c.Apps[0].Disabled = true },
		check: "wecom_credentials", message: []string{"40001", "停用"}, fix: []string{"enabled"}, code: 1},
	{name: "unknown corp ID (40013)", env: map[string]string{"WECOM_TEST_CORP": "ww9999999999999999"},
		check: "wecom_credentials", message: []string{"40013", "corp ID"}, fix: []string{"我的企业 → 企业信息 → 企业ID", "corp_id"}, code: 1},
	{name: "IP not in 企业可信IP (60020) names the IP", corp: func(c *wechattest.Corp) { c.Apps[0].TrustedIPs = []string{"203.0.113.9"} },
		check: "wecom_ip", message: []string{"60020", "127.0.0.1 (the address WeCom saw)"}, fix: []string{"add 127.0.0.1 to", "企业可信IP"}, code: 1},
	{name: "Secret of another app (301002)", env: map[string]string{"WECOM_TEST_SECRET": "othersecret0123456789abcdefghijklmnopqrst"},
		check: "wecom_agent", message: []string{"301002", "1000002"}, fix: []string{"Secret of app 1000002", "agent_id"}, code: 1},
	{name: "app disabled (close 1 from agent/get)", site: strings.Replace(wecomSite, "api_base %[1]s", "api_base {env.WECOM_TEST_API_BASE}", 1),
		prep: func(t *testing.T) []string {
			// The simulator refuses a disabled app's token (40001, as WeCom
			// does), so only a stand-in reaches this check.
			t.Setenv("WECOM_TEST_API_BASE", wecomAPIWith(t, "/cgi-bin/agent/get", func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok","agentid":1000002,"close":1,"redirect_domain":"oa.example.com",`+
					`"allow_userinfos":{"user":[{"userid":"wangwu"}]},"allow_partys":{"partyid":[2]},"allow_tags":{"tagid":[]}}`)
			}))
			return nil
		}, check: "wecom_app", message: []string{"disabled (停用)"}, fix: []string{"enable it", "应用管理"}, code: 1},
	{name: "agent/get failing without an errcode names api_base", site: strings.Replace(wecomSite, "api_base %[1]s", "api_base {env.WECOM_TEST_API_BASE}", 1),
		prep: func(t *testing.T) []string {
			t.Setenv("WECOM_TEST_API_BASE", wecomAPIWith(t, "/cgi-bin/agent/get", func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "upstream down", http.StatusBadGateway)
			}))
			return nil
		}, check: "wecom_agent", level: levelUnchecked, message: []string{"502"}, fix: []string{"api_base", "again"}, code: 2},
	{name: "可信域名 is another host", corp: func(c *wechattest.Corp) { c.Apps[0].TrustedDomains = []string{"oa.example.com:8443"} },
		check: "wecom_domain", message: []string{"oa.example.com:8443", "50001", "port included"}, fix: []string{"可信域名 to oa.example.com", "网页授权及JS-SDK"}, code: 1},
	{name: "behind a trusted proxy the 可信域名 is the host visitors use, not Caddy's port",
		site:  "{\n\tservers {\n\t\ttrusted_proxies static private_ranges\n\t}\n}\n" + strings.Replace(wecomSite, "oa.example.com {", "http://oa.example.com:8080 {", 1),
		check: "wecom_domain", level: levelOK, message: []string{"oa.example.com is the app's 可信域名"}, code: 0},
	{name: "no 可信域名", corp: func(c *wechattest.Corp) { c.Apps[0].TrustedDomains = nil },
		check: "wecom_domain", message: []string{"no 可信域名", "50001"}, fix: []string{"oa.example.com", "WW_verify"}, code: 1},
	{name: "empty visible range", corp: func(c *wechattest.Corp) { c.Apps[0].VisibleDepartments, c.Apps[0].VisibleUsers = nil, nil },
		check: "wecom_range", message: []string{"可见范围", "empty"}, fix: []string{"可见范围"}, code: 1},
	{name: "allow_departments outside the visible range", site: strings.Replace(wecomSite, "allow_departments 2", "allow_departments 2 4", 1),
		check: "wecom_range", message: []string{"allow_departments 4", "outside the app's visible range"}, fix: []string{"department 4", "可见范围"}, code: 1},
	{name: "allow_departments above the visible range admits the departments under it", site: strings.Replace(wecomSite, "allow_departments 2", "allow_departments 1", 1),
		check: "wecom_range", level: levelOK, message: []string{"covers every allow_users and allow_departments entry"}, code: 0},
	{name: "allow_users outside the visible range (60011)", site: strings.Replace(wecomSite, "allow_users wangwu", "allow_users wangwu lisi", 1),
		check: "wecom_range", message: []string{"allow_users lisi", "60011"}, fix: []string{"add lisi", "可见范围"}, code: 1},
	{name: "allow_users names no member (60111)", site: strings.Replace(wecomSite, "allow_users wangwu", "allow_users 王五", 1),
		check: "wecom_range", message: []string{"allow_users 王五", "60111"}, fix: []string{"userid"}, code: 1},
	{name: "api_base that redirects: the Secret is not taken along", site: strings.Replace(wecomSite, "api_base %[1]s", "api_base {env.WECOM_TEST_API_BASE}", 1),
		prep: func(t *testing.T) []string {
			var taken atomic.Int32 // requests that reached the redirect's target
			elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { taken.Add(1) }))
			moved := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusFound)
			}))
			t.Cleanup(func() {
				moved.Close()
				elsewhere.Close()
				if n := taken.Load(); n != 0 {
					t.Errorf("the doctor followed the API's redirect %d time(s), taking the corpsecret along", n)
				}
			})
			t.Setenv("WECOM_TEST_API_BASE", moved.URL)
			return nil
		}, check: "wecom_api_base", message: []string{"redirect"}, fix: []string{"api_base", "https://qyapi.weixin.qq.com"}, code: 1},
	{name: "Secret written into the Caddyfile", site: strings.Replace(wecomSite, "{env.WECOM_TEST_SECRET}", wechattest.DefaultAgentSecret, 1),
		check: "secret_in_config", message: []string{"wecom block's secret", "caddy adapt"}, fix: []string{"{env.WECOM_SECRET}"}, code: 1},
	{name: "Secret written as {$VAR} lands in the adapted JSON", site: strings.Replace(wecomSite, "{env.WECOM_TEST_SECRET}", "{$WECOM_TEST_SECRET}", 1),
		check: "secret_in_config", message: []string{"wecom block's secret", "{$VAR}"}, fix: []string{"{env.WECOM_SECRET}"}, code: 1},
	{name: "Secret written as {$VAR} whose variable is not set", site: strings.Replace(wecomSite, "{env.WECOM_TEST_SECRET}", "{$WECOM_TEST_UNSET_SECRET}", 1),
		check: "secret_in_config", message: []string{"{$VAR}", "not set"}, fix: []string{"{env.WECOM_SECRET}"}, code: 1},
	{name: "WW_verify answered by wechat_auth", site: strings.Replace(wecomSite, "\thandle /WW_verify_AbCdEfGh12345678.txt {\n\t\trespond \"AbCdEfGh12345678\"\n\t}\n", "", 1),
		check: "wecom_verify", message: []string{"wechat_auth", "/WW_verify_<16 characters>.txt", "可信域名"}, fix: []string{"handle /WW_verify_*.txt"}, code: 1},
	{name: "WW_verify content differs from --wecom-verify-file",
		prep: func(t *testing.T) []string {
			p := filepath.Join(t.TempDir(), "WW_verify_AbCdEfGh12345678.txt")
			_ = os.WriteFile(p, []byte("ZZZZEfGh12345678"), 0o600)
			return []string{"--wecom-verify-file", p}
		}, check: "wecom_verify", message: []string{"other than the file's 16 characters"}, code: 1},
}

func TestWechatDoctorChecksAWeComAppsConsoleSettingsAgainstTheSimulator(t *testing.T) {
	t.Run("correct", func(t *testing.T) {
		run := runWeComDoctor(t, wecomDoctorCase{})
		if run.code != doctorExitOK {
			t.Fatalf("exit %d on a correct WeCom site:\n%s", run.code, run.out)
		}
		for _, check := range []string{"wecom_credentials", "wecom_ip", "wecom_domain", "wecom_range", "wecom_verify"} {
			if f := run.find(check); len(f) != 1 || f[0].Level != levelOK {
				t.Errorf("%s: %+v, want one ok:\n%s", check, f, run.out)
			}
		}
	})
	for _, tc := range wecomDoctorCases {
		t.Run(tc.name, func(t *testing.T) {
			run := runWeComDoctor(t, tc)
			if run.code != tc.code {
				t.Errorf("exit %d, want %d", run.code, tc.code)
			}
			level := tc.level
			if level == "" {
				level = levelProblem
			}
			for _, f := range run.find(tc.check) {
				if f.Level == level && containsAll(f.Message, tc.message) && containsAll(f.Fix, tc.fix) {
					return
				}
			}
			t.Fatalf("no %s finding %q with message %q and fix %q:\n%s", level, tc.check, tc.message, tc.fix, run.out)
		})
	}
}

// runWeComDoctor runs the doctor on tc's site against a simulator playing
// wecomDoctorCorp as tc edits it.
func runWeComDoctor(t *testing.T, tc wecomDoctorCase) doctorRun {
	t.Helper()
	corp := wecomDoctorCorp()
	if tc.corp != nil {
		tc.corp(&corp)
	}
	sim := wechattest.NewServer(wechattest.WithCorp(corp))
	t.Cleanup(sim.Close)
	setDoctorEnv(t, wechattest.DefaultAppSecret)
	env := map[string]string{"WECOM_TEST_CORP": wechattest.DefaultCorpID, "WECOM_TEST_SECRET": wechattest.DefaultAgentSecret}
	for k, v := range tc.env {
		env[k] = v
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	site := tc.site
	if site == "" {
		site = wecomSite
	}
	var args []string
	if tc.prep != nil {
		args = tc.prep(t)
	}
	run := runDoctorOn(t, sim, one(site), args...)
	for _, secret := range corp.Apps {
		if strings.Contains(run.out, secret.Secret) {
			t.Errorf("the report prints app %d's Secret:\n%s", secret.AgentID, run.out)
		}
	}
	if strings.Contains(run.out, env["WECOM_TEST_SECRET"]) { // a wrong one is no app's
		t.Errorf("the report prints the configured Secret:\n%s", run.out)
	}
	return run
}

// wecomAPIWith is WeCom for wecomDoctorCorp (a simulator behind a proxy),
// except that path gets answer: what the simulator cannot be made to say.
func wecomAPIWith(t *testing.T, path string, answer http.HandlerFunc) string {
	sim := wechattest.NewServer(wechattest.WithCorp(wecomDoctorCorp()))
	target, _ := url.Parse(sim.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			answer(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { front.Close(); sim.Close() })
	return front.URL
}
