package cli

import (
	"context"
	"errors"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The demo tests load Caddy into this test process (caddy.Load), which holds
// one config at a time: none of them may run in parallel.

// runningDemo is a demo started by startDemo.
type runningDemo struct {
	urls demoURLs
	out  *syncBuffer
	stop func() error // cancels the context and returns runDemo's result
}

// startDemo runs runDemo on free loopback ports with Caddy's files in a temp
// home; the demo is stopped at the end of the test if the test did not.
func startDemo(t *testing.T) *runningDemo {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_DATA_HOME", home+"/data")
	t.Setenv("XDG_CONFIG_HOME", home+"/config")
	ctx, cancel := context.WithCancel(context.Background())
	d := &runningDemo{out: &syncBuffer{}}
	ready := make(chan demoURLs, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- runDemo(ctx, demoOptions{Listen: "127.0.0.1:0", MockListen: "127.0.0.1:0",
			ready: func(u demoURLs) { ready <- u }}, d.out)
	}()
	var result error
	stopped := false
	d.stop = func() error {
		if stopped {
			return result
		}
		stopped = true
		cancel()
		select {
		case result = <-errc:
		case <-time.After(15 * time.Second):
			result = errors.New("runDemo did not return within 15s of cancel")
		}
		return result
	}
	t.Cleanup(func() { _ = d.stop() })
	select {
	case d.urls = <-ready:
		return d
	case err := <-errc:
		stopped = true
		cancel()
		t.Fatalf("wechat-demo: %v\n%s", err, d.out.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("wechat-demo did not start within 15s\n%s", d.out.String())
	}
	return nil
}

// newDemoBrowser is WeChat's browser on a phone without any simulator test
// header: it signs in through the picker and the consent page, as a person
// would.
func newDemoBrowser() *wechattest.Browser {
	b := wechattest.NewBrowser("")
	b.Consent = ""
	b.Client.Timeout = 10 * time.Second
	return b
}

// newDemoDesktop is a desktop browser: the gateway offers it scan-to-login.
func newDemoDesktop() *wechattest.Browser {
	b := wechattest.NewDesktopBrowser()
	b.Client.Timeout = 10 * time.Second
	return b
}

// formField finds a hidden input's value in a page, as a browser submitting the form would send it.
func formField(t *testing.T, page *wechattest.Page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no %s field on %s:\n%s", name, page.URL, page.Body)
	}
	return html.UnescapeString(m[1])
}

// signIn opens the demo page and walks the picker (choosing user), which
// signs in silently (snsapi_base, no nickname yet); then it presses the
// 完善资料 button and 允许 on the consent page until the page shows nickname.
func signIn(t *testing.T, d *runningDemo, user, nickname string) *wechattest.Browser {
	t.Helper()
	b := newDemoBrowser()
	picker := b.Get(t, d.urls.Site+"/")
	if picker.URL.Path != "/mock/users" || !strings.Contains(picker.Body, "选择测试用户") {
		t.Fatalf("opening the page ended on %s (%d), want the simulator's user picker:\n%s", picker.URL, picker.Status, picker.Body)
	}
	silent := b.PostForm(t, picker.URL.ResolveReference(&url.URL{Path: "/mock/users"}).String(),
		url.Values{"user": {user}, "next": {formField(t, picker, "next")}})
	if silent.URL.String() != d.urls.Site+"/" || strings.Contains(silent.Body, nickname) || !strings.Contains(silent.Body, `id="openid"`) {
		t.Fatalf("choosing %s ended on %s (%d), want the demo page signed in silently, without the nickname:\n%s", user, silent.URL, silent.Status, silent.Body)
	}
	m := regexp.MustCompile(`id="profile"[^>]* href="([^"]*)"`).FindStringSubmatch(silent.Body)
	if m == nil {
		t.Fatalf("the silently signed-in page has no 完善资料 button:\n%s", silent.Body)
	}
	href, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil || href.Path != "/wechat_auth/login" || href.Query().Get("scope") != "snsapi_userinfo" {
		t.Fatalf("the 完善资料 button links to %q, want /wechat_auth/login?scope=snsapi_userinfo&rd=…", m[1])
	}
	consent := b.Get(t, silent.URL.ResolveReference(href).String())
	if consent.URL.Path != "/connect/oauth2/authorize" || consent.URL.Query().Get("scope") != "snsapi_userinfo" || !strings.Contains(consent.Body, "允许") {
		t.Fatalf("pressing 完善资料 ended on %s (%d), want the consent page for snsapi_userinfo:\n%s", consent.URL, consent.Status, consent.Body)
	}
	page := b.PostForm(t, consent.URL.ResolveReference(&url.URL{Path: "/connect/oauth2/authorize/confirm"}).String(),
		url.Values{"ticket": {formField(t, consent, "ticket")}, "action": {"allow"}})
	if page.Status != http.StatusOK || page.URL.String() != d.urls.Site+"/" || !strings.Contains(page.Body, nickname) || strings.Contains(page.Body, `id="profile"`) {
		t.Fatalf("允许 ended on %s (%d), want the demo page showing %q and no 完善资料 button:\n%s", page.URL, page.Status, nickname, page.Body)
	}
	return b
}

// openIDOn reads the openid the demo page shows.
func openIDOn(t *testing.T, page *wechattest.Page) string {
	t.Helper()
	m := regexp.MustCompile(`id="openid">([^<]+)<`).FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("%s shows no openid:\n%s", page.URL, page.Body)
	}
	return m[1]
}

func TestWechatDemoIsRegisteredAsCaddyCommand(t *testing.T) {
	cmd, ok := caddycmd.Commands()["wechat-demo"]
	if !ok || cmd.CobraFunc == nil || cmd.Short == "" || !strings.Contains(cmd.Usage, "--mock-listen") {
		t.Fatalf("wechat-demo not registered: %+v", cmd)
	}
}

func TestWechatDemoSignsInThroughPickerAndConsentBindsAPhoneAndLogsOut(t *testing.T) {
	d := startDemo(t)
	for _, want := range []string{d.urls.Site + "/", "bob", "李四 🐟", "完善资料", "允许", "scope snsapi_base", "{env." + demoSecretEnv + "}",
		"desktop_login " + demoWebAppID + " {env." + demoWebSecretEnv + "}", "确认登录", "unionid"} {
		if !strings.Contains(d.out.String(), want) {
			t.Errorf("the banner lacks %q:\n%s", want, d.out.String())
		}
	}
	for _, secret := range []string{wechattest.DefaultAppSecret, demoWebAppSecret} {
		if strings.Contains(d.out.String(), secret) {
			t.Errorf("the banner shows the secret %s", secret)
		}
	}

	bob := signIn(t, d, "bob", "李四 🐟")

	bad := bob.PostForm(t, d.urls.Site+"/bind", url.Values{"phone": {"12800138000"}})
	if bad.Status != http.StatusBadRequest || !strings.Contains(bad.Body, "手机号格式不正确") {
		t.Errorf("binding 12800138000: %d, want 400 with 手机号格式不正确:\n%s", bad.Status, bad.Body)
	}
	bound := bob.PostForm(t, d.urls.Site+"/bind", url.Values{"phone": {"138 0013 8000"}})
	if bound.URL.Path != "/" || !strings.Contains(bound.Body, `id="phone">13800138000<`) || !strings.Contains(bound.Body, "绑定成功") {
		t.Fatalf("after binding, %s (%d) does not show 13800138000 bound:\n%s", bound.URL, bound.Status, bound.Body)
	}
	bobOpenID := openIDOn(t, bound)

	alice := signIn(t, d, "alice", "张三")
	taken := alice.PostForm(t, d.urls.Site+"/bind", url.Values{"phone": {"13800138000"}})
	if taken.Status != http.StatusConflict || !strings.Contains(taken.Body, "已被其他微信账号绑定") {
		t.Errorf("alice binding bob's number: %d, want 409 已被其他微信账号绑定:\n%s", taken.Status, taken.Body)
	}

	out := bob.Get(t, d.urls.Site+"/wechat_auth/logout?rd=/logged-out")
	if out.URL.Path != "/logged-out" || !strings.Contains(out.Body, "已退出登录") {
		t.Fatalf("logout ended on %s (%d):\n%s", out.URL, out.Status, out.Body)
	}
	resp := bob.Step(t, d.urls.Site+"/")
	if loc := resp.Header.Get("Location"); resp.Status != http.StatusFound || !strings.HasPrefix(loc, d.urls.Mock+"/connect/oauth2/authorize?") {
		t.Fatalf("after logout the page answered %d Location %q, want 302 to the simulator's authorize page", resp.Status, loc)
	}
	// Signing in again (silently: snsapi_base, and the simulator remembers
	// bob) finds the binding, which belongs to the openid, not to the session.
	again := bob.Get(t, d.urls.Site+"/")
	if openIDOn(t, again) != bobOpenID || !strings.Contains(again.Body, `id="phone">13800138000<`) || !strings.Contains(again.Body, `id="profile"`) {
		t.Errorf("bob signing in again, want his openid %s, his number and the 完善资料 button: %s (%d):\n%s", bobOpenID, again.URL, again.Status, again.Body)
	}
	// The page uses the gateway's JS-SDK helper, and the gateway signs it.
	if !strings.Contains(again.Body, `<script src="/wechat_auth/jssdk.js"></script>`) {
		t.Errorf("the page does not load the JS-SDK helper:\n%s", again.Body)
	}
	sig := bob.Get(t, d.urls.Site+"/wechat_auth/jssdk?url="+url.QueryEscape(d.urls.Site+"/"))
	if sig.Status != 200 || !strings.Contains(sig.Body, `"signature":"`) || !strings.Contains(sig.Body, `"url":"`+d.urls.Site+`/"`) {
		t.Errorf("signing the demo page: %d %s", sig.Status, sig.Body)
	}

	if err := d.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestWechatDemoDesktopScanBindsAndBobInWeChatFindsTheNumberByUnionID walks
// the demo's two flows as one person: bob scans the QR code a desktop browser
// shows and binds a number there; on his phone, inside WeChat, he is signed
// in silently (openid only), presses 完善资料, and the number bound on the
// computer shows, found by the unionid both apps share.
//
// It runs twice: with two devices (a desktop browser and a phone), and as
// the banner tells a person with one browser to do it: the scan page in a
// tab of the same browser, then the site on localhost instead of 127.0.0.1
// with WeChat's User-Agent, so the computer's session cookie stays behind.
func TestWechatDemoDesktopScanBindsAndBobInWeChatFindsTheNumberByUnionID(t *testing.T) {
	for _, oneBrowser := range []bool{false, true} {
		t.Run(map[bool]string{false: "two devices", true: "one browser as the banner says"}[oneBrowser], func(t *testing.T) {
			walkDemoAsBobOnBothSides(t, oneBrowser)
		})
	}
}

func walkDemoAsBobOnBothSides(t *testing.T, oneBrowser bool) {
	d := startDemo(t)
	desk := newDemoDesktop()
	qr := desk.Get(t, d.urls.Site+"/")
	if qr.URL.Path != "/connect/qrconnect" || qr.URL.Query().Get("appid") != demoWebAppID || qr.ScanURL() == "" {
		t.Fatalf("a desktop browser opening the demo ended on %s (%d), want the website app's QR code:\n%s", qr.URL, qr.Status, qr.Body)
	}
	scanURL, _ := url.Parse(qr.ScanURL())
	uuid := scanURL.Query().Get("uuid")

	// The phone scans: the scan page lists the test users, bob confirms.
	phone, phoneSite := newDemoBrowser(), d.urls.Site
	if oneBrowser {
		phone, phoneSite = desk, strings.Replace(d.urls.Site, "127.0.0.1", "localhost", 1)
		if !strings.Contains(d.out.String(), phoneSite+"/") {
			t.Errorf("the banner does not send the phone to %s/:\n%s", phoneSite, d.out.String())
		}
	}
	if p := phone.Get(t, qr.ScanURL()); !strings.Contains(p.Body, `value="bob"`) {
		t.Fatalf("the phone's scan page lists no users:\n%s", p.Body)
	}
	confirm := d.urls.Mock + "/connect/confirm"
	if p := phone.PostForm(t, confirm, url.Values{"uuid": {uuid}, "user": {"bob"}}); !strings.Contains(p.Body, "确认登录") {
		t.Fatalf("after picking bob the phone does not ask 确认登录:\n%s", p.Body)
	}
	if p := phone.PostForm(t, confirm, url.Values{"uuid": {uuid}, "user": {"bob"}, "action": {"allow"}}); !strings.Contains(p.Body, "已确认登录") {
		t.Fatalf("确认登录 on the phone:\n%s", p.Body)
	}
	// The desktop page polls (a meta refresh in a browser) and signs in.
	signed := desk.Get(t, d.urls.Mock+"/connect/qrconnect/poll?uuid="+uuid)
	if signed.URL.String() != d.urls.Site+"/" || !strings.Contains(signed.Body, "李四 🐟") || !strings.Contains(signed.Body, `id="source">电脑扫码登录`) {
		t.Fatalf("the desktop after the scan is on %s (%d), want the demo page as bob from the computer:\n%s", signed.URL, signed.Status, signed.Body)
	}
	union := regexp.MustCompile(`id="unionid">([^<]+)<`).FindStringSubmatch(signed.Body)
	if union == nil {
		t.Fatalf("the desktop page shows no unionid:\n%s", signed.Body)
	}
	webOpenID := openIDOn(t, signed)
	if bound := desk.PostForm(t, d.urls.Site+"/bind", url.Values{"phone": {"13800138000"}}); !strings.Contains(bound.Body, `id="phone">13800138000<`) {
		t.Fatalf("binding on the computer: %s (%d):\n%s", bound.URL, bound.Status, bound.Body)
	}

	// Bob in WeChat, on the phone that scanned: no picker, signed in
	// silently with the Official Account's openid and no unionid yet.
	if oneBrowser {
		phone.UserAgent = wechattest.IPhoneUA // DevTools → Network conditions
	}
	silent := phone.Get(t, phoneSite+"/")
	if silent.URL.String() != phoneSite+"/" || !strings.Contains(silent.Body, `id="source">微信内登录`) ||
		strings.Contains(silent.Body, `id="phone"`) || !strings.Contains(silent.Body, `id="link-hint"`) {
		t.Fatalf("bob in WeChat: %s (%d), want the page signed in silently, no number yet and the hint:\n%s", silent.URL, silent.Status, silent.Body)
	}
	if mpOpenID := openIDOn(t, silent); mpOpenID == webOpenID {
		t.Errorf("the Official Account and the website app gave bob the same openid %s", mpOpenID)
	}
	// 完善资料 → 允许: now the gateway has the unionid, and the number shows.
	consent := phone.Get(t, phoneSite+"/wechat_auth/login?scope=snsapi_userinfo&rd=/")
	page := phone.PostForm(t, consent.URL.ResolveReference(&url.URL{Path: "/connect/oauth2/authorize/confirm"}).String(),
		url.Values{"ticket": {formField(t, consent, "ticket")}, "action": {"allow"}})
	if !strings.Contains(page.Body, `id="phone">13800138000<`) || !strings.Contains(page.Body, `id="unionid">`+union[1]+`<`) {
		t.Errorf("bob in WeChat after 完善资料: want the number bound on the computer and unionid %s:\n%s", union[1], page.Body)
	}
}

func TestWechatDemoStopsCleanlyOnCancelReleasingPortsAndGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	d := startDemo(t)
	b := newDemoBrowser()
	if r := b.Get(t, d.urls.Site+"/"); r.URL.Path != "/mock/users" {
		t.Fatalf("the demo does not answer: %s %d", r.URL, r.Status)
	}
	start := time.Now()
	if err := d.stop(); err != nil {
		t.Fatalf("runDemo after cancel: %v, want nil\n%s", err, d.out.String())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopping took %v", took)
	}
	if !strings.Contains(d.out.String(), "wechat-demo stopped") {
		t.Errorf("no goodbye in the output:\n%s", d.out.String())
	}
	for _, u := range []string{d.urls.Site, d.urls.Mock, d.urls.Upstream} {
		// A port the demo still holds stays held; on a busy machine a
		// port it released can be in another socket's use for a moment
		// (an outgoing connection's local port), so look a few times.
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			var ln net.Listener
			if ln, err = net.Listen("tcp", strings.TrimPrefix(u, "http://")); err == nil {
				ln.Close()
				break
			}
			if time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Errorf("%s still held 5 s after stop: %v", u, err)
		}
	}
	// Goroutines wind down asynchronously (closed connections, Caddy's
	// cleanups); a few may stay for good (Caddy's process-wide workers).
	// Under load the winding down takes a while: a leak never ends.
	const tolerance = 5
	var now int
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if now = runtime.NumGoroutine(); now <= before+tolerance {
			t.Logf("goroutines before %d after %d", before, now)
			return
		}
	}
	buf := make([]byte, 1<<20)
	t.Errorf("goroutines: %d before the demo, %d after stopping (tolerance %d)\n%s", before, now, tolerance, buf[:runtime.Stack(buf, true)])
}

func TestWechatDemoNamesTheFlagWhenAPortIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for _, tc := range []struct {
		opts demoOptions
		flag string
	}{
		{demoOptions{Listen: addr, MockListen: "127.0.0.1:0"}, "--listen"},
		{demoOptions{Listen: "127.0.0.1:0", MockListen: addr}, "--mock-listen"},
	} {
		err := runDemo(context.Background(), tc.opts, io.Discard)
		if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), tc.flag+" ") {
			t.Errorf("%s on a taken port: %v, want an error naming %s and %s", tc.flag, err, addr, tc.flag)
		}
	}
}

func TestWechatDemoListensOnLoopbackOnly(t *testing.T) {
	for in, want := range map[string]string{
		"8080":           "127.0.0.1:8080",
		":8080":          "127.0.0.1:8080",
		"localhost:8080": "127.0.0.1:8080",
		"127.0.0.1:0":    "127.0.0.1:0",
	} {
		if got, err := loopbackAddr("--listen", in); err != nil || got != want {
			t.Errorf("loopbackAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"0.0.0.0:8080", "192.168.1.2:8080", "[::]:8080", "example.com:80", "http", "127.0.0.1:http", "127.0.0.1:70000"} {
		if got, err := loopbackAddr("--listen", in); err == nil || !strings.Contains(err.Error(), "--listen") {
			t.Errorf("loopbackAddr(%q) = %q, %v; want an error naming --listen", in, got, err)
		}
	}
}
