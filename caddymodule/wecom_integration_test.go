package wechatauth_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// WeCom staff sign-in (wecom) through real Caddy, with the simulator
// playing wechattest.DefaultCorp as WeCom: members inside the WeCom client,
// desktop browsers by QR code, and the people and settings it refuses.

func init() { os.Setenv("TEST_WECOM_SECRET", wechattest.DefaultAgentSecret) }

// wecomGateway runs a gateway whose wechat_auth has wecom (block: extra
// lines inside it) and whose app trusts the gateway's host:port.
func wecomGateway(t *testing.T, block string, edit func(*wechattest.Corp)) *gateway {
	t.Helper()
	return wecomGatewayWith(t, "", block, edit)
}

// wecomGatewayWith is wecomGateway with settings: lines of wechat_auth
// outside the wecom block.
func wecomGatewayWith(t *testing.T, settings, block string, edit func(*wechattest.Corp)) *gateway {
	t.Helper()
	sim := wechattest.NewServer(wechattest.WithCorp(wechattest.DefaultCorp("")))
	t.Cleanup(sim.Close)
	site := `wechat_auth {
		session_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}
		` + settings + `
		wecom ` + wechattest.DefaultCorpID + ` 1000002 {env.TEST_WECOM_SECRET} {
			api_base ` + sim.URL + `
			open_base ` + sim.URL + `
			login_base ` + sim.URL + `
			` + block + `
		}
	}
	reverse_proxy %[2]s`
	g := startGateway(t, gatewayConfig{sim: sim, site: site})
	host := strings.TrimPrefix(g.URL, "http://")
	sim.EditCorp(wechattest.DefaultCorpID, func(c *wechattest.Corp) {
		c.Apps[0].TrustedDomains = []string{host}
		if edit != nil {
			edit(c)
		}
	})
	return g
}

func newWeComMember(userID string) *browser {
	return &browser{Browser: wechattest.NewWeComBrowser(userID)}
}

func TestWeComMemberSignsInSilentlyInsideWeCom(t *testing.T) {
	g := wecomGateway(t, "", nil)
	b := newWeComMember("zhangsan")
	b.Header.Set("X-WeCom-UserID", "boss") // forged: never reaches the upstream
	b.Header.Set("X_WeCom_Departments", "1")
	b.Header.Set("x-wecom-mobile", "13900000000")
	up := g.login(t, b, "/orders?day=1")
	for h, want := range map[string]string{
		"X-Wecom-Corpid": wechattest.DefaultCorpID, "X-Wecom-Userid": "zhangsan", "X-Wecom-Departments": "3",
		"X-Wecom-Name": url.PathEscape("张三"), "X-Wechat-Source": "wecom", "X-Wechat-Openid": "zhangsan",
	} {
		if got := up.Header.Values(h); len(got) != 1 || got[0] != want {
			t.Errorf("upstream %s = %q, want %q", h, got, want)
		}
	}
	if up.URL.RequestURI() != "/orders?day=1" || up.Header.Get("X_WeCom_Departments") != "" || up.Header.Get("X-Wecom-Mobile") != "" {
		t.Errorf("upstream got %s with %v", up.URL.RequestURI(), up.Header)
	}
	// The session serves the next request without WeCom.
	before := g.sim.CallCount("/cgi-bin/auth/getuserinfo")
	if resp, _ := b.get(t, g.URL+"/orders"); resp.StatusCode != http.StatusOK || g.sim.CallCount("/cgi-bin/auth/getuserinfo") != before {
		t.Fatalf("second request: %d, getuserinfo calls %d → %d", resp.StatusCode, before, g.sim.CallCount("/cgi-bin/auth/getuserinfo"))
	}
	// Forward-auth names every WeCom header, empty where unknown.
	resp, _ := b.get(t, g.URL+"/wechat_auth/auth")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Wecom-Userid") != "zhangsan" {
		t.Fatalf("/auth: %d %v", resp.StatusCode, resp.Header)
	}
	if v, ok := resp.Header["X-Wecom-Mobile"]; !ok || len(v) != 1 || v[0] != "" {
		t.Errorf("/auth X-WeCom-Mobile = %q (present %v), want present and empty", v, ok)
	}
}

func TestWeComDesktopBrowserSignsInByScanningTheQRCode(t *testing.T) {
	g := wecomGateway(t, "allow_departments 2", nil)
	desk := newDesktop()
	resp, body := desk.get(t, g.URL+"/report")
	if resp.Request.URL.Path != "/wwlogin/sso/login" || resp.Request.URL.Query().Get("appid") != wechattest.DefaultCorpID ||
		resp.Request.URL.Query().Get("agentid") != "1000002" {
		t.Fatalf("a desktop browser ended at %s (%d), want WeCom's QR login page: %.300s", resp.Request.URL, resp.StatusCode, body)
	}
	uuids := g.sim.WeComLogins()
	if len(uuids) != 1 {
		t.Fatalf("QR codes waiting: %v, want 1", uuids)
	}
	phone := wechattest.NewWeComBrowser("zhangsan")
	phone.Consent = "allow"
	if p := phone.Get(t, g.sim.URL+"/mock/wecom/scan?uuid="+uuids[0]); p.Status != http.StatusOK {
		t.Fatalf("scan: %d %.200s", p.Status, p.Body)
	}
	before := g.up.count()
	resp, body = desk.get(t, g.sim.URL+"/wwlogin/sso/poll?uuid="+uuids[0])
	if resp.StatusCode != http.StatusOK || g.up.count() != before+1 || resp.Request.URL.Path != "/report" {
		t.Fatalf("after the scan the desktop ended at %s (%d): %.300s", resp.Request.URL, resp.StatusCode, body)
	}
	up := g.up.last(t)
	if up.Header.Get("X-Wecom-Userid") != "zhangsan" || up.Header.Get("X-Wechat-Scope") != "snsapi_base" {
		t.Fatalf("upstream headers %v", up.Header)
	}
}

func TestWeComRefusesWhomItMustWithAPageSayingWhy(t *testing.T) {
	g := wecomGateway(t, "allow_departments 2", nil)
	for _, tc := range []struct{ user, want string }{
		{"lisi", "可见范围"},   // a member outside the app's visible range: getuserinfo names him, user/get refuses
		{"wangwu", "部门"},   // visible, but not in 研发部 or below
		{"alice", "不是本企业"}, // not a member at all
		{"bob", "客户"},      // a customer
	} {
		b := newWeComMember(tc.user)
		resp, body := b.get(t, g.URL+"/orders")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, tc.want) || !strings.Contains(body, "无法进入") {
			t.Errorf("%s: %d, want 403 saying %q: %.400s", tc.user, resp.StatusCode, tc.want, body)
		}
	}
	if g.up.count() != 0 {
		t.Fatalf("the upstream was reached %d times", g.up.count())
	}
}

func TestWeComAndWeChatSitesTellTheOtherAppWhereToGo(t *testing.T) {
	g := wecomGateway(t, "", nil)
	// Personal WeChat on a WeCom site: a page, never WeCom's authorize.
	resp, body := newBrowser("alice").get(t, g.URL+"/orders")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "企业微信") || resp.Request.URL.Host != strings.TrimPrefix(g.URL, "http://") {
		t.Fatalf("WeChat on a WeCom site: %d at %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	// A phone's browser cannot scan its own screen: the same page.
	phone := newBrowser("")
	phone.UserAgent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
	if resp, body := phone.get(t, g.URL+"/orders"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "请在企业微信中打开") {
		t.Fatalf("a phone browser on a WeCom site: %d: %.300s", resp.StatusCode, body)
	}
	// An API call gets JSON.
	resp, body = newBrowser("alice").do(t, http.MethodGet, g.URL+"/api/orders", http.Header{"Accept": {"application/json"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"not_wecom"`) {
		t.Fatalf("API call from WeChat on a WeCom site: %d %s", resp.StatusCode, body)
	}
	if n := g.sim.CallCount("/connect/oauth2/authorize"); n != 0 {
		t.Fatalf("the authorize page was opened %d times", n)
	}

	// WeCom on an Official Account site: the open-in-WeChat page, not WeChat's authorize.
	oa := startGateway(t, gatewayConfig{})
	resp, body = newWeComMember("zhangsan").get(t, oa.URL+"/")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "微信") || oa.sim.CallCount("/connect/oauth2/authorize") != 0 {
		t.Fatalf("WeCom on an Official Account site: %d at %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
}

func TestWeComSettingsToFixAreNamedToTheOperator(t *testing.T) {
	g := wecomGateway(t, "", func(c *wechattest.Corp) { c.Apps[0].TrustedIPs = []string{"203.0.113.9"} })
	resp, body := newWeComMember("zhangsan").get(t, g.URL+"/orders")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "企业微信登录配置有误") || !strings.Contains(body, "60020") {
		t.Fatalf("60020: %d: %.400s", resp.StatusCode, body)
	}
	log := readLog(t, g.logFile)
	for _, want := range []string{"60020", "企业可信IP", "127.0.0.1", wechattest.DefaultCorpID} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	if strings.Contains(log, wechattest.DefaultAgentSecret) {
		t.Fatal("the log carries the app's secret")
	}
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWeComRefusesTheOfficialAccountsSettingsBesideIt(t *testing.T) {
	for _, tc := range []struct{ extra, want string }{
		{"app_id " + testAppID, "wecom and app_id are both set"},
		{"subscriber_info", "wecom and subscriber_info are both set"},
		{"non_wechat qrconnect", "non_wechat qrconnect does not apply with wecom"},
		{"scope snsapi_userinfo", "wecom and scope are both set"},
	} {
		port := testnet.Port(t)
		err := tryCaddyfile(t, fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
}
http://127.0.0.1:%d {
	wechat_auth {
		%s
		wecom %s 1000002 {env.TEST_WECOM_SECRET}
	}
	respond "ok"
}
`, port, tc.extra, wechattest.DefaultCorpID))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), wechattest.DefaultAgentSecret) {
			t.Errorf("%s beside wecom: %v, want %q", tc.extra, err, tc.want)
		}
	}
}

// The shared defences hold over the WeCom flow: a callback started in
// another browser (login CSRF) or replayed elsewhere signs nobody in, a
// tampered session cookie is refused, and a return URL off the site is not
// followed.
func TestWeComSignInKeepsTheSharedDefences(t *testing.T) {
	g := wecomGateway(t, "", nil)
	// Login CSRF: the attacker's own callback URL, opened by the victim.
	attacker := newWeComMember("wangwu")
	cb := g.callbackURL(t, attacker, "/orders")
	victim := newWeComMember("zhangsan")
	victim.StopAt = "/connect/oauth2/authorize"
	if resp, body := victim.get(t, cb); resp.StatusCode != http.StatusBadRequest || victim.cookie(g.URL, "wechat_session") != "" {
		t.Fatalf("the attacker's callback in the victim's browser: %d, session %q: %.200s", resp.StatusCode, victim.cookie(g.URL, "wechat_session"), body)
	}
	// The attacker's own browser finishes; a replay there continues without redeeming again.
	calls := g.sim.CallCount("/cgi-bin/auth/getuserinfo")
	if resp, _ := attacker.get(t, cb); resp.StatusCode != http.StatusOK || g.up.last(t).Header.Get("X-Wecom-Userid") != "wangwu" {
		t.Fatalf("callback in its own browser: %d", resp.StatusCode)
	}
	if resp, _ := attacker.get(t, cb); resp.StatusCode != http.StatusOK || g.sim.CallCount("/cgi-bin/auth/getuserinfo") != calls+1 {
		t.Fatalf("replayed callback: %d, getuserinfo calls %d, want %d", resp.StatusCode, g.sim.CallCount("/cgi-bin/auth/getuserinfo"), calls+1)
	}
	// A tampered session cookie is no session: the browser is sent to sign in.
	u, _ := url.Parse(g.URL)
	v := attacker.cookie(g.URL, "wechat_session")
	attacker.Jar.SetCookies(u, []*http.Cookie{{Name: "wechat_session", Value: v[:len(v)-2] + "AA", Path: "/"}})
	attacker.StopAt = "/connect/oauth2/authorize"
	if resp, _ := attacker.get(t, g.URL+"/orders"); resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/connect/oauth2/authorize") {
		t.Fatalf("tampered cookie: %d %q, want a new sign-in", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Open redirect: a return URL on another host ends on the site instead.
	b := newWeComMember("zhangsan")
	resp, _ := b.get(t, g.URL+"/wechat_auth/login?rd="+url.QueryEscape("https://evil.example/steal"))
	if resp.Request.URL.Host != u.Host {
		t.Fatalf("login with rd on another host ended at %s", resp.Request.URL)
	}
}

func TestWeComPrivateInfoSendsWhatTheMemberGranted(t *testing.T) {
	g := wecomGateway(t, "scope privateinfo", nil)
	b := newWeComMember("zhangsan")
	up := g.login(t, b, "/me")
	for h, want := range map[string]string{"X-Wecom-Mobile": "13800000001", "X-Wecom-Email": "zhangsan@example.com",
		"X-Wecom-Gender": "1", "X-Wechat-Scope": "snsapi_privateinfo"} {
		if got := up.Header.Get(h); got != want {
			t.Errorf("upstream %s = %q, want %q", h, got, want)
		}
	}
	if !strings.HasPrefix(up.Header.Get("X-Wecom-Avatar"), "https://") {
		t.Errorf("upstream X-WeCom-Avatar = %q", up.Header.Get("X-Wecom-Avatar"))
	}
	// Declined: no session, the declined page.
	d := newWeComMember("wangwu")
	d.Consent = "deny"
	resp, body := d.get(t, g.URL+"/me")
	if resp.StatusCode != http.StatusOK || d.cookie(g.URL, "wechat_session") != "" || !strings.Contains(body, "你取消了企业微信授权") {
		t.Fatalf("declined privateinfo: %d, session %q: %.300s", resp.StatusCode, d.cookie(g.URL, "wechat_session"), body)
	}
}
