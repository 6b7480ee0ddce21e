package wechatauth_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The forward-auth tests run the gateway as the examples deploy it, in this
// process: the endpoints under /wechat_auth, and every other path behind
// Caddy's own forward_auth asking /wechat_auth/auth of the same server (a
// trusted proxy), then reverse_proxy to the upstream. /auth_request is asked
// directly, with the browser's cookies and X-Original-URL, as nginx does.

const trustLoopback = `servers {
		trusted_proxies static 127.0.0.1/32
	}`

// identityHeaders are every header the gateway owns under the default prefix.
var identityHeaders = []string{"X-Wechat-Openid", "X-Wechat-Unionid", "X-Wechat-Scope", "X-Wechat-Nickname", "X-Wechat-Avatar", "X-Wechat-Subscribed", "X-Wechat-Source"}

// forwardAuthSite is a site whose /wechat_auth/* answers forward_auth for
// the rest; answerEdits are directives run on the answer before it.
func forwardAuthSite(answerEdits ...string) string {
	edits := ""
	for _, e := range answerEdits {
		edits += e + "\n\t\t"
	}
	return `handle /wechat_auth/* {
		` + edits + `%[1]s
		respond 404
	}
	handle {
		forward_auth %[3]s {
			uri /wechat_auth/auth
			copy_headers X-WeChat-OpenID X-WeChat-UnionID X-WeChat-Scope X-WeChat-Nickname X-WeChat-Avatar X-WeChat-Subscribed X-WeChat-Source
		}
		reverse_proxy %[2]s
	}`
}

func startForwardAuthGateway(t *testing.T, settings string, opts ...wechattest.Option) *gateway {
	t.Helper()
	return startGateway(t, gatewayConfig{global: trustLoopback, settings: settings, site: forwardAuthSite(), simOpts: opts})
}

// authRequest asks /wechat_auth/auth_request as nginx would for path, with
// b's cookies and headers, and returns the answer (not followed).
func authRequest(t *testing.T, g *gateway, b *browser, path string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	saved := b.Client.CheckRedirect
	b.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	defer func() { b.Client.CheckRedirect = saved }()
	h := http.Header{"X-Original-Url": {g.URL + path}}
	for k, v := range hdr {
		h[k] = v
	}
	return b.do(t, http.MethodGet, g.URL+"/wechat_auth/auth_request", h)
}

func TestForwardAuthEnforcesRequireSubscribeLikeTheInPathHandler(t *testing.T) {
	g := startForwardAuthGateway(t, "require_subscribe https://example.com/qr.jpg")
	alice, bob := newBrowser("alice"), newBrowser("bob") // alice follows, bob does not

	got := g.login(t, alice, "/vip?x=1")
	if got.Header.Get("X-Wechat-Openid") != g.sim.OpenID(testAppID, "alice") || got.Header.Get("X-Wechat-Subscribed") != "1" {
		t.Fatalf("follower through forward_auth: openid %q subscribed %q", got.Header.Get("X-Wechat-Openid"), got.Header.Get("X-Wechat-Subscribed"))
	}
	resp, _ := authRequest(t, g, alice, "/vip", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Wechat-Subscribed") != "1" {
		t.Fatalf("follower at /auth_request: %d subscribed %q", resp.StatusCode, resp.Header.Get("X-Wechat-Subscribed"))
	}

	before := g.up.count()
	resp, body := bob.get(t, g.URL+"/vip?x=1")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "请先关注公众号") || !strings.Contains(body, "/wechat_auth/subscribed?rd=%2Fvip%3Fx%3D1") {
		t.Fatalf("non-follower through forward_auth: %d %.300s", resp.StatusCode, body)
	}
	resp, body = bob.do(t, http.MethodGet, g.URL+"/api/vip", http.Header{"Accept": {"application/json"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not_subscribed") {
		t.Fatalf("non-follower API through forward_auth: %d %s", resp.StatusCode, body)
	}
	if resp, _ := authRequest(t, g, bob, "/vip", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("non-follower at /auth_request: %d, want 403", resp.StatusCode)
	}
	if g.up.count() != before {
		t.Fatal("a non-follower reached the upstream through forward-auth")
	}

	// WeChat down: neither entry point lets the visitor through.
	g.sim.Fail(userInfoPath, 1000, wechattest.Fault{Status: 502, Body: "bad gateway", ContentType: "text/plain"})
	carol := newBrowser("carol")
	resp, body = carol.get(t, g.URL+"/vip")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "重试") {
		t.Fatalf("WeChat down through forward_auth: %d %.300s", resp.StatusCode, body)
	}
	if resp, _ := authRequest(t, g, carol, "/vip", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("WeChat down at /auth_request: %d, want 503", resp.StatusCode)
	}
	if g.up.count() != before {
		t.Fatal("a visitor WeChat could not vouch for reached the upstream")
	}
}

func TestForwardAuthForwardsFollowerStatusWithSubscriberInfo(t *testing.T) {
	g := startForwardAuthGateway(t, "subscriber_info")
	alice, bob := newBrowser("alice"), newBrowser("bob")
	if got := g.login(t, alice, "/a"); got.Header.Get("X-Wechat-Subscribed") != "1" {
		t.Errorf("follower: X-WeChat-Subscribed = %q through forward_auth, want 1", got.Header.Get("X-Wechat-Subscribed"))
	}
	bob.Header.Set("X-WeChat-Subscribed", "1") // forged: the answer's 0 must win
	if got := g.login(t, bob, "/a"); got.Header.Values("X-Wechat-Subscribed")[0] != "0" || len(got.Header.Values("X-Wechat-Subscribed")) != 1 {
		t.Errorf("non-follower: X-WeChat-Subscribed = %q through forward_auth, want [0]", got.Header.Values("X-Wechat-Subscribed"))
	}
	if resp, _ := authRequest(t, g, bob, "/a", nil); resp.StatusCode != http.StatusOK || resp.Header.Get("X-Wechat-Subscribed") != "0" {
		t.Errorf("non-follower at /auth_request: %d subscribed %q, want 200 and 0", resp.StatusCode, resp.Header.Get("X-Wechat-Subscribed"))
	}

	// WeChat down: still served, the status named and empty.
	g.sim.Fail(userInfoPath, 1000, wechattest.Fault{Status: 502, Body: "bad gateway", ContentType: "text/plain"})
	carol := newBrowser("carol")
	carol.Header.Set("X-WeChat-Subscribed", "1")
	got := g.login(t, carol, "/a")
	if got.Header.Get("X-Wechat-Openid") == "" || got.Header.Get("X-Wechat-Subscribed") != "" {
		t.Errorf("WeChat down: openid %q subscribed %q, want an openid and no status", got.Header.Get("X-Wechat-Openid"), got.Header.Get("X-Wechat-Subscribed"))
	}
	resp, _ := authRequest(t, g, carol, "/a", nil)
	if v, ok := resp.Header["X-Wechat-Subscribed"]; resp.StatusCode != http.StatusOK || !ok || v[0] != "" {
		t.Errorf("WeChat down at /auth_request: %d X-WeChat-Subscribed %q present=%v, want 200 and present empty", resp.StatusCode, v, ok)
	}
}

func TestAuthAnswerNamesEveryIdentityHeaderEmptyWhenUnknown(t *testing.T) {
	g := startForwardAuthGateway(t, "non_wechat allow")
	alice := newBrowser("alice")
	g.login(t, alice, "/x")
	resp, _ := authRequest(t, g, alice, "/x", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/auth_request: %d", resp.StatusCode)
	}
	for _, h := range identityHeaders {
		if _, ok := resp.Header[h]; !ok {
			t.Errorf("the answer for a base-scope session does not name %s", h)
		}
	}
	if resp.Header.Get("X-Wechat-Openid") == "" || resp.Header.Get("X-Wechat-Unionid") != "" || resp.Header.Get("X-Wechat-Nickname") != "" {
		t.Errorf("values: %v", resp.Header)
	}

	// Anonymous (non_wechat allow): 200, every header named and empty.
	desk := newBrowser("")
	desk.UserAgent = desktopUA
	resp, _ = authRequest(t, g, desk, "/x", nil)
	for _, h := range identityHeaders {
		if v, ok := resp.Header[h]; resp.StatusCode != http.StatusOK || !ok || v[0] != "" {
			t.Errorf("anonymous answer: %d %s = %q present=%v, want 200 and present empty", resp.StatusCode, h, v, ok)
		}
	}
	// Through Caddy's forward_auth the client's own copies never survive.
	forged := http.Header{}
	for _, h := range identityHeaders {
		forged[h] = []string{"forged"}
	}
	desk.do(t, http.MethodGet, g.URL+"/page", forged)
	for _, h := range identityHeaders {
		if v := g.up.last(t).Header.Get(h); v != "" {
			t.Errorf("anonymous request: upstream got %s = %q", h, v)
		}
	}
}
