package wechatauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// Tests of the endpoints under path_prefix (endpoints.go, and /login).

// openRedirects are return URLs (rd) that lead off this site.
var openRedirects = []string{"https://evil.com/", "//evil.com", "/\\evil.com", "javascript:alert(1)", "http://127.0.0.1.evil.com/"}

func TestLogoutUserinfoAndLoginEndpoints(t *testing.T) {
	for _, f := range loginFlows {
		t.Run(f.name, func(t *testing.T) {
			g := f.start(t, gatewayConfig{settings: "redirect_domains .example.com"})
			b := f.browser("alice")

			resp, body := b.get(t, g.URL+"/wechat_auth/userinfo")
			if resp.StatusCode != 401 {
				t.Fatalf("userinfo without a session: %d %s", resp.StatusCode, body)
			}
			f.login(t, g, b, "/x")
			resp, body = b.get(t, g.URL+"/wechat_auth/userinfo")
			var u struct{ OpenID, Scope string }
			decodeJSON(t, body, &u)
			if resp.StatusCode != 200 || u.OpenID != g.sim.OpenID(f.appID, "alice") || u.Scope != f.scope {
				t.Fatalf("userinfo: %d %s", resp.StatusCode, body)
			}

			b.StopAt = "example.com"
			resp, _ = b.get(t, g.URL+"/wechat_auth/logout?rd="+url.QueryEscape("https://shop.example.com/bye?x=1"))
			if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://shop.example.com/bye?x=1" {
				t.Fatalf("logout to an allowed domain: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			b.StopAt = ""
			if b.cookie(g.URL, "wechat_session") != "" {
				t.Fatal("logout left the session cookie")
			}
			resp, _ = b.get(t, g.URL+"/wechat_auth/userinfo")
			if resp.StatusCode != 401 {
				t.Fatalf("userinfo after logout: %d", resp.StatusCode)
			}

			b.StopAt = "127.0.0.1" // read logout's own answer, follow nothing
			for _, rd := range openRedirects {
				resp, _ := b.get(t, g.URL+"/wechat_auth/logout?rd="+url.QueryEscape(rd))
				if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
					t.Errorf("logout rd=%q answered %d Location %q, want 302 to /", rd, resp.StatusCode, resp.Header.Get("Location"))
				}
			}

			// login?rd= starts a flow and lands on rd, or on this site's / when
			// rd leads elsewhere.
			b.StopAt = ""
			resp, _ = f.visit(t, g, b, "/wechat_auth/login?rd="+url.QueryEscape("/after?y=2"))
			if resp.Request.URL.RequestURI() != "/after?y=2" || resp.StatusCode != 200 {
				t.Fatalf("login?rd ended at %d %s", resp.StatusCode, resp.Request.URL)
			}
			for _, rd := range openRedirects {
				before := g.up.count()
				resp, body := f.visit(t, g, b, "/wechat_auth/login?rd="+url.QueryEscape(rd))
				if resp.StatusCode != 200 || resp.Request.URL.String() != g.URL+"/" || g.up.count() != before+1 {
					t.Errorf("login rd=%q ended with %d at %s, want this site's /: %.200s", rd, resp.StatusCode, resp.Request.URL, body)
				}
			}
		})
	}
}

func TestEndpointsAnswerOutsideTheProtectMatcher(t *testing.T) {
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	g2 := startGateway(t, gatewayConfig{sim: sim, site: strings.ReplaceAll(`wechat_auth /app/* {
		app_id `+testAppID+`
		app_secret {env.TEST_WECHAT_SECRET}
		api_base SIM
		open_base SIM
	}
	reverse_proxy %[2]s`, "SIM", sim.URL)})
	b := newBrowser("alice")
	// Unprotected paths pass without login, but still without forged identity.
	b.Header.Set("X-WeChat-OpenID", "forged")
	if resp, _ := b.get(t, g2.URL+"/public"); resp.StatusCode != 200 || g2.up.last(t).Header.Get("X-Wechat-Openid") != "" {
		t.Fatalf("unprotected path: %d openid %q", resp.StatusCode, g2.up.last(t).Header.Get("X-Wechat-Openid"))
	}
	b.Header = http.Header{}
	if sim.CallCount("/connect/oauth2/authorize") != 0 {
		t.Fatal("an unprotected path was sent to WeChat")
	}
	// A protected path logs in through the callback, which is outside /app/*.
	got := g2.login(t, b, "/app/bind")
	if got.Header.Get("X-Wechat-Openid") != sim.OpenID(testAppID, "alice") {
		t.Fatal("no identity on the protected path")
	}
}
