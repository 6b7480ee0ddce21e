package wechatauth_test

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
)

// What a relay client's operator holds — its session_keys and its relay
// key — and what it must not be able to do with them: sign anybody in on
// another client or on the relay, or forge the relay's word for another
// client. shop.example.test plays the compromised client A, m.example.test
// the other client B.

// relayRequestOf starts a login at start in b and returns the client origin
// and sealed request of the relay URL it is sent to.
func (e *relayEnv) relayRequestOf(t *testing.T, b *browser, start string) (client, req string) {
	t.Helper()
	saved := b.StopAt
	b.StopAt = e.prefix + "/relay?"
	defer func() { b.StopAt = saved }()
	resp, body := b.get(t, start)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("req") == "" {
		t.Fatalf("login at %s did not go to the relay: %d %q %.200s", start, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return loc.Query().Get("client"), loc.Query().Get("req")
}

func TestRelayClientSessionIsWorthNothingOnAnotherClientOrTheRelay(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})
	// What shop's operator can mint with shop's session_keys: a session for
	// any openid, with the widest scope.
	keysOf := func(host string) (string, string) {
		return os.Getenv("TEST_" + siteEnv(host) + "_HASH_KEY"), os.Getenv("TEST_" + siteEnv(host) + "_BLOCK_KEY")
	}
	const victim = "oVictimOpenID000000000000000"
	mint := func(host string) string {
		t.Helper()
		hash, block := keysOf(host)
		v, err := wechatauth.SealSessionForTest(hash, block, victim)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	visit := func(host, cookie string) (*http.Response, int) {
		t.Helper()
		b := e.browser("")
		b.StopAt = "/connect/oauth2/authorize"
		u, _ := url.Parse("http://" + host + "/")
		b.Jar.SetCookies(u, []*http.Cookie{{Name: "wechat_session", Value: cookie, Path: "/"}})
		before := e.m.count() + e.relay.count() + e.shop.count()
		resp, _ := b.get(t, "http://"+host+"/private")
		return resp, e.m.count() + e.relay.count() + e.shop.count() - before
	}
	forged := mint(shopHost)
	for _, host := range []string{mHost, relayHost} {
		if resp, reached := visit(host, forged); resp.StatusCode == http.StatusOK || reached != 0 {
			t.Errorf("%s let a session minted with shop's keys through: %d, upstream reached %d times", host, resp.StatusCode, reached)
		}
	}
	// The controls: the same cookie on shop, and one minted with m's own
	// keys on m, are taken, so only the keys stood in the way.
	if resp, _ := visit(shopHost, forged); resp.StatusCode != http.StatusOK || e.shop.last(t).Header.Get("X-Wechat-Openid") != victim {
		t.Fatalf("shop refused a session sealed with its own keys: %d", resp.StatusCode)
	}
	if resp, _ := visit(mHost, mint(mHost)); resp.StatusCode != http.StatusOK || e.m.last(t).Header.Get("X-Wechat-Openid") != victim {
		t.Fatalf("m refused a session sealed with its own keys: %d", resp.StatusCode)
	}
}

func TestRelayClientKeyForgesNoHandBackForAnotherClient(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})
	shopKey, mKey := relayKeyOf(t, "http://"+shopHost), relayKeyOf(t, "http://"+mHost)
	start := "http://" + mHost + "/account"

	// bob's browser starts a login on m. The test, knowing m's key, reads
	// the login's state, which shop's operator never could: even with it,
	// shop's key must not do.
	bob := e.browser("bob")
	client, req := e.relayRequestOf(t, bob, start)
	if client != "http://"+mHost {
		t.Fatalf("the relay request names client %q", client)
	}
	if _, err := wechatauth.RelayRequestStateForTest(shopKey, client, req); err == nil {
		t.Fatal("shop's key opened m's relay request")
	}
	state, err := wechatauth.RelayRequestStateForTest(mKey, client, req)
	if err != nil {
		t.Fatal(err)
	}

	forged, err := wechatauth.SealHandBackForTest(shopKey, "http://"+mHost, state, "oVictimOpenID000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	resp, body := bob.get(t, "http://"+mHost+"/wechat_auth/handback?hb="+url.QueryEscape(forged))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "登录凭证无效") {
		t.Fatalf("a hand-back for m sealed with shop's key: %d %.200s", resp.StatusCode, body)
	}
	assertNoSession(t, bob, mHost, resp)
	// Sealed for shop (its own origin) and delivered to m: refused too.
	forged, _ = wechatauth.SealHandBackForTest(shopKey, "http://"+shopHost, state, "oVictimOpenID000000000000000")
	resp, _ = bob.get(t, "http://"+mHost+"/wechat_auth/handback?hb="+url.QueryEscape(forged))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("shop's own hand-back delivered to m: %d", resp.StatusCode)
	}
	assertNoSession(t, bob, mHost, resp)

	// The control: the same hand-back under m's key is taken, so nothing but
	// the key stood in the way.
	genuine, _ := wechatauth.SealHandBackForTest(mKey, "http://"+mHost, state, "oVictimOpenID000000000000000")
	resp, _ = bob.get(t, "http://"+mHost+"/wechat_auth/handback?hb="+url.QueryEscape(genuine))
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != start ||
		e.m.last(t).Header.Get("X-Wechat-Openid") != "oVictimOpenID000000000000000" {
		t.Fatalf("the control hand-back under m's key: %d at %s", resp.StatusCode, resp.Request.URL)
	}

	// Nor can shop's key start a login the relay would hand back to m.
	carol := e.browser("carol")
	fake, _ := wechatauth.SealRelayRequestForTest(shopKey, "http://"+mHost, "http://"+mHost+"/wechat_auth/handback", strings.Repeat("S", 32))
	resp, _ = carol.get(t, "http://"+relayHost+e.prefix+"/relay?client="+url.QueryEscape("http://"+mHost)+"&req="+url.QueryEscape(fake))
	if resp.StatusCode != http.StatusBadRequest || resp.Request.URL.Host != relayHost {
		t.Fatalf("a request for m sealed with shop's key: %d at %s", resp.StatusCode, resp.Request.URL)
	}
}

func TestRelayURLsCarryNoOpenIDUnionIDOrNickname(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})
	b := e.browser("alice")
	b.Consent = "allow"
	for _, u := range []string{"http://" + shopHost + "/a", "http://" + mHost + "/b"} {
		if resp, _ := b.get(t, u); resp.StatusCode != http.StatusOK {
			t.Fatalf("login at %s: %d", u, resp.StatusCode)
		}
	}
	got := e.m.last(t).Header
	who := []string{got.Get("X-Wechat-Openid"), got.Get("X-Wechat-Unionid"), got.Get("X-Wechat-Nickname"), "张三"}
	if who[0] == "" {
		t.Fatal("m's upstream got no openid: the test would prove nothing")
	}
	for _, u := range e.traffic.all() {
		dec, _ := url.QueryUnescape(u)
		for _, w := range who {
			if w != "" && (strings.Contains(u, w) || strings.Contains(dec, w)) {
				t.Errorf("%q is readable in %s", w, u)
			}
		}
	}
}

// shop runs as a catch-all site (http://:port), and the relay serves every
// preview host: a Host header naming a preview host must not make shop ask
// the relay to hand a login back there.
func TestRelayCatchAllClientHandsBackOnlyToItsConfiguredOrigin(t *testing.T) {
	e := startRelayEnv(t, relayOptions{shopAddr: "http://:%d", relayFor: "*.preview.example.test"})
	b := e.browser("alice")
	resp, body := b.get(t, "http://evil.preview.example.test/orders")
	if resp.StatusCode != http.StatusForbidden || resp.Request.URL.Host != "evil.preview.example.test" || !strings.Contains(body, "未配置微信登录") {
		t.Fatalf("a catch-all client on a foreign Host: %d at %s: %.200s", resp.StatusCode, resp.Request.URL, body)
	}
	for _, u := range e.traffic.all() {
		if strings.Contains(u, relayHost) {
			t.Fatalf("a login for the foreign host went to the relay: %s", u)
		}
	}
	// Its configured origin still signs in through the catch-all site.
	resp, _ = b.get(t, "http://"+shopHost+"/orders")
	if resp.StatusCode != http.StatusOK || e.shop.last(t).Header.Get("X-Wechat-Openid") != e.openID("alice") {
		t.Fatalf("shop on its own origin: %d at %s", resp.StatusCode, resp.Request.URL)
	}
}
