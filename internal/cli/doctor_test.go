package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The doctor tests run the wechat-doctor cobra command against Caddyfiles in
// a temp dir, with a real simulator (wechattest.NewServer) as every site's
// api_base and its fault injection standing in for what WeChat answers.

const (
	doctorHashKey  = "aGFzaGtleWhhc2hrZXloYXNoa2V5aGFzaGtleWhhc2g="
	doctorBlockKey = "YmxvY2trZXlibG9ja2tleWJsb2Nra2V5YmxvY2trZXk="
)

// goodSite is a correct site; %[1]s is the simulator's URL.
const goodSite = `wx.example.com {
	handle /MP_verify_0123456789abcdef.txt {
		respond "0123456789abcdef"
	}
	handle {
		wechat_auth {
			app_id {env.DOCTOR_TEST_APP_ID}
			app_secret {env.DOCTOR_TEST_SECRET}
			session_keys {env.DOCTOR_TEST_HASH} {env.DOCTOR_TEST_BLOCK}
			api_base %[1]s
		}
		reverse_proxy 127.0.0.1:9
	}
}
`

// siteWith is a site like goodSite with another address and extra wechat_auth lines.
func siteWith(address, extra string) string {
	s := strings.Replace(goodSite, "wx.example.com {", address+" {", 1)
	return strings.Replace(s, "\t\t\tapi_base %[1]s\n", "\t\t\tapi_base %[1]s\n"+extra, 1)
}

// flatSite is goodSite without handle blocks: wechat_auth and the other
// directives side by side, Caddy ordering them; first comes before them.
func flatSite(first string) string {
	s := strings.NewReplacer("\thandle /MP_verify_0123456789abcdef.txt {\n\t\trespond \"0123456789abcdef\"\n\t}\n", "\t"+first+"\n",
		"\thandle {\n", "", "\t}\n}\n", "}\n").Replace(goodSite)
	return s
}

type doctorRun struct {
	code   int
	out    string
	report struct {
		ExitCode int          `json:"exit_code"`
		Sites    []reportSite `json:"sites"`
		Findings []finding    `json:"findings"`
	}
}

// runDoctorOn writes the files (%[1]s → the simulator's URL), runs the
// command with --json and args, and parses the report.
func runDoctorOn(t *testing.T, sim *wechattest.Server, files map[string]string, args ...string) doctorRun {
	t.Helper()
	dir := t.TempDir()
	var run doctorRun
	var all []string
	for _, name := range sortedKeys(files) {
		p := filepath.Join(dir, name)
		body := strings.ReplaceAll(files[name], "%[1]s", sim.URL)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		all = append(all, "--config", p)
	}
	var stdout, stderr bytes.Buffer
	run.code = runDoctorArgs(context.Background(), append(append(all, "--json"), args...), &stdout, &stderr)
	run.out = stdout.String() + stderr.String()
	if err := json.Unmarshal(stdout.Bytes(), &run.report); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, run.out)
	}
	if run.report.ExitCode != run.code {
		t.Errorf("the report says exit_code %d, the command returned %d", run.report.ExitCode, run.code)
	}
	for _, secret := range []string{wechattest.DefaultAppSecret, doctorHashKey, doctorBlockKey, "wrong-secret-0123456789abcdef01", "hunter2-store-password"} {
		if strings.Contains(run.out, secret) {
			t.Errorf("the report prints a secret:\n%s", run.out)
		}
	}
	return run
}

func (r doctorRun) find(check string) []finding {
	var out []finding
	for _, f := range r.report.Findings {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

func setDoctorEnv(t *testing.T, secret string) {
	t.Setenv("DOCTOR_TEST_APP_ID", wechattest.DefaultAppID)
	t.Setenv("DOCTOR_TEST_SECRET", secret)
	t.Setenv("DOCTOR_TEST_HASH", doctorHashKey)
	t.Setenv("DOCTOR_TEST_BLOCK", doctorBlockKey)
	t.Setenv("HOME", t.TempDir())
}

// pushMenu gives the simulator's account a menu with one view button to url.
func pushMenu(t *testing.T, sim *wechattest.Server, url string) {
	t.Helper()
	c, err := wechat.New(wechat.Config{AppID: wechattest.DefaultAppID, AppSecret: wechattest.DefaultAppSecret, APIBase: sim.URL})
	if err != nil {
		t.Fatal(err)
	}
	m := &wechat.Menu{Button: []wechat.Button{{Type: "view", Name: "绑定手机", URL: url}, {Type: "click", Name: "帮助", Key: "help"}}}
	if err := c.CreateMenu(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func TestWechatDoctorIsRegisteredAsCaddyCommand(t *testing.T) {
	cmd, ok := caddycmd.Commands()["wechat-doctor"]
	if !ok || cmd.CobraFunc == nil || cmd.Short == "" || !strings.Contains(cmd.Usage, "--config") {
		t.Fatalf("wechat-doctor not registered: %+v", cmd)
	}
}

func TestWechatDoctorPassesACorrectConfiguration(t *testing.T) {
	sim := wechattest.NewServer()
	defer sim.Close()
	setDoctorEnv(t, wechattest.DefaultAppSecret)
	pushMenu(t, sim, "https://wx.example.com/bind")
	run := runDoctorOn(t, sim, map[string]string{"Caddyfile": goodSite})
	if run.code != doctorExitOK {
		t.Fatalf("exit %d, want 0:\n%s", run.code, run.out)
	}
	for _, check := range []string{"callback", "mp_verify", "session_keys", "credentials", "menu", "domain_count"} {
		if fs := run.find(check); len(fs) == 0 || fs[0].Level != levelOK {
			t.Errorf("check %s: %+v, want ok\n%s", check, fs, run.out)
		}
	}
	if len(run.report.Sites) != 1 || run.report.Sites[0].Callback != "https://wx.example.com/wechat_auth/callback" {
		t.Errorf("sites: %+v", run.report.Sites)
	}
}

// doctorCase is a broken configuration and what the doctor must say.
type doctorCase struct {
	name    string
	files   map[string]string
	secret  string                      // DOCTOR_TEST_SECRET; default the simulator's
	menuURL string                      // the account's menu view button; default a protected page
	fault   *wechattest.Fault           // answered by cgi-bin/stable_token
	args    []string                    // extra flags
	prep    func(t *testing.T) []string // more flags, computed
	check   string                      // the finding that must appear
	level   string                      // its level; default problem
	message []string                    // substrings of its message
	fix     []string                    // substrings of its fix
	code    int                         // exit status
}

func one(s string) map[string]string { return map[string]string{"Caddyfile": s} }

func withClientIP(f wechattest.Fault, ip string) *wechattest.Fault {
	f.ClientIP = ip
	return &f
}

var doctorCases = []doctorCase{
	{name: "IP address as host", files: one(siteWith("203.0.113.10", "")),
		check: "callback_ip", message: []string{"203.0.113.10", "10003"}, fix: []string{"domain name", "网页授权域名"}, code: 1},
	{name: "port in the callback", files: one(siteWith("wx.example.com:8443", "")),
		check: "callback_port", message: []string{"https://wx.example.com:8443/wechat_auth/callback", "10003"}, fix: []string{"443", "trusted_proxies"}, code: 1},
	{name: "third callback domain", files: one(goodSite + siteWith("b.example.com", "") + siteWith("c.example.com", "")),
		check: "domain_count", message: []string{"3 sites", "b.example.com, c.example.com, wx.example.com", "at most 2"}, fix: []string{"relay"}, code: 1},
	{name: "http behind an untrusted proxy (10039)", files: one(siteWith("http://wx.example.com", "")),
		check: "callback_scheme", message: []string{"http://wx.example.com/wechat_auth/callback", "10039"}, fix: []string{"trusted_proxies static"}, code: 1},
	{name: "MP_verify missing", files: one(flatSite("")),
		check: "mp_verify", message: []string{"no MP_verify file", "403"}, fix: []string{"handle /MP_verify_", "respond"}, code: 1},
	{name: "MP_verify shadowed by wechat_auth (the old Caddyfile.example)", files: one(flatSite(`respond /MP_verify_0123456789abcdef.txt "0123456789abcdef"`)),
		check: "mp_verify", message: []string{"403", "/MP_verify_0123456789abcdef.txt", "runs before a respond"}, fix: []string{"handle /MP_verify_0123456789abcdef.txt"}, code: 1},
	{name: "MP_verify content differs from --verify-file", files: one(goodSite),
		prep: func(t *testing.T) []string {
			p := filepath.Join(t.TempDir(), "MP_verify_0123456789abcdef.txt")
			_ = os.WriteFile(p, []byte("fedcba9876543210"), 0o600)
			return []string{"--verify-file", p}
		}, check: "mp_verify", message: []string{"other than the file's 16 characters"}, fix: []string{"exactly"}, code: 1},
	{name: "{$X} secret leaks into adapted JSON", files: one(strings.Replace(goodSite, "{env.DOCTOR_TEST_SECRET}", "{$DOCTOR_TEST_SECRET}", 1)),
		check: "secret_in_config", message: []string{"{$VAR}", "caddy adapt"}, fix: []string{"{env.WECHAT_APP_SECRET}"}, code: 1},
	{name: "Redis password in the store URL leaks into adapted JSON", files: one("{\n\twechat {\n\t\tstore redis://:hunter2-store-password@127.0.0.1:6379/0\n\t}\n}\n" + goodSite),
		check: "secret_in_config", message: []string{"store URL", "password"}, fix: []string{"{env.WECHAT_STORE}"}, code: 1},
	{name: "Sentinel data-node password in the store URL's query leaks into adapted JSON", files: one("{\n\twechat {\n\t\tstore redis://127.0.0.1:26379/0?master_name=mymaster&password=hunter2-data-password\n\t}\n}\n" + goodSite),
		check: "secret_in_config", message: []string{"store URL", "password"}, fix: []string{"{env.WECHAT_STORE}"}, code: 1},
	{name: "session keys missing on one replica of a pair", files: map[string]string{
		"replica-a.Caddyfile": goodSite,
		"replica-b.Caddyfile": strings.Replace(goodSite, "\t\t\tsession_keys {env.DOCTOR_TEST_HASH} {env.DOCTOR_TEST_BLOCK}\n", "", 1)},
		check: "session_keys", message: []string{"replica-b.Caddyfile", "other replicas"}, fix: []string{"session_keys {env.WECHAT_SESSION_HASH_KEY}", "same values on every replica"}, code: 1},
	{name: "session keys differ between replicas", files: map[string]string{
		"replica-a.Caddyfile": goodSite,
		"replica-b.Caddyfile": strings.Replace(goodSite, "{env.DOCTOR_TEST_HASH}", "{env.DOCTOR_TEST_OTHER_HASH}", 1)},
		check: "session_keys", message: []string{"different session_keys", "replica-a.Caddyfile", "replica-b.Caddyfile"}, fix: []string{"same values"}, code: 1},
	{name: "wrong AppSecret (40125)", files: one(goodSite), secret: "wrong-secret-0123456789abcdef01",
		check: "credentials", message: []string{"40125", "AppSecret"}, fix: []string{"微信开发者平台", "WECHAT_APP_SECRET"}, code: 1},
	{name: "AppSecret frozen (40243)", files: one(goodSite), fault: &wechattest.FaultSecretFrozen,
		check: "secret_frozen", message: []string{"40243"}, fix: []string{"unfreeze", "微信开发者平台"}, code: 1},
	{name: "IP not whitelisted (40164) names the IP", files: one(goodSite), fault: withClientIP(wechattest.FaultIPNotWhitelisted, "203.0.113.7"),
		check: "ip_whitelist", message: []string{"203.0.113.7", "40164"}, fix: []string{"add 203.0.113.7", "API IP白名单"}, code: 1},
	{name: "IP not whitelisted (40164): the IP the simulator really saw", files: one(goodSite), fault: &wechattest.FaultIPNotWhitelisted,
		check: "ip_whitelist", message: []string{"127.0.0.1 (the address WeChat saw)", "40164"}, fix: []string{"add 127.0.0.1 to"}, code: 1},
	{name: "IP not whitelisted on stable_token (61004)", files: one(goodSite),
		fault: &wechattest.Fault{Body: `{"errcode":61004,"errmsg":"access clientip is not registered requestIP: 198.51.100.23 rid: 6538ac7d-18c7e09b-572e68c3"}`},
		check: "ip_whitelist", message: []string{"198.51.100.23", "61004"}, fix: []string{"add 198.51.100.23"}, code: 1},
	{name: "new IP awaits the administrator (89503)", files: one(goodSite), fault: &wechattest.FaultAwaitingAdmin,
		check: "ip_confirm", message: []string{"89503", "administrator's confirmation"}, fix: []string{"公众平台安全助手", "API IP白名单"}, code: 1},
	{name: "IP refused twice by the administrator (89506)", files: one(goodSite), fault: &wechattest.Fault{ErrCode: 89506},
		check: "ip_confirm", message: []string{"89506", "24 hours"}, fix: []string{"24 hours"}, code: 1},
	{name: "menu URL outside every site", files: one(goodSite), menuURL: "https://shop.example.org/cart",
		check: "menu_url", level: levelNote, message: []string{"https://shop.example.org/cart", "绑定手机", "public page"}, fix: []string{"caddy wechat-menu push"}, code: 0},
	{name: "snsapi_userinfo forced site-wide", files: one(siteWith("wx.example.com", "\t\t\tscope snsapi_userinfo\n")),
		check: "userinfo_sitewide", message: []string{"快照页"}, fix: []string{"snsapi_base", "/wechat_auth/login?scope=snsapi_userinfo&rd="}, code: 1},
	{name: "callback outside the registered path setting", files: one(goodSite), args: []string{"--domain", "wx.example.com/mp"},
		check: "callback_unregistered", message: []string{"wx.example.com/mp", "10003"}, fix: []string{"path setting"}, code: 1},
	{name: "path setting served correctly (control)", files: one(strings.NewReplacer("handle /MP_verify_", "handle /mp/MP_verify_",
		"\t\t\tapi_base %[1]s\n", "\t\t\tapi_base %[1]s\n\t\t\tpath_prefix /mp/wechat_auth\n").Replace(goodSite)),
		prep: func(t *testing.T) []string {
			p := filepath.Join(t.TempDir(), "MP_verify_0123456789abcdef.txt")
			_ = os.WriteFile(p, []byte("0123456789abcdef\n"), 0o600)
			return []string{"--verify-file", p, "--domain", "wx.example.com/mp"}
		}, check: "mp_verify", level: levelOK, message: []string{"/mp/MP_verify_0123456789abcdef.txt is served"}, code: 0},
	{name: "{$X} secret whose variable is not set", files: one(strings.Replace(goodSite, "{env.DOCTOR_TEST_SECRET}", "{$DOCTOR_TEST_UNSET_SECRET}", 1)),
		check: "secret_in_config", message: []string{"{$VAR}", "not set"}, fix: []string{"{env.WECHAT_APP_SECRET}"}, code: 1},
	{name: "app_secret missing", files: one(strings.Replace(goodSite, "\t\t\tapp_secret {env.DOCTOR_TEST_SECRET}\n", "", 1)),
		check: "settings", message: []string{"Caddy refuses to start", "app_secret is empty", "app_secret {env.WECHAT_APP_SECRET}"}, code: 1},
	{name: "desktop_login names the website app's own callback domain", files: one(siteWith("wx.example.com", "\t\t\tdesktop_login wxd0d0d0d0d0d0d0d0 {env.DOCTOR_TEST_SECRET}\n")),
		check: "desktop_callback", level: levelNote, message: []string{"wxd0d0d0d0d0d0d0d0", "wx.example.com/wechat_auth/callback", "授权回调域"}, fix: []string{"网站应用", "unionid"}, code: 0},
	{name: "desktop_login secret in the adapted JSON", files: one(siteWith("wx.example.com", "\t\t\tdesktop_login wxd0d0d0d0d0d0d0d0 plain-web-secret-0123\n")),
		check: "secret_in_config", message: []string{"desktop_login"}, fix: []string{"{env.WECHAT_WEB_APP_SECRET}"}, code: 1},
	{name: "no wechat_auth in the configuration", files: one("wx.example.com {\n\trespond \"hi\"\n}\n"),
		check: "config", level: levelUnchecked, message: []string{"no wechat_auth handler"}, fix: []string{"wechat_auth {"}, code: 2},
	{name: "secret not set where the doctor runs", files: one(strings.Replace(goodSite, "DOCTOR_TEST_SECRET", "DOCTOR_TEST_UNSET_SECRET", 1)),
		check: "credentials", level: levelUnchecked, message: []string{"app_secret could not be expanded"}, code: 2},
}

// orderSite is goodSite with its handle { } block's body replaced; %[2]s in
// body stands for the wechat_auth block; global goes into the global options.
func orderSite(global, body string) map[string]string {
	a := strings.Index(goodSite, "\t\twechat_auth {")
	b := strings.Index(goodSite, "\t\treverse_proxy")
	auth := strings.TrimPrefix(goodSite[a:b], "\t\t")
	site := strings.Replace(goodSite, goodSite[a:b]+"\t\treverse_proxy 127.0.0.1:9\n", "\t\t"+strings.ReplaceAll(body, "%[2]s", auth)+"\n", 1)
	if global != "" {
		site = "{\n\t" + global + "\n}\n" + site
	}
	return one(site)
}

// The order mistakes that open a site, as the doctor sees them.
var orderCases = []doctorCase{
	{name: "reverse_proxy before wechat_auth in a route", files: orderSite("", "route {\n\t\treverse_proxy 127.0.0.1:9\n\t\t%[2]s\t}"),
		check: "order", message: []string{"reverse_proxy answers every request before wechat_auth", "open to anyone"}, fix: []string{"put wechat_auth before reverse_proxy"}, code: 1},
	{name: "php_fastcgi before wechat_auth in a route", files: orderSite("", "route {\n\t\tphp_fastcgi 127.0.0.1:9\n\t\t%[2]s\t}"),
		check: "order", message: []string{"php_fastcgi answers every request"}, fix: []string{"put wechat_auth before php_fastcgi"}, code: 1},
	{name: "file_server before wechat_auth in a route", files: orderSite("", "route {\n\t\tfile_server\n\t\t%[2]s\t}"),
		check: "order", message: []string{"file_server answers every request"}, code: 1},
	{name: "respond before wechat_auth in a route", files: orderSite("", "route {\n\t\trespond \"hi\"\n\t\t%[2]s\t}"),
		check: "order", message: []string{"respond answers every request"}, code: 1},
	{name: "order wechat_auth last", files: orderSite("order wechat_auth last", "%[2]s\t\treverse_proxy 127.0.0.1:9"),
		check: "order", message: []string{"reverse_proxy answers every request"}, fix: []string{"drop `order wechat_auth"}, code: 1},
	{name: "order wechat_auth after reverse_proxy", files: orderSite("order wechat_auth after reverse_proxy", "%[2]s\t\treverse_proxy 127.0.0.1:9"),
		check: "order", message: []string{"reverse_proxy answers every request"}, code: 1},
	{name: "a nested route answers before wechat_auth", files: orderSite("", "route {\n\t\troute {\n\t\t\treverse_proxy 127.0.0.1:9\n\t\t}\n\t\t%[2]s\t}"),
		check: "order", message: []string{"reverse_proxy answers every request"}, code: 1},
	{name: "a public path before wechat_auth is a note", files: orderSite("", "route {\n\t\trespond /health 200\n\t\t%[2]s\t\treverse_proxy 127.0.0.1:9\n\t}"),
		check: "order", level: levelNote, message: []string{`respond answers requests matching path ["/health"]`}, code: 0},
}

// Settings Caddy refuses at start: the doctor runs the handler's own rules.
var settingsCases = []doctorCase{
	{name: "16-byte hash key", files: one(strings.Replace(goodSite, "{env.DOCTOR_TEST_HASH} {env.DOCTOR_TEST_BLOCK}", "{env.DOCTOR_TEST_SHORT_HASH}", 1)),
		check: "settings", message: []string{"Caddy refuses to start", "hash key is 16 bytes, want 32 or 64"}, code: 1},
	{name: "hex keys from openssl rand -hex 32", files: one(strings.Replace(goodSite, "{env.DOCTOR_TEST_HASH} {env.DOCTOR_TEST_BLOCK}", "{env.DOCTOR_TEST_HEX_KEY} {env.DOCTOR_TEST_HEX_KEY}", 1)),
		check: "settings", message: []string{"hash key is 48 bytes", "it looks like hex", "openssl rand -base64 32"}, code: 1},
	{name: "scope userinfo", files: one(siteWith("wx.example.com", "\t\t\tscope userinfo\n")),
		check: "settings", message: []string{`scope "userinfo" is unknown`, "snsapi_userinfo"}, code: 1},
	{name: "unset variable with --offline is not checked", files: one(strings.Replace(goodSite, "DOCTOR_TEST_SECRET", "DOCTOR_TEST_UNSET_SECRET", 1)), args: []string{"--offline"},
		check: "settings", level: levelUnchecked, message: []string{"DOCTOR_TEST_UNSET_SECRET", "not set"}, fix: []string{"set DOCTOR_TEST_UNSET_SECRET"}, code: 2},
	{name: "unset {$VAR} that adapting needs names the variable", files: one(strings.Replace(goodSite, "{env.DOCTOR_TEST_APP_ID}", "{$DOCTOR_TEST_UNSET_ID}", 1)), args: []string{"--offline"},
		check: "config", level: levelUnchecked, fix: []string{"set DOCTOR_TEST_UNSET_ID", "{$DOCTOR_TEST_UNSET_ID}"}, code: 2},
	{name: "a page file that is missing", files: one(siteWith("wx.example.com", "\t\t\tpage declined /nonexistent/declined.html\n")),
		check: "settings", message: []string{"page declined", "/nonexistent/declined.html"}, code: 1},
	{name: "an assertion key that is no PEM key", files: one(siteWith("wx.example.com", "\t\t\tassertion {\n\t\t\t\taudience app\n\t\t\t\tkey {env.DOCTOR_TEST_BLOCK}\n\t\t\t}\n")),
		check: "settings", message: []string{"Caddy refuses to start", "assertion"}, code: 1},
	{name: "no block key: signed, not encrypted", files: one(strings.Replace(goodSite, " {env.DOCTOR_TEST_BLOCK}", "", 1)), args: []string{"--offline"},
		check: "session_keys_block", level: levelNote, message: []string{"not encrypted"}, fix: []string{"WECHAT_SESSION_BLOCK_KEY"}, code: 0},
	{name: "a forward-auth front is no missing wechat_auth", files: map[string]string{"Caddyfile": "wx.example.com {\n\tforward_auth 127.0.0.1:9091 {\n\t\turi /wechat_auth/auth\n\t\tcopy_headers X-WeChat-OpenID\n\t}\n\treverse_proxy 127.0.0.1:9\n}\n"}, args: []string{"--offline"},
		check: "config", level: levelNote, message: []string{"forward-auth front", "/wechat_auth/auth"}, fix: []string{"gateway"}, code: 0},
}

func TestWechatDoctorRunsTheGatewaysOwnChecks(t *testing.T) {
	t.Setenv("DOCTOR_TEST_SHORT_HASH", "MDEyMzQ1Njc4OWFiY2RlZg==")
	t.Setenv("DOCTOR_TEST_HEX_KEY", strings.Repeat("0123456789abcdef", 4))
	runDoctorCases(t, settingsCases)
}

func TestWechatDoctorFindsEveryHandlerThatAnswersBeforeWechatAuth(t *testing.T) {
	runDoctorCases(t, orderCases)
}

func TestWechatDoctorReportsEachBrokenConfigurationWithItsFix(t *testing.T) {
	runDoctorCases(t, doctorCases)
}

func runDoctorCases(t *testing.T, cases []doctorCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim := wechattest.NewServer()
			defer sim.Close()
			secret := tc.secret
			if secret == "" {
				secret = wechattest.DefaultAppSecret
			}
			setDoctorEnv(t, secret)
			menu := tc.menuURL
			if menu == "" {
				menu = "https://wx.example.com/bind"
			}
			pushMenu(t, sim, menu)
			if tc.fault != nil {
				sim.Fail("/cgi-bin/stable_token", 1, *tc.fault)
			}
			args := tc.args
			if tc.prep != nil {
				args = append(args, tc.prep(t)...)
			}
			run := runDoctorOn(t, sim, tc.files, args...)
			if run.code != tc.code {
				t.Errorf("exit %d, want %d", run.code, tc.code)
			}
			level := tc.level
			if level == "" {
				level = levelProblem
			}
			var hit *finding
			for _, f := range run.find(tc.check) {
				if f.Level == level && containsAll(f.Message, tc.message) && containsAll(f.Fix, tc.fix) {
					hit = &f
					break
				}
			}
			if hit == nil {
				t.Fatalf("no %s finding %q with message %q and fix %q:\n%s", level, tc.check, tc.message, tc.fix, run.out)
			}
		})
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestWechatDoctorPrintsFindingsGroupedBySiteWithTheFix(t *testing.T) {
	sim := wechattest.NewServer()
	defer sim.Close()
	setDoctorEnv(t, wechattest.DefaultAppSecret)
	pushMenu(t, sim, "https://wx.example.com/bind")
	sim.Fail("/cgi-bin/stable_token", 1, *withClientIP(wechattest.FaultIPNotWhitelisted, "203.0.113.7"))
	dir := t.TempDir()
	p := filepath.Join(dir, "Caddyfile")
	body := strings.ReplaceAll(goodSite+siteWith("http://shop.example.com", "\t\t\tscope snsapi_userinfo\n"), "%[1]s", sim.URL)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := runDoctorArgs(context.Background(), []string{"--config", p}, &stdout, &stderr)
	out := stdout.String()
	t.Logf("\n%s", out)
	if code != doctorExitProblems {
		t.Errorf("exit %d, want 1", code)
	}
	wx, shop, acct := strings.Index(out, "\nwx.example.com\n"), strings.Index(out, "\nshop.example.com\n"), strings.Index(out, "\naccount wx0123456789abcdef\n")
	if wx < 0 || shop < 0 || acct < 0 {
		t.Fatalf("the report is not grouped by site and account:\n%s", out)
	}
	shopPart := out[shop:]
	if acct > shop {
		shopPart = out[shop:acct]
	}
	for _, want := range []string{"callback: http://shop.example.com/wechat_auth/callback", "✗ the site is served over plain HTTP", "fix: if a load balancer", "✗ scope snsapi_userinfo"} {
		if !strings.Contains(shopPart, want) {
			t.Errorf("the shop.example.com section lacks %q:\n%s", want, shopPart)
		}
	}
	if !strings.Contains(out[acct:], "203.0.113.7") || !strings.Contains(out, "problem(s)") {
		t.Errorf("the account section does not name the IP, or no summary:\n%s", out)
	}
	if strings.Contains(out, wechattest.DefaultAppSecret) || strings.Contains(out, doctorHashKey) {
		t.Error("the report prints a secret")
	}
}

func TestWechatDoctorDoesNotFlagCorrectVariants(t *testing.T) {
	for name, caddyfile := range map[string]string{
		"snsapi_userinfo only on /profile": strings.Replace(goodSite, "\t\twechat_auth {", "\t\twechat_auth /profile* {\n\t\t\tscope snsapi_userinfo\n\t\t\tapp_id wx0123456789abcdef\n\t\t\tapp_secret {env.DOCTOR_TEST_SECRET}\n\t\t\tsession_keys {env.DOCTOR_TEST_HASH} {env.DOCTOR_TEST_BLOCK}\n\t\t\tapi_base %[1]s\n\t\t}\n\t\twechat_auth {", 1),
		"http behind trusted proxies":      "{\n\tservers {\n\t\ttrusted_proxies static private_ranges\n\t}\n}\n" + siteWith("http://wx.example.com", ""),
		"MP_verify excluded by the matcher": strings.NewReplacer(
			"\t\twechat_auth {", "\t\t@app not path /MP_verify_*\n\t\twechat_auth @app {",
			"\thandle /MP_verify_0123456789abcdef.txt {\n\t\trespond \"0123456789abcdef\"\n\t}\n", "",
			"\t\treverse_proxy 127.0.0.1:9\n", "\t\trespond /MP_verify_0123456789abcdef.txt \"0123456789abcdef\"\n\t\treverse_proxy 127.0.0.1:9\n",
		).Replace(goodSite),
		"gateway behind nginx on a port, no host": "{\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/8\n\t}\n}\n" + siteWith("http://:9091", ""),
	} {
		t.Run(name, func(t *testing.T) {
			sim := wechattest.NewServer()
			defer sim.Close()
			setDoctorEnv(t, wechattest.DefaultAppSecret)
			pushMenu(t, sim, "https://wx.example.com/bind")
			run := runDoctorOn(t, sim, one(caddyfile))
			if run.code != doctorExitOK {
				t.Fatalf("exit %d, want 0:\n%s", run.code, run.out)
			}
			// Without a host name automatic HTTPS has nothing to get a
			// certificate for: the site is plain HTTP.
			if cb := run.report.Sites[0].Callback; strings.Contains(name, "no host") && cb != "http://<Host header>/wechat_auth/callback" {
				t.Errorf("callback %s, want http://<Host header>/wechat_auth/callback", cb)
			}
		})
	}
}

// relayConfig is a JSON configuration (as the relay's Caddyfile adapts to):
// wx.example.com logs in for the hosts in relayFor; every client uses it.
func relayConfig(t *testing.T, api string, relayFor []string, clients ...string) string {
	t.Helper()
	// The relay signs with keys of its own; the clients share none of them.
	relayKeys := []map[string]string{{"hash_key": "{env.DOCTOR_RELAY_HASH}", "block_key": "{env.DOCTOR_RELAY_BLOCK}"}}
	t.Setenv("DOCTOR_RELAY_HASH", doctorBlockKey)
	t.Setenv("DOCTOR_RELAY_BLOCK", doctorHashKey)
	t.Setenv("DOCTOR_RELAY_SECRET", doctorHashKey)
	t.Setenv("DOCTOR_RELAY_KEY", doctorBlockKey)
	site := func(host string, auth map[string]any) map[string]any {
		keys := []map[string]string{{"hash_key": "{env.DOCTOR_TEST_HASH}", "block_key": "{env.DOCTOR_TEST_BLOCK}"}}
		if auth["relay_for"] != nil {
			keys = relayKeys
		}
		auth["handler"], auth["app_id"], auth["session_keys"] = "wechat_auth", "wx0123456789abcdef", keys
		return map[string]any{"match": []any{map[string]any{"host": []string{host}}}, "terminal": true,
			"handle": []any{map[string]any{"handler": "subroute", "routes": []any{
				map[string]any{"match": []any{map[string]any{"path": []string{verifyPath}}},
					"handle": []any{map[string]any{"handler": "static_response", "body": "0123456789abcdef"}}},
				map[string]any{"handle": []any{auth, map[string]any{"handler": "static_response", "body": "app"}}},
			}}}}
	}
	routes := []any{site("wx.example.com", map[string]any{"app_secret": "{env.DOCTOR_TEST_SECRET}", "api_base": api, "relay_for": relayFor,
		"relay_secret": []string{"{env.DOCTOR_RELAY_SECRET}"}})}
	for _, c := range clients {
		routes = append(routes, site(c, map[string]any{"relay": "https://wx.example.com",
			"relay_keys": []map[string]string{{"origin": "https://" + c, "key": "{env.DOCTOR_RELAY_KEY}"}}}))
	}
	b, err := json.Marshal(map[string]any{"apps": map[string]any{"http": map[string]any{"servers": map[string]any{
		"srv0": map[string]any{"listen": []string{":443"}, "routes": routes}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWechatDoctorChecksSitesThatLogInThroughARelay(t *testing.T) {
	sim := wechattest.NewServer()
	defer sim.Close()
	setDoctorEnv(t, wechattest.DefaultAppSecret)
	pushMenu(t, sim, "https://shop.example.com/")

	good := runDoctorOn(t, sim, map[string]string{"relay.json": relayConfig(t, sim.URL, []string{"shop.example.com", ".preview.example.com"}, "shop.example.com", "a.preview.example.com", "m.preview.example.com")})
	if good.code != doctorExitOK {
		t.Fatalf("a relay for three sites: exit %d, want 0 (one 网页授权域名, keys shared):\n%s", good.code, good.out)
	}
	if fs := good.find("domain_count"); len(fs) != 1 || !strings.Contains(fs[0].Message, "1 网页授权域名 setting(s) needed (wx.example.com)") {
		t.Errorf("domain_count: %+v", fs)
	}

	bad := runDoctorOn(t, sim, map[string]string{"relay.json": relayConfig(t, sim.URL, []string{"shop.example.com"}, "shop.example.com", "m.example.com")})
	if bad.code != doctorExitProblems {
		t.Errorf("a client the relay does not list: exit %d, want 1", bad.code)
	}
	found := false
	for _, f := range bad.find("relay") {
		found = found || (f.Level == levelProblem && f.Subject == "m.example.com" && strings.Contains(f.Fix, "add m.example.com to relay_for on wx.example.com"))
	}
	if !found {
		t.Errorf("no relay problem for m.example.com with its fix:\n%s", bad.out)
	}

	// relay_for shop.example.com:443 admits https://shop.example.com, as the
	// gateway does (the doctor once said it was not listed).
	port := runDoctorOn(t, sim, map[string]string{"relay.json": relayConfig(t, sim.URL, []string{"shop.example.com:443"}, "shop.example.com")})
	if port.code != doctorExitOK {
		t.Errorf("relay_for shop.example.com:443: exit %d, want 0:\n%s", port.code, port.out)
	}
}

func TestWechatDoctorRelayRulesAreTheGatewaysAtDefaultPorts(t *testing.T) {
	for _, c := range []struct {
		rule, scheme, host, port string
		want                     bool
	}{
		{"shop.example.com:443", "https", "shop.example.com", "", true},
		{"shop.example.com:80", "http", "shop.example.com", "", true},
		{"shop.example.com:443", "http", "shop.example.com", "", false},
		{"shop.example.com", "https", "shop.example.com", "8443", false},
		{"shop.example.com:*", "https", "shop.example.com", "8443", true},
		{"*.example.com", "https", "a.b.example.com", "", true},
		{".example.com", "https", "example.com", "", true},
		{"Shop.Example.com", "https", "shop.example.com", "", true},
		{"shop.example.com/x", "https", "shop.example.com", "", false},
	} {
		if got := relayForAdmits(c.rule, c.scheme, c.host, c.port); got != c.want {
			t.Errorf("relay_for %s, client %s://%s port %q: %v, want %v", c.rule, c.scheme, c.host, c.port, got, c.want)
		}
	}
}

func TestWechatDoctorFlagsARelayClientWithTheRelaysKeysOrNoRelayKey(t *testing.T) {
	sim := wechattest.NewServer()
	defer sim.Close()
	setDoctorEnv(t, wechattest.DefaultAppSecret)
	pushMenu(t, sim, "https://shop.example.com/")
	cfg := relayConfig(t, sim.URL, []string{"shop.example.com"}, "shop.example.com")
	shared := strings.Replace(cfg, "DOCTOR_TEST_HASH", "DOCTOR_RELAY_HASH", 1)
	shared = strings.Replace(shared, "DOCTOR_TEST_BLOCK", "DOCTOR_RELAY_BLOCK", 1)
	noKey := strings.Replace(cfg, `"relay_keys"`, `"x_relay_keys"`, 1)
	for name, c := range map[string]struct{ cfg, want string }{
		"the relay's session_keys": {shared, "signs its sessions with the relay's session_keys"},
		"no relay_key":             {noKey, "relay without relay_key"},
	} {
		res := runDoctorOn(t, sim, map[string]string{"relay.json": c.cfg})
		found := false
		for _, f := range res.find("relay_keys") {
			found = found || (f.Level == levelProblem && strings.Contains(f.Message, c.want))
		}
		if res.code != doctorExitProblems || !found {
			t.Errorf("%s: exit %d, want 1 with %q:\n%s", name, res.code, c.want, res.out)
		}
	}
}

func TestWechatDoctorOnTheRelayExample(t *testing.T) {
	t.Setenv("WECHAT_APP_ID", wechattest.DefaultAppID)
	t.Setenv("WECHAT_APP_SECRET", wechattest.DefaultAppSecret)
	t.Setenv("WECHAT_RELAY_SECRET", doctorHashKey)
	t.Setenv("SHOP_RELAY_KEY", doctorBlockKey)
	t.Setenv("M_RELAY_KEY", doctorBlockKey)
	for i, site := range []string{"WX", "SHOP", "M"} {
		t.Setenv(site+"_SESSION_HASH_KEY", base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%032d", i))))
		t.Setenv(site+"_SESSION_BLOCK_KEY", base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%032d", 10+i))))
	}
	src, err := os.ReadFile("../../examples/relay/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	unlisted := strings.Replace(string(src), "relay_for shop.example.com m.example.com", "relay_for shop.example.com", 1)
	if unlisted == string(src) {
		t.Fatal("examples/relay/Caddyfile no longer has the relay_for line this test edits")
	}
	for name, tc := range map[string]struct {
		caddyfile string
		code      int
	}{"as written": {string(src), doctorExitOK}, "m.example.com not in relay_for": {unlisted, doctorExitProblems}} {
		p := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(p, []byte(tc.caddyfile), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := runDoctorArgs(context.Background(), []string{"--config", p, "--offline"}, &stdout, &stderr)
		out := stdout.String()
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d:\n%s%s", name, code, tc.code, out, stderr.String())
		}
		if !strings.Contains(out, "1 网页授权域名 setting(s) needed (wx.example.com)") || !strings.Contains(out, "callback: https://wx.example.com/wechat_auth/callback") {
			t.Errorf("%s: the relay clients should need no 网页授权域名 of their own:\n%s", name, out)
		}
		if tc.code == doctorExitProblems && !strings.Contains(out, "fix: add m.example.com to relay_for on wx.example.com") {
			t.Errorf("%s: the unlisted client is not reported with its fix:\n%s", name, out)
		}
	}
}
