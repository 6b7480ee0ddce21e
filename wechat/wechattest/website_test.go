package wechattest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

const (
	webApp      = "wxweb0000000000001"
	webSecret   = "websecret0000000000000000000000a"
	loneWebApp  = "wxweb0000000000002"
	loneSecret  = "websecret0000000000000000000000b"
	oaApp       = "wxoa00000000000001"
	oaSecret    = "oasecret00000000000000000000000a"
	openAccount = "op-shop"
)

// desktopSim has an Official Account and a website app of one Open Platform
// account, and a website app of none; the site's callback URL is recorded.
func desktopSim(t *testing.T, opts ...wechattest.Option) (*wechattest.Server, *httptest.Server, *[]url.Values) {
	t.Helper()
	sim := newServer(t, append([]wechattest.Option{
		wechattest.WithBoundApp(oaApp, oaSecret, openAccount),
		wechattest.WithWebsiteApp(webApp, webSecret, openAccount),
		wechattest.WithWebsiteApp(loneWebApp, loneSecret, ""),
	}, opts...)...)
	var got []url.Values
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.Query())
		w.Write([]byte("callback"))
	}))
	t.Cleanup(site.Close)
	return sim, site, &got
}

func qrconnectURL(sim *wechattest.Server, app, redirectURI string) string {
	return sim.URL + "/connect/qrconnect?appid=" + app + "&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&response_type=code&scope=snsapi_login&state=st4te#wechat_redirect"
}

// scanLogin opens the desktop page, scans it as user answering answer on the
// phone, and lets the desktop page poll on to the callback.
func scanLogin(t *testing.T, sim *wechattest.Server, app, redirectURI, user, answer string) (*wechattest.Browser, *wechattest.Page) {
	t.Helper()
	desk := wechattest.NewDesktopBrowser()
	page := desk.Get(t, qrconnectURL(sim, app, redirectURI))
	if !strings.Contains(page.Body, "<svg") || page.ScanURL() == "" {
		t.Fatalf("qrconnect page shows no QR code: %d %s", page.Status, page.Body)
	}
	phone := wechattest.NewBrowser(user)
	phone.Consent = answer
	if p := phone.Get(t, page.ScanURL()); p.Status != 200 {
		t.Fatalf("scan page: %d %s", p.Status, p.Body)
	}
	return desk, desk.Get(t, sim.URL+"/connect/qrconnect/poll?uuid="+uuidOf(t, page.ScanURL()))
}

func uuidOf(t *testing.T, scanURL string) string {
	u, err := url.Parse(scanURL)
	if err != nil || u.Query().Get("uuid") == "" {
		t.Fatalf("scan URL %q has no uuid", scanURL)
	}
	return u.Query().Get("uuid")
}

func exchange(t *testing.T, sim *wechattest.Server, app, secret, code string) map[string]any {
	t.Helper()
	_, body := raw(t, "GET", sim.URL+"/sns/oauth2/access_token?appid="+app+"&secret="+secret+"&code="+code+"&grant_type=authorization_code", "")
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return m
}

func TestQRConnectBoundWebsiteAppSharesTheUnionIDNotTheOpenID(t *testing.T) {
	sim, site, got := desktopSim(t)
	_, end := scanLogin(t, sim, webApp, site.URL+"/cb", "bob", "allow")
	if end.Body != "callback" || len(*got) != 1 || (*got)[0].Get("state") != "st4te" || (*got)[0].Get("code") == "" {
		t.Fatalf("callback: %q %v", end.Body, *got)
	}
	tok := exchange(t, sim, webApp, webSecret, (*got)[0].Get("code"))
	if tok["scope"] != "snsapi_login" || tok["openid"] != sim.OpenID(webApp, "bob") {
		t.Fatalf("token: %v", tok)
	}
	if tok["openid"] == sim.OpenID(oaApp, "bob") {
		t.Error("the website app's openid equals the Official Account's")
	}
	if tok["unionid"] == "" || tok["unionid"] != sim.UnionID(oaApp, "bob") {
		t.Errorf("unionid %v, want the Official Account's %q", tok["unionid"], sim.UnionID(oaApp, "bob"))
	}
	_, body := raw(t, "GET", sim.URL+"/sns/userinfo?access_token="+tok["access_token"].(string)+"&openid="+tok["openid"].(string), "")
	var ui map[string]any
	_ = json.Unmarshal(body, &ui)
	if ui["nickname"] != "李四 🐟" || ui["unionid"] != tok["unionid"] {
		t.Errorf("userinfo: %s", body)
	}
	// The code belongs to the website app: the Official Account cannot redeem it.
	code := sim.IssueCode(webApp, "bob", "snsapi_login")
	if e := exchange(t, sim, oaApp, oaSecret, code); e["errcode"] != float64(40029) {
		t.Errorf("OA redeemed a website app's code: %v", e)
	}
}

func TestQRConnectUnboundWebsiteAppHasNoUnionID(t *testing.T) {
	sim, site, got := desktopSim(t)
	scanLogin(t, sim, loneWebApp, site.URL+"/cb", "bob", "allow")
	if len(*got) != 1 {
		t.Fatalf("callbacks: %v", *got)
	}
	tok := exchange(t, sim, loneWebApp, loneSecret, (*got)[0].Get("code"))
	if tok["openid"] != sim.OpenID(loneWebApp, "bob") || tok["unionid"] != nil {
		t.Errorf("token: %v", tok)
	}
}

func TestQRConnectDeclinedScanReturnsStateWithoutCode(t *testing.T) {
	sim, site, got := desktopSim(t)
	scanLogin(t, sim, webApp, site.URL+"/cb", "bob", "deny")
	if len(*got) != 1 || (*got)[0].Has("code") || (*got)[0].Get("state") != "st4te" {
		t.Fatalf("callback after a declined scan: %v", *got)
	}
}

func TestQRConnectScanPagePicksUserThenAsksToConfirm(t *testing.T) {
	sim, site, got := desktopSim(t)
	desk := wechattest.NewDesktopBrowser()
	page := desk.Get(t, qrconnectURL(sim, webApp, site.URL+"/cb"))
	phone := wechattest.NewBrowser("")
	phone.Consent = ""
	uuid := uuidOf(t, page.ScanURL())
	if p := phone.Get(t, page.ScanURL()); !strings.Contains(p.Body, `value="carol"`) {
		t.Fatalf("scan page without a user lists no users: %s", p.Body)
	}
	p := phone.PostForm(t, sim.URL+"/connect/confirm", url.Values{"uuid": {uuid}, "user": {"carol"}})
	if !strings.Contains(p.Body, "确认登录") {
		t.Fatalf("no 确认登录 after picking: %s", p.Body)
	}
	if w := desk.Get(t, sim.URL+"/connect/qrconnect/poll?uuid="+uuid); !strings.Contains(w.Body, "扫描成功：王五") || len(*got) != 0 {
		t.Fatalf("desktop page after the scan: %s", w.Body)
	}
	phone.PostForm(t, sim.URL+"/connect/confirm", url.Values{"uuid": {uuid}, "user": {"carol"}, "action": {"allow"}})
	desk.Get(t, sim.URL+"/connect/qrconnect/poll?uuid="+uuid)
	if len(*got) != 1 || exchange(t, sim, webApp, webSecret, (*got)[0].Get("code"))["openid"] != sim.OpenID(webApp, "carol") {
		t.Fatalf("callbacks: %v", *got)
	}
	// Answered once: the same uuid neither redirects again nor takes another answer.
	if again := desk.Get(t, sim.URL+"/connect/qrconnect/poll?uuid="+uuid); !strings.Contains(again.Body, "二维码已失效") || len(*got) != 1 {
		t.Errorf("second poll: %s", again.Body)
	}
}

func TestQRConnectScanPagePickSignsThePhoneInAsThatUser(t *testing.T) {
	sim, site, _ := desktopSim(t)
	page := wechattest.NewDesktopBrowser().Get(t, qrconnectURL(sim, webApp, site.URL+"/cb"))
	phone := wechattest.NewBrowser("")
	phone.Consent = ""
	phone.PostForm(t, sim.URL+"/connect/confirm", url.Values{"uuid": {uuidOf(t, page.ScanURL())}, "user": {"carol"}})
	// The same phone opening an Official Account page is carol, with no picker.
	resp := phone.Step(t, sim.URL+"/connect/oauth2/authorize?appid="+oaApp+"&redirect_uri="+url.QueryEscape(site.URL+"/cb")+
		"&response_type=code&scope=snsapi_base&state=s#wechat_redirect")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.Status != http.StatusFound || loc == nil || loc.Path != "/cb" {
		t.Fatalf("authorize on the phone that scanned as carol: %d %q, want a redirect to the callback", resp.Status, resp.Header.Get("Location"))
	}
	if got := exchange(t, sim, oaApp, oaSecret, loc.Query().Get("code"))["openid"]; got != sim.OpenID(oaApp, "carol") {
		t.Errorf("the phone is %v in WeChat, want carol (%s)", got, sim.OpenID(oaApp, "carol"))
	}
}

func TestQRConnectExpiredQRCodeIsRefusedOnBothSides(t *testing.T) {
	clock := wechattest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	sim, site, got := desktopSim(t, wechattest.WithClock(clock))
	desk := wechattest.NewDesktopBrowser()
	page := desk.Get(t, qrconnectURL(sim, webApp, site.URL+"/cb"))
	if len(sim.QRCodes()) != 1 {
		t.Fatalf("QRCodes: %v", sim.QRCodes())
	}
	clock.Advance(wechattest.QRTTL)
	phone := wechattest.NewBrowser("bob")
	if p := phone.Get(t, page.ScanURL()); !strings.Contains(p.Body, "二维码已失效") {
		t.Errorf("phone scanned an expired code: %s", p.Body)
	}
	if w := desk.Get(t, sim.URL+"/connect/qrconnect/poll?uuid="+uuidOf(t, page.ScanURL())); !strings.Contains(w.Body, "二维码已失效") {
		t.Errorf("desktop page after expiry: %s", w.Body)
	}
	if len(*got) != 0 || len(sim.QRCodes()) != 0 {
		t.Errorf("callbacks %v, live codes %v", *got, sim.QRCodes())
	}
}

func TestQRConnectRefusesWhatWeChatRefuses(t *testing.T) {
	sim, site, _ := desktopSim(t, wechattest.WithWebsiteApp("wxwebstrict0000003", "s", openAccount, "https://login.example.com"))
	cb := site.URL + "/cb"
	cases := []struct {
		name, url string
		code      string
	}{
		{"Official Account AppID", qrconnectURL(sim, oaApp, cb), "10005"},
		{"unknown AppID", qrconnectURL(sim, "wxnope", cb), "40013"},
		{"no AppID", qrconnectURL(sim, "", cb), "10012"},
		{"wrong scope", strings.Replace(qrconnectURL(sim, webApp, cb), "snsapi_login", "snsapi_userinfo", 1), "10005"},
		{"no redirect_uri", qrconnectURL(sim, webApp, ""), "10011"},
		{"no state", strings.Replace(qrconnectURL(sim, webApp, cb), "&state=st4te", "", 1), "10013"},
		{"redirect_uri outside the website app's own domain", qrconnectURL(sim, "wxwebstrict0000003", cb), "10003"},
		{"scheme other than the website app's setting", qrconnectURL(sim, "wxwebstrict0000003", "http://login.example.com/cb"), "10039"},
		{"website AppID on the Official Account's authorize page", sim.URL + "/connect/oauth2/authorize?appid=" + webApp +
			"&redirect_uri=" + url.QueryEscape(cb) + "&response_type=code&scope=snsapi_base&state=s#wechat_redirect", "10016"},
	}
	for _, c := range cases {
		b := wechattest.NewBrowser("bob") // even the WeChat client gets these errors
		b.UserAgent = wechattest.DesktopUA
		if c.code == "10016" {
			b.UserAgent = wechattest.IPhoneUA
		}
		p := b.Get(t, c.url)
		if got := p.Header.Get("X-WeChat-Mock-Error"); got != c.code || strings.Contains(p.Body, "<svg") {
			t.Errorf("%s: error %q, want %s: %s", c.name, got, c.code, p.Body)
		}
	}
	if n := len(sim.QRCodes()); n != 0 {
		t.Errorf("refused requests left %d QR codes", n)
	}
	// The website app's own setting is what counts: it takes its domain with https.
	b := wechattest.NewDesktopBrowser()
	if p := b.Get(t, qrconnectURL(sim, "wxwebstrict0000003", "https://login.example.com/wechat_auth/callback")); p.ScanURL() == "" {
		t.Errorf("redirect_uri on the website app's own domain refused: %s", p.Body)
	}
}
