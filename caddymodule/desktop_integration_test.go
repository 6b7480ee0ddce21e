package wechatauth_test

import (
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// Desktop login (desktop_login, non_wechat qrconnect) walked as a desktop
// browser and a phone would: the desktop browser (desktop UA, cookie jar)
// is sent to the simulator's qrconnect page, a phone (WeChat UA, a test
// user) opens the URL its QR code encodes and confirms or cancels, and the
// desktop page polls on to the gateway's callback.

const (
	webAppID     = "wxd0d0d0d0d0d0d0d0"
	webAppSecret = "webappsecret0123456789abcdef0123"
	openAccount  = "op-test"
)

func init() { os.Setenv("TEST_WEB_SECRET", webAppSecret) }

// desktopSettings are the wechat_auth settings of a desktop gateway: scope
// snsapi_userinfo, so WeChat logins carry the unionid, and desktop_login.
const desktopSettings = "scope snsapi_userinfo\n\t\tdesktop_login " + webAppID + " {env.TEST_WEB_SECRET}"

// desktopApps are the simulator's apps of a desktop gateway: the Official
// Account and the website app, bound to one Open Platform account, or,
// with bound false, a website app of no Open Platform account.
func desktopApps(bound bool) []wechattest.Option {
	op := ""
	if bound {
		op = openAccount
	}
	return []wechattest.Option{
		wechattest.WithBoundApp(testAppID, wechattest.DefaultAppSecret, openAccount),
		wechattest.WithWebsiteApp(webAppID, webAppSecret, op),
	}
}

// desktopGateway runs a gateway of desktopSettings and desktopApps.
func desktopGateway(t *testing.T, bound bool, opts ...wechattest.Option) *gateway {
	t.Helper()
	return startGateway(t, gatewayConfig{settings: desktopSettings, simOpts: append(desktopApps(bound), opts...)})
}

func newDesktop() *browser {
	b := newBrowser("")
	b.UserAgent, b.Consent = desktopUA, ""
	return b
}

var scanHref = regexp.MustCompile(`id="scan" href="([^"]+)"`)

// openQR opens path on the desktop and returns the URL the QR code shown
// there encodes (qrOf).
func (g *gateway) openQR(t *testing.T, desk *browser, path string) string {
	t.Helper()
	resp, body := desk.get(t, g.URL+path)
	return qrOf(t, path, resp, body)
}

// qrOf is the URL the QR code on the page resp encodes, failing unless the
// gateway sent the browser to qrconnect with the website app.
func qrOf(t *testing.T, path string, resp *http.Response, body string) string {
	t.Helper()
	q := resp.Request.URL.Query()
	if resp.Request.URL.Path != "/connect/qrconnect" || q.Get("appid") != webAppID || q.Get("scope") != "snsapi_login" {
		t.Fatalf("%s on a desktop ended at %s (%d), want the website app's qrconnect page: %.300s", path, resp.Request.URL, resp.StatusCode, body)
	}
	m := scanHref.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("qrconnect page shows no QR code: %.300s", body)
	}
	return html.UnescapeString(m[1])
}

// scan answers the QR code on a phone of user: allow or deny.
func scan(t *testing.T, scanURL, user, answer string) {
	t.Helper()
	phone := newBrowser(user)
	phone.Consent = answer
	if resp, body := phone.get(t, scanURL); resp.StatusCode != http.StatusOK || !strings.Contains(body, "登录") {
		t.Fatalf("phone scan: %d %.300s", resp.StatusCode, body)
	}
}

// poll is the desktop page looking for the phone's answer; it follows on
// to wherever that leads.
func (g *gateway) poll(t *testing.T, desk *browser, scanURL string) (*http.Response, string) {
	t.Helper()
	u, _ := url.Parse(scanURL)
	return desk.get(t, g.sim.URL+"/connect/qrconnect/poll?uuid="+u.Query().Get("uuid"))
}

// desktopLogin signs desk in as user through the QR code and fails unless
// it ends at the upstream on path.
func (g *gateway) desktopLogin(t *testing.T, desk *browser, path, user string) *http.Request {
	t.Helper()
	before := g.up.count()
	scanURL := g.openQR(t, desk, path)
	scan(t, scanURL, user, "allow")
	resp, body := g.poll(t, desk, scanURL)
	if resp.StatusCode != http.StatusOK || g.up.count() != before+1 {
		t.Fatalf("desktop login via %s ended with %d at %s, want the upstream: %.300s", path, resp.StatusCode, resp.Request.URL, body)
	}
	return g.up.last(t)
}

func TestDesktopScanLoginIsTheSamePersonByUnionID(t *testing.T) {
	g := desktopGateway(t, true)
	desk := newDesktop()
	got := g.desktopLogin(t, desk, "/orders?page=2", "bob")
	union := g.sim.UnionID(testAppID, "bob")
	if got.URL.RequestURI() != "/orders?page=2" {
		t.Errorf("landed on %s, want /orders?page=2", got.URL.RequestURI())
	}
	for h, want := range map[string]string{
		"X-Wechat-Openid":   g.sim.OpenID(webAppID, "bob"),
		"X-Wechat-Unionid":  union,
		"X-Wechat-Source":   "web",
		"X-Wechat-Scope":    "snsapi_login",
		"X-Wechat-Nickname": url.PathEscape("李四 🐟"),
	} {
		if v := got.Header.Values(h); len(v) != 1 || v[0] != want {
			t.Errorf("desktop %s = %q, want [%s]", h, v, want)
		}
	}
	if union == "" {
		t.Fatal("the simulator gave bob no unionid")
	}
	// The session holds: the next desktop request goes straight through.
	calls := len(g.sim.Calls())
	if resp, _ := desk.get(t, g.URL+"/invoices"); resp.StatusCode != 200 || len(g.sim.Calls()) != calls {
		t.Errorf("second desktop request: %d, %d new WeChat calls", resp.StatusCode, len(g.sim.Calls())-calls)
	}
	// Bob in WeChat: another openid, the same unionid, source mp.
	mp := g.login(t, newBrowser("bob"), "/orders")
	if mp.Header.Get("X-Wechat-Unionid") != union || mp.Header.Get("X-Wechat-Source") != "mp" ||
		mp.Header.Get("X-Wechat-Openid") != g.sim.OpenID(testAppID, "bob") || mp.Header.Get("X-Wechat-Openid") == got.Header.Get("X-Wechat-Openid") {
		t.Errorf("in WeChat: openid %s unionid %s source %s", mp.Header.Get("X-Wechat-Openid"), mp.Header.Get("X-Wechat-Unionid"), mp.Header.Get("X-Wechat-Source"))
	}
}

func TestDesktopWebsiteAppWithoutUnionIDIsRefusedAndLogged(t *testing.T) {
	g := desktopGateway(t, false)
	desk := newDesktop()
	scanURL := g.openQR(t, desk, "/orders")
	scan(t, scanURL, "bob", "allow")
	resp, body := g.poll(t, desk, scanURL)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "配置有误") || !strings.Contains(body, "no unionid") {
		t.Errorf("unbound website app: %d %.400s", resp.StatusCode, body)
	}
	if desk.cookie(g.URL, "wechat_session") != "" || g.up.count() != 0 {
		t.Fatal("a desktop login without unionid got a session")
	}
	logs, _ := os.ReadFile(g.logFile)
	if !strings.Contains(string(logs), "desktop_login: WeChat returned no unionid") || !strings.Contains(string(logs), webAppID) {
		t.Errorf("the log does not name desktop_login and the website app:\n%s", logs)
	}
	if strings.Contains(string(logs), webAppSecret) {
		t.Error("the website app's secret reached the log")
	}
}

func TestDesktopDeclinedScanGivesNoSession(t *testing.T) {
	g := desktopGateway(t, true)
	desk := newDesktop()
	scanURL := g.openQR(t, desk, "/orders")
	scan(t, scanURL, "bob", "deny")
	resp, body := g.poll(t, desk, scanURL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "未完成授权") || resp.Request.URL.Path != "/wechat_auth/callback" {
		t.Errorf("declined scan: %d at %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	if desk.cookie(g.URL, "wechat_session") != "" || g.up.count() != 0 || g.sim.CallCount(exchangePath) != 0 {
		t.Fatal("a declined scan got a session or redeemed a code")
	}
}

func TestDesktopExpiredQRCodeLeavesNoSessionAndANewVisitGetsANewCode(t *testing.T) {
	clock := wechattest.NewClock(time.Now())
	g := desktopGateway(t, true, wechattest.WithClock(clock))
	desk := newDesktop()
	scanURL := g.openQR(t, desk, "/orders")
	clock.Advance(wechattest.QRTTL)
	phone := newBrowser("bob")
	phone.Consent = "allow"
	if _, body := phone.get(t, scanURL); !strings.Contains(body, "二维码已失效") {
		t.Errorf("phone scanned an expired code: %.300s", body)
	}
	if _, body := g.poll(t, desk, scanURL); !strings.Contains(body, "二维码已失效") {
		t.Errorf("desktop page after expiry: %.300s", body)
	}
	if desk.cookie(g.URL, "wechat_session") != "" || g.up.count() != 0 {
		t.Fatal("an expired QR code gave a session")
	}
	if again := g.openQR(t, desk, "/orders"); again == scanURL {
		t.Error("a new visit showed the expired code again")
	}
}

func TestDesktopReplayedCallbackNeitherRedeemsAgainNorLogsInAnotherBrowser(t *testing.T) {
	g := desktopGateway(t, true)
	desk := newDesktop()
	scanURL := g.openQR(t, desk, "/orders")
	scan(t, scanURL, "bob", "allow")
	desk.StopAt = "/wechat_auth/callback"
	resp, _ := g.poll(t, desk, scanURL)
	desk.StopAt = ""
	callback := resp.Header.Get("Location")
	if !strings.Contains(callback, "/wechat_auth/callback?code=") {
		t.Fatalf("poll did not lead to the callback: %d %q", resp.StatusCode, callback)
	}

	// Login CSRF: another browser given this callback URL is not logged in,
	// and the code is not redeemed for it.
	victim := newDesktop()
	if resp, body := victim.get(t, callback); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "登录链接已失效") {
		t.Errorf("another browser on the callback: %d %.200s", resp.StatusCode, body)
	}
	if victim.cookie(g.URL, "wechat_session") != "" || g.sim.CallCount(exchangePath) != 0 {
		t.Fatal("the callback logged in a browser that did not start the flow")
	}

	// The browser that started it signs in; a refresh of the callback
	// continues without redeeming the code again.
	for i := 0; i < 2; i++ {
		if resp, body := desk.get(t, callback); resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/orders" {
			t.Fatalf("callback visit %d: %d at %s: %.200s", i+1, resp.StatusCode, resp.Request.URL, body)
		}
	}
	if n := g.sim.CallCount(exchangePath); n != 1 {
		t.Errorf("code redeemed %d times, want 1", n)
	}
}

// The in-WeChat flow's security tests (spoofed headers, tampered and
// foreign cookies, login CSRF, refresh of the callback, planted session,
// open redirects) run over the desktop flow too: see loginFlows.

func TestDesktopAPIRequestGets401JSONWhoseLoginURLStartsTheDesktopFlow(t *testing.T) {
	g := desktopGateway(t, true)
	api := newDesktop()
	resp, body := api.do(t, "GET", g.URL+"/api/orders", http.Header{"Accept": {"application/json"}})
	var j struct {
		LoginURL string `json:"login_url"`
	}
	decodeJSON(t, body, &j)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(j.LoginURL, "/wechat_auth/login?") {
		t.Fatalf("API request: %d %s", resp.StatusCode, body)
	}
	g.openQR(t, api, strings.TrimPrefix(j.LoginURL, g.URL))
}

func TestDesktopSessionStaysWebInsideWeChat(t *testing.T) {
	// The source comes from the session, not the User-Agent: a desktop
	// session's website-app openid never reaches the upstream as mp.
	g := desktopGateway(t, true)
	desk := newDesktop()
	g.desktopLogin(t, desk, "/x", "bob")
	desk.UserAgent = wechattest.IPhoneUA // the same cookie, now from the WeChat client
	resp, _ := desk.get(t, g.URL+"/y")
	if resp.StatusCode != 200 || g.up.last(t).Header.Get("X-Wechat-Source") != "web" || g.up.last(t).Header.Get("X-Wechat-Openid") != g.sim.OpenID(webAppID, "bob") {
		t.Errorf("desktop cookie in WeChat: %d source %q", resp.StatusCode, g.up.last(t).Header.Get("X-Wechat-Source"))
	}
}

// phoneBrowserUAs are browsers outside WeChat on phones: the website app's
// QR code would be on the screen of the phone that must scan it.
var phoneBrowserUAs = []string{
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
}

func TestDesktopLoginSendsPhoneBrowsersToOpenInWeChatAndTabletsToTheQRCode(t *testing.T) {
	g := desktopGateway(t, true)
	for _, ua := range phoneBrowserUAs {
		for _, path := range []string{"/orders", "/wechat_auth/login?rd=/orders"} {
			b := newDesktop()
			b.UserAgent = ua
			resp, body := b.get(t, g.URL+path)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "请在微信中打开此页面") || resp.Request.URL.Host != strings.TrimPrefix(g.URL, "http://") {
				t.Errorf("%s on a phone (%.40s…): %d at %s, want the open-in-WeChat page: %.200s", path, ua, resp.StatusCode, resp.Request.URL, body)
			}
		}
		api := newDesktop()
		api.UserAgent = ua
		if resp, body := api.do(t, "GET", g.URL+"/api/orders", http.Header{"Accept": {"application/json"}}); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"not_wechat"`) {
			t.Errorf("API request from a phone browser: %d %s, want 403 not_wechat", resp.StatusCode, body)
		}
	}
	if n := g.sim.CallCount("/connect/qrconnect"); n != 0 {
		t.Errorf("phone browsers were shown %d QR codes", n)
	}
	// A tablet (no "Mobi") can be scanned by a phone: it gets the QR code.
	tablet := newDesktop()
	tablet.UserAgent = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	g.openQR(t, tablet, "/orders")
}
