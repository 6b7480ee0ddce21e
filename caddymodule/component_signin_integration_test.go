package wechatauth_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// Two merchants' Official Accounts served through the third-party platform
// on two sites of one Caddy, the simulator playing WeChat and pushing to the
// platform's receiver.

type merchantSites struct {
	*platformGateway
	a, b string // the sites of merchantA and merchantB
}

// startMerchantSites runs the receiver and one wechat_auth site per
// merchant (b with scope snsapi_userinfo), all on 127.0.0.1: the
// simulator's loopback domain rule admits them as the platform's
// 公众号开发域名 would.
func startMerchantSites(t *testing.T) *merchantSites {
	t.Helper()
	port, pa, pb := testnet.Port(t), testnet.Port(t), testnet.Port(t)
	m := &merchantSites{platformGateway: &platformGateway{URL: fmt.Sprintf("http://127.0.0.1:%d", port)},
		a: fmt.Sprintf("http://127.0.0.1:%d", pa), b: fmt.Sprintf("http://127.0.0.1:%d", pb)}
	g := m.platformGateway
	g.events = g.URL + "/wechat/component/events"
	g.sim = wechattest.NewServer(wechattest.WithComponent(wechattest.Component{AppID: compAppID, Secret: compSecret,
		Token: compToken, EncodingAESKey: compAESKey, PushURL: g.events}),
		wechattest.WithApp(merchantA, ""), wechattest.WithApp(merchantB, ""))
	t.Cleanup(g.sim.Close)
	g.logFile = t.TempDir() + "/caddy.log"
	site := func(port int, appID, scope string) string {
		return fmt.Sprintf(`http://127.0.0.1:%d {
	wechat_auth {
		app_id %s
		component
		scope %s
		session_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}
	}
	respond "merchant=%s appid={http.auth.user.appid} header={http.request.header.X-WeChat-AppID} openid={http.auth.user.id} nickname={http.auth.user.nickname}"
}
`, port, appID, scope, appID)
	}
	g.config = platformConfig(g.logFile, g.sim.URL, fmt.Sprintf(`http://127.0.0.1:%d {
	wechat_component_events /wechat/component/events
	respond "platform site"
}
%s%s`, port, site(pa, merchantA, "snsapi_base"), site(pb, merchantB, "snsapi_userinfo")))
	loadCaddyfile(t, g.config)
	for _, p := range []int{port, pa, pb} {
		waitListening(t, p)
	}
	return m
}

// TestComponentSignInOnTwoMerchantSites: an account that has not authorized
// the platform gets a page, never an authorize redirect; once both have,
// A's visitor signs in silently and B's with consent, through the platform
// (component_appid on the authorize URL, the component code exchange), and
// the upstream learns the account (X-WeChat-AppID, a forged one stripped;
// {http.auth.user.appid});
// B's cookie is refused on A; an expired component token is replaced
// without the visitor noticing; after the unauthorized event A's new
// visitors get the page again.
func TestComponentSignInOnTwoMerchantSites(t *testing.T) {
	m := startMerchantSites(t)
	sim := m.sim

	early := newBrowser("alice")
	early.StopAt = "/connect/oauth2/authorize"
	resp, body := early.get(t, m.a+"/")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "此公众号暂未开通登录") {
		t.Fatalf("an account that has not authorized the platform: %d %.200s", resp.StatusCode, body)
	}
	if n := sim.CallCount("/connect/oauth2/authorize"); n != 0 {
		t.Fatalf("the unauthorized account's visitor was sent to WeChat (%d authorize calls)", n)
	}

	if _, err := sim.PushTicket(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{merchantA, merchantB} {
		if err := sim.AuthorizeAccount(id); err != nil {
			t.Fatal(err)
		}
	}

	alice := newBrowser("alice")
	alice.Header.Set("X-WeChat-AppID", merchantB) // forged: stripped, the session's account goes upstream
	resp, body = alice.get(t, m.a+"/orders")
	if resp.StatusCode != 200 || !strings.Contains(body, "merchant="+merchantA+" appid="+merchantA+" header="+merchantA+" openid=o") {
		t.Fatalf("silent sign-in on A: %d %.300s", resp.StatusCode, body)
	}
	var authorize string
	for _, c := range sim.Calls() {
		if c.Path == "/connect/oauth2/authorize" {
			authorize = c.Query.Encode()
		}
	}
	if !strings.Contains(authorize, "appid="+merchantA) || !strings.Contains(authorize, "component_appid="+compAppID) {
		t.Fatalf("the authorize request does not name the authorizer and the platform: %s", authorize)
	}
	if sim.CallCount("/sns/oauth2/component/access_token") != 1 || sim.CallCount("/sns/oauth2/access_token") != 0 {
		t.Fatal("the code was not redeemed through sns/oauth2/component/access_token")
	}

	bob := newBrowser("bob")
	bob.Consent = "allow"
	resp, body = bob.get(t, m.b+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, "merchant="+merchantB) || strings.Contains(body, "nickname= ") || strings.HasSuffix(body, "nickname=") {
		t.Fatalf("sign-in with consent on B: %d %.300s", resp.StatusCode, body)
	}

	// B's cookie (snsapi_userinfo, enough for A's snsapi_base) on A: not
	// A's session, so A starts its own sign-in.
	bCookie := bob.cookie(m.b, "wechat_session")
	req, _ := http.NewRequest("GET", m.a+"/", nil)
	req.Header.Set("Cookie", "wechat_session="+bCookie)
	req.Header.Set("User-Agent", wechattest.IPhoneUA)
	r2, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if loc := r2.Header.Get("Location"); bCookie == "" || r2.StatusCode != http.StatusFound || !strings.Contains(loc, "appid="+merchantA) {
		t.Fatalf("B's cookie on A: %d %q, want a sign-in to A", r2.StatusCode, loc)
	}

	// WeChat ends the component token early: the next login gets 42001 on
	// the exchange, drops the token, fetches one and succeeds.
	sim.ExpireComponentTokens()
	before := sim.CallCount("/cgi-bin/component/api_component_token")
	carol := newBrowser("carol")
	if resp, body := carol.get(t, m.a+"/"); resp.StatusCode != 200 || !strings.Contains(body, "merchant="+merchantA) {
		t.Fatalf("sign-in after the component token expired: %d %.300s", resp.StatusCode, body)
	}
	if n := sim.CallCount("/cgi-bin/component/api_component_token") - before; n != 1 {
		t.Fatalf("%d component token fetches after the expiry, want 1", n)
	}

	if err := sim.UnauthorizeAccount(merchantA); err != nil {
		t.Fatal(err)
	}
	late := newBrowser("dave")
	late.StopAt = "/connect/oauth2/authorize"
	if resp, body := late.get(t, m.a+"/"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "此公众号暂未开通登录") {
		t.Fatalf("after the unauthorized event: %d %.200s", resp.StatusCode, body)
	}
	logs, _ := os.ReadFile(m.logFile)
	if !strings.Contains(string(logs), "has not authorized the third-party platform") {
		t.Error("no log line for the refused sign-in")
	}
}

// TestComponentSignInWithoutTicketAnswersAPage: authorized but no ticket
// pushed yet: the visitor gets a page, the operator a log line naming the
// 授权事件接收URL.
func TestComponentSignInWithoutTicketAnswersAPage(t *testing.T) {
	m := startMerchantSites(t)
	if err := m.sim.AuthorizeAccount(merchantA); err != nil {
		t.Fatal(err)
	}
	resp, body := newBrowser("alice").get(t, m.a+"/")
	if resp.StatusCode < 500 || resp.StatusCode > 503 || strings.Contains(body, "panic") {
		t.Fatalf("sign-in without a ticket: %d %.300s", resp.StatusCode, body)
	}
	logs, _ := os.ReadFile(m.logFile)
	if !strings.Contains(string(logs), "授权事件接收URL") {
		t.Error("no log line names the 授权事件接收URL")
	}
}

// fromHostSites runs one wechat_auth with component from_host (plus extra
// settings) for *.wx.vendor.example, whose every host the returned dial
// makes a browser reach on Caddy's loopback port; merchants A and B have
// authorized the platform through pushes, merchant C only in the
// simulator (no event reached the gateway).
func fromHostSites(t *testing.T, extra string) (*wechattest.Server, func(*browser) *browser) {
	t.Helper()
	port, eport := testnet.Port(t), testnet.Port(t)
	events := fmt.Sprintf("http://127.0.0.1:%d/wechat/component/events", eport)
	sim := wechattest.NewServer(wechattest.WithComponent(wechattest.Component{AppID: compAppID, Secret: compSecret,
		Token: compToken, EncodingAESKey: compAESKey, PushURL: events, Domains: []string{"wx.vendor.example"},
		Authorizers: []string{merchantC}}),
		wechattest.WithApp(merchantA, ""), wechattest.WithApp(merchantB, ""))
	t.Cleanup(sim.Close)
	loadCaddyfile(t, platformConfig(t.TempDir()+"/caddy.log", sim.URL, fmt.Sprintf(`http://127.0.0.1:%d {
	wechat_component_events /wechat/component/events
}
http://*.wx.vendor.example:%d {
	wechat_auth {
		component from_host
		session_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}
		%s
	}
	respond "appid={http.auth.user.appid} header={http.request.header.X-WeChat-AppID} openid={http.auth.user.id}"
}
`, eport, port, extra)))
	waitListening(t, port)
	if _, err := sim.PushTicket(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{merchantA, merchantB} {
		if err := sim.AuthorizeAccount(id); err != nil {
			t.Fatal(err)
		}
	}
	return sim, func(b *browser) *browser {
		b.Resolve(".wx.vendor.example", fmt.Sprintf("127.0.0.1:%d", port))
		return b
	}
}

const merchantC = "wxmerchantc000001"

// TestComponentFromHostServesEachMerchantOnItsSubdomain: one wechat_auth
// with component from_host serves every authorizer on
// <AppID>.wx.vendor.example (the browser reaches Caddy's loopback port for
// any such host): A's visitor signs in as A's, the callback redeems for A;
// A's cookie is refused on B's host; a host whose account has not
// authorized the platform, or that names no AppID, gets the page.
func TestComponentFromHostServesEachMerchantOnItsSubdomain(t *testing.T) {
	sim, dial := fromHostSites(t, "")
	siteA, siteB := "http://"+merchantA+".wx.vendor.example", "http://"+merchantB+".wx.vendor.example"

	alice := dial(newBrowser("alice"))
	resp, body := alice.get(t, siteA+"/")
	want := "appid=" + merchantA + " header=" + merchantA + " openid=" + sim.OpenID(merchantA, "alice")
	if resp.StatusCode != 200 || body != want {
		t.Fatalf("sign-in on A's host: %d %q, want %q\n%s", resp.StatusCode, body, want, alice.HopsString())
	}
	bob := dial(newBrowser("bob"))
	if resp, body := bob.get(t, siteB+"/"); resp.StatusCode != 200 || body != "appid="+merchantB+" header="+merchantB+" openid="+sim.OpenID(merchantB, "bob") {
		t.Fatalf("sign-in on B's host: %d %q", resp.StatusCode, body)
	}

	// A's cookie on B's host: the same handler, keys and cookie name, but
	// not B's account: B's sign-in starts.
	copied := dial(newBrowser("alice"))
	copied.StopAt = "/connect/oauth2/authorize"
	copied.Header.Set("Cookie", "wechat_session="+alice.cookie(siteA, "wechat_session"))
	resp, _ = copied.get(t, siteB+"/")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "appid="+merchantB) {
		t.Fatalf("A's cookie on B's host: %d %q, want a sign-in to B", resp.StatusCode, loc)
	}

	for _, host := range []string{merchantC, "not-an-appid"} {
		b := dial(newBrowser("carol"))
		b.StopAt = "/connect/oauth2/authorize"
		if resp, body := b.get(t, "http://"+host+".wx.vendor.example/"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "此公众号暂未开通登录") {
			t.Fatalf("%s: %d %.200s, want the page", host, resp.StatusCode, body)
		}
	}
	if n := sim.CallCount("/sns/oauth2/component/access_token"); n != 2 {
		t.Fatalf("%d component code exchanges, want 2", n)
	}
}

// TestComponentAuthorizersListReplacesTheAuthorizedSet: with
// component_authorizers, the listed account C is served although no
// authorized event reached the gateway, and A, authorized by an event but
// not listed, gets the page.
func TestComponentAuthorizersListReplacesTheAuthorizedSet(t *testing.T) {
	sim, dial := fromHostSites(t, "component_authorizers "+merchantC)
	c := dial(newBrowser("alice"))
	if resp, body := c.get(t, "http://"+merchantC+".wx.vendor.example/"); resp.StatusCode != 200 || body != "appid="+merchantC+" header="+merchantC+" openid="+sim.OpenID(merchantC, "alice") {
		t.Fatalf("the listed account: %d %.200s", resp.StatusCode, body)
	}
	a := dial(newBrowser("alice"))
	a.StopAt = "/connect/oauth2/authorize"
	if resp, body := a.get(t, "http://"+merchantA+".wx.vendor.example/"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "此公众号暂未开通登录") {
		t.Fatalf("an authorized account not listed: %d %.200s", resp.StatusCode, body)
	}
}
