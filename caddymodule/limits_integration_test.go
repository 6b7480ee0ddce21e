package wechatauth_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestSizeNeverBreaksALogin sends return URLs of growing size, up to and
// past what Caddy accepts in a request head (16 KiB by default, beyond
// which Caddy itself answers 431), through a page, the API, /login and
// /auth_request: every answer is below 500, and a page login ends at the
// upstream with the URL kept whole when it fits the flow cookie and
// shortened to its path when it does not.
func TestSizeNeverBreaksALogin(t *testing.T) {
	g := startGateway(t, gatewayConfig{global: trustLoopback})
	for _, n := range []int{100, 1000, 1900, 2100, 3000, 4000, 5000, 12000, 16000, 19500, 100000} {
		q := "/p?q=" + strings.Repeat("a", n)
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b := newBrowser("alice")
			resp, body := b.get(t, g.URL+q)
			if n > 20000 && resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge {
				return // Caddy's own limit, before any handler
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("page with a %d-byte query: %d %.200s", n, resp.StatusCode, body)
			}
			want := q
			if len(q) > 2048 {
				want = "/p" // shortened to its path: see shortenReturnURL
			}
			if got := g.up.last(t).URL.RequestURI(); got != want {
				t.Errorf("login ended at %.60q (%d bytes), want %.60q (%d bytes)", got, len(got), want, len(want))
			}
			for _, c := range []struct {
				name string
				u    string
				hdr  http.Header
			}{
				{"API", g.URL + q, http.Header{"Accept": {"application/json"}}},
				{"login", g.URL + "/wechat_auth/login?rd=" + url.QueryEscape(q), nil},
				{"auth_request", g.URL + "/wechat_auth/auth_request", http.Header{"X-Original-Url": {g.URL + q}}},
			} {
				fresh := newBrowser("alice")
				fresh.StopAt = "/connect/oauth2/authorize"
				resp, body := fresh.do(t, http.MethodGet, c.u, c.hdr)
				if resp.StatusCode >= 500 {
					t.Errorf("%s with a %d-byte return URL: %d %.200s", c.name, n, resp.StatusCode, body)
				}
			}
		})
	}
}

// TestHugeProfileIsTrimmedSoTheSessionAlwaysSeals: a nickname and avatar
// too large for the 4 KiB cookie are trimmed (nickname first, then the
// avatar, then the nickname altogether); the login still ends at the
// upstream with the openid, never a 500.
func TestHugeProfileIsTrimmedSoTheSessionAlwaysSeals(t *testing.T) {
	for _, n := range []int{10, 200, 1000, 3000, 20000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			avatar := "https://thirdwx.qlogo.cn/mmopen/" + strings.Repeat("x", min(n, 990)) + "/132"
			g := startGateway(t, gatewayConfig{settings: "scope snsapi_userinfo", simOpts: []wechattest.Option{
				wechattest.WithUser(wechattest.User{Name: "big", Nickname: strings.Repeat("微", n), HeadImgURL: avatar}),
			}})
			b := newBrowser("big")
			resp, body := b.get(t, g.URL+"/me")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("a %d-character nickname: %d %.200s", n, resp.StatusCode, body)
			}
			got := g.up.last(t)
			if got.Header.Get("X-Wechat-Openid") != g.sim.OpenID(testAppID, "big") || got.Header.Get("X-Wechat-Scope") != "snsapi_userinfo" {
				t.Fatalf("openid %q scope %q", got.Header.Get("X-Wechat-Openid"), got.Header.Get("X-Wechat-Scope"))
			}
			nick, _ := url.PathUnescape(got.Header.Get("X-Wechat-Nickname"))
			if n <= 200 && nick != strings.Repeat("微", n) {
				t.Errorf("a nickname that fits was changed: %d characters", len([]rune(nick)))
			}
			if n > 200 && len([]rune(nick)) > 32 {
				t.Errorf("an oversize nickname was not trimmed: %d characters", len([]rune(nick)))
			}
		})
	}
}

// TestFollowPageAndRetryLinksStayOnSite: the links the follow page and the
// require_subscribe 503 page build from the request URI pass the return-URL
// check, so "//evil.com/x" never becomes an off-site link.
func TestFollowPageAndRetryLinksStayOnSite(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "require_subscribe"})
	bob := newBrowser("bob")
	if resp, _ := bob.get(t, g.URL+"/"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bob's first visit: %d, want the follow page", resp.StatusCode)
	}
	resp, body := bob.get(t, g.URL+"//evil.com/x")
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "evil.com") {
		t.Fatalf("follow page for //evil.com/x: %d, links %q", resp.StatusCode, links(body))
	}
	g.sim.Fail(userInfoPath, 1000, wechattest.Fault{Status: 502, Body: "bad gateway", ContentType: "text/plain"})
	carol := newBrowser("carol")
	if resp, _ := carol.get(t, g.URL+"/"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("carol's first visit: %d, want 503", resp.StatusCode)
	}
	resp, body = carol.get(t, g.URL+"//evil.com/x")
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "evil.com") {
		t.Fatalf("503 page for //evil.com/x: %d, links %q", resp.StatusCode, links(body))
	}
	if !strings.Contains(body, `href="/"`) {
		t.Errorf("the retry link is not the safe fallback /: %q", links(body))
	}
}

func links(body string) []string {
	var out []string
	for _, part := range strings.Split(body, `href="`)[1:] {
		out = append(out, part[:strings.IndexByte(part, '"')])
	}
	return out
}

// TestAvatarWithMarkupIsDropped: an avatar URL with quotes or angle
// brackets is neither forwarded nor stored.
func TestAvatarWithMarkupIsDropped(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "scope snsapi_userinfo", simOpts: []wechattest.Option{
		wechattest.WithUser(wechattest.User{Name: "mal", Nickname: "m", HeadImgURL: `https://thirdwx.qlogo.cn/a"><script>alert(1)</script>/132`}),
	}})
	mal := newBrowser("mal")
	got := g.login(t, mal, "/me")
	if got.Header.Get("X-Wechat-Openid") == "" || got.Header.Get("X-Wechat-Avatar") != "" {
		t.Errorf("openid %q avatar %q, want an openid and no avatar", got.Header.Get("X-Wechat-Openid"), got.Header.Get("X-Wechat-Avatar"))
	}
	if _, body := mal.get(t, g.URL+"/wechat_auth/userinfo"); strings.Contains(body, "script") || !strings.Contains(body, "openid") {
		t.Errorf("the session kept the avatar: %s", body)
	}
}

// TestBaseScopeUnionIDNeverComesFromTheCodeExchange: a snsapi_base visitor
// gets a unionid only from cgi-bin/user/info (subscriber_info, see
// TestSubscriberInfoForwardsAFollowersUnionIDForBaseScope), never from the
// code exchange, which WeChat fills for snsapi_userinfo only.
func TestBaseScopeUnionIDNeverComesFromTheCodeExchange(t *testing.T) {
	bound := wechattest.WithBoundApp(testAppID, wechattest.DefaultAppSecret, "open1")
	// A code exchange that (unlike WeChat) names a unionid for snsapi_base
	// is not believed.
	plain := startGateway(t, gatewayConfig{simOpts: []wechattest.Option{bound}})
	plain.sim.Fail("/sns/oauth2/access_token", 1, wechattest.Fault{Status: 200, Body: `{"access_token":"ACCESS","expires_in":7200,"refresh_token":"REFRESH","openid":"` +
		plain.sim.OpenID(testAppID, "alice") + `","scope":"snsapi_base","unionid":"oFromTheExchange000000000000"}`})
	if got := plain.login(t, newBrowser("alice"), "/a"); got.Header.Get("X-Wechat-Unionid") != "" {
		t.Errorf("snsapi_base without subscriber_info: X-WeChat-UnionID = %q, want none (never from the code exchange)", got.Header.Get("X-Wechat-Unionid"))
	}
}
