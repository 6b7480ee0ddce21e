package wechatauth_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

const userInfoPath = "/cgi-bin/user/info"

func TestSubscriberInfoForwardsFollowerStatusFromOneCachedCall(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "subscriber_info"})
	alice, bob := newBrowser("alice"), newBrowser("bob") // alice follows, bob does not
	if got := g.login(t, alice, "/a"); got.Header.Get("X-Wechat-Subscribed") != "1" {
		t.Errorf("alice (a follower): X-WeChat-Subscribed = %q, want 1", got.Header.Get("X-Wechat-Subscribed"))
	}
	if got := g.login(t, bob, "/a"); got.Header.Get("X-Wechat-Subscribed") != "0" {
		t.Errorf("bob (not a follower): X-WeChat-Subscribed = %q, want 0", got.Header.Get("X-Wechat-Subscribed"))
	}
	for i := 0; i < 20; i++ {
		g.login(t, alice, "/hot")
	}
	if n := g.sim.CallCount(userInfoPath); n != 2 {
		t.Errorf("%d user/info calls for 2 visitors and 22 requests, want 2 (cached)", n)
	}
	if n := g.sim.CallCount("/cgi-bin/stable_token"); n != 1 {
		t.Errorf("%d stable_token calls, want 1", n)
	}
	// A forged header never survives.
	alice.Header.Set("X-WeChat-Subscribed", "1")
	bob.Header.Set("X_WeChat_Subscribed", "1")
	if got := g.login(t, bob, "/b"); got.Header.Values("X-Wechat-Subscribed")[0] != "0" || len(got.Header.Values("X-Wechat-Subscribed")) != 1 {
		t.Errorf("bob forged X-WeChat-Subscribed: upstream got %q", got.Header.Values("X-Wechat-Subscribed"))
	}
}

func TestRequireSubscribeShowsFollowPageAndBypassButtonLetsFollowerIn(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "require_subscribe https://example.com/qr.jpg"})
	bob := newBrowser("bob")
	resp, body := bob.get(t, g.URL+"/vip?x=1")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "请先关注公众号") || !strings.Contains(body, "https://example.com/qr.jpg") || !strings.Contains(body, "我已关注") {
		t.Fatalf("non-follower: %d %.400s", resp.StatusCode, body)
	}
	if g.up.count() != 0 {
		t.Fatal("a non-follower reached the upstream")
	}
	resp, body = bob.do(t, "GET", g.URL+"/api/vip", http.Header{"Accept": {"application/json"}})
	if resp.StatusCode != 403 || !strings.Contains(body, "not_subscribed") {
		t.Fatalf("API non-follower: %d %s", resp.StatusCode, body)
	}

	g.sim.SetSubscribed(testAppID, "bob", true)
	// A reload within the cache TTL still says "follow first"...
	if resp, _ := bob.get(t, g.URL+"/vip?x=1"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("reload right after following: %d, want the cached answer (403)", resp.StatusCode)
	}
	// ...but the button checks again at once.
	calls := g.sim.CallCount(userInfoPath)
	resp, _ = bob.get(t, g.URL+"/wechat_auth/subscribed?rd=%2Fvip%3Fx%3D1")
	if resp.StatusCode != 200 || resp.Request.URL.RequestURI() != "/vip?x=1" || g.up.last(t).Header.Get("X-Wechat-Subscribed") != "1" {
		t.Fatalf("after 我已关注: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if g.sim.CallCount(userInfoPath) != calls+1 {
		t.Errorf("the button made %d user/info calls, want 1", g.sim.CallCount(userInfoPath)-calls)
	}
}

func TestRejectedBasicTokenIsRefetchedOnce(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "subscriber_info"})
	g.sim.Fail(userInfoPath, 1, wechattest.Fault{ErrCode: 40001})
	got := g.login(t, newBrowser("alice"), "/a")
	if got.Header.Get("X-Wechat-Subscribed") != "1" {
		t.Fatalf("X-WeChat-Subscribed = %q after a 40001, want 1", got.Header.Get("X-Wechat-Subscribed"))
	}
	if n := g.sim.CallCount("/cgi-bin/stable_token"); n != 2 {
		t.Errorf("%d stable_token calls, want 2 (one refetch after 40001)", n)
	}
}

func TestWeChatDownFollowerPagesAnswer503OthersKeepWorking(t *testing.T) {
	down := wechattest.Fault{Status: 502, Body: "bad gateway", ContentType: "text/plain"}
	t.Run("require_subscribe answers 503", func(t *testing.T) {
		g := startGateway(t, gatewayConfig{settings: "require_subscribe"})
		g.sim.Fail(userInfoPath, 100, down)
		resp, body := newBrowser("alice").get(t, g.URL+"/vip")
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "重试") || g.up.count() != 0 {
			t.Fatalf("%d %.300s", resp.StatusCode, body)
		}
	})
	t.Run("subscriber_info keeps serving without the header", func(t *testing.T) {
		g := startGateway(t, gatewayConfig{settings: "subscriber_info"})
		g.sim.Fail(userInfoPath, 100, down)
		got := g.login(t, newBrowser("alice"), "/page")
		if got.Header.Get("X-Wechat-Openid") == "" || got.Header.Get("X-Wechat-Subscribed") != "" {
			t.Fatalf("openid %q subscribed %q", got.Header.Get("X-Wechat-Openid"), got.Header.Get("X-Wechat-Subscribed"))
		}
	})
}

// A snsapi_base visitor of a bound account gets no unionid from the code
// exchange (WeChat sends it only for snsapi_userinfo); when the visitor
// follows, subscriber_info forwards the unionid cgi-bin/user/info gives.
func TestSubscriberInfoForwardsAFollowersUnionIDForBaseScope(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "subscriber_info", simOpts: []wechattest.Option{
		wechattest.WithBoundApp(testAppID, wechattest.DefaultAppSecret, "op")}})
	alice, bob := newBrowser("alice"), newBrowser("bob") // alice follows, bob does not
	for i := 0; i < 2; i++ {                             // the second request is served from the caches
		got := g.login(t, alice, "/a")
		if u := got.Header.Get("X-Wechat-Unionid"); u == "" || u != g.sim.UnionID(testAppID, "alice") || got.Header.Get("X-Wechat-Scope") != "snsapi_base" {
			t.Errorf("request %d: base-scope follower: X-WeChat-UnionID = %q (scope %q), want her unionid", i+1, u, got.Header.Get("X-Wechat-Scope"))
		}
	}
	if got := g.login(t, bob, "/a"); got.Header.Get("X-Wechat-Unionid") != "" {
		t.Errorf("non-follower: X-WeChat-UnionID = %q, want none (WeChat gives none)", got.Header.Get("X-Wechat-Unionid"))
	}
}

// TestFailedFollowerLookupIsCachedBriefly: during a WeChat outage a busy
// page does not ask WeChat (and log) on every request: a failed lookup is
// remembered for a few seconds.
func TestFailedFollowerLookupIsCachedBriefly(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "subscriber_info"})
	g.sim.Fail(userInfoPath, 1000, wechattest.Fault{Status: 502, Body: "bad gateway", ContentType: "text/plain"})
	alice := newBrowser("alice")
	g.login(t, alice, "/a")
	first := g.sim.CallCount(userInfoPath)
	for i := 0; i < 10; i++ {
		g.login(t, alice, "/a")
	}
	if first == 0 || g.sim.CallCount(userInfoPath) != first {
		t.Errorf("user/info calls: %d for the login, %d after 10 more requests; want them cached", first, g.sim.CallCount(userInfoPath))
	}
}
