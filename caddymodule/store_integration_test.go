package wechatauth_test

import (
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// userinfoWith asks g's userinfo endpoint with a copied session cookie and
// returns the status: 200 admitted, 401 refused.
func userinfoWith(t *testing.T, g *gateway, cookie string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", g.URL+"/wechat_auth/userinfo", nil)
	req.Header.Set("Cookie", "wechat_session="+cookie)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// loggedOutCookie logs alice in on g, copies her session cookie, logs out
// and returns the copy, checking that g refuses it.
func loggedOutCookie(t *testing.T, g *gateway) string {
	t.Helper()
	b := newBrowser("alice")
	g.login(t, b, "/x")
	cookie := b.cookie(g.URL, "wechat_session")
	if cookie == "" || userinfoWith(t, g, cookie) != 200 {
		t.Fatal("no working session cookie after login")
	}
	b.StopAt = "127.0.0.1"
	b.get(t, g.URL+"/wechat_auth/logout")
	if userinfoWith(t, g, cookie) != 401 {
		t.Fatal("the copied cookie still works after logout")
	}
	return cookie
}

// TestReloadKeepsLogoutsInMemory: without a shared store, a logout made
// before `caddy reload` is still refused after it (the revocations live
// outside the per-config app).
func TestReloadKeepsLogoutsInMemory(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	cookie := loggedOutCookie(t, g)
	// A reload: a new config replaces the running one in this process.
	g2 := startGateway(t, gatewayConfig{sim: g.sim, settings: "session_ttl 24h"})
	if code := userinfoWith(t, g2, cookie); code != 401 {
		t.Fatalf("after a reload the logged-out cookie gets %d, want 401", code)
	}
}

// TestReplicaServesNoCookieBeforeLoadingRevocations: a replica that starts
// while Redis is up has loaded the revocations before its port answers
// (the first request after start is checked); one that starts while Redis
// is down refuses a cookie issued before it started (the visitor signs in
// again) and admits a fresh login.
func TestReplicaServesNoCookieBeforeLoadingRevocations(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("TEST_WECHAT_STORE", srv.URL())
	gc := gatewayConfig{global: "wechat {\n\t\tstore {env.TEST_WECHAT_STORE}\n\t}"}
	g := startGateway(t, gc)
	cookie := loggedOutCookie(t, g)
	b := newBrowser("bob")
	g.login(t, b, "/x")
	bobs := b.cookie(g.URL, "wechat_session")

	// A fresh start of the replica (not a reload: nothing is kept).
	_ = caddy.Stop()
	gc.sim = g.sim
	g = startGateway(t, gc)
	if code := userinfoWith(t, g, cookie); code != 401 {
		t.Fatalf("the first request after start admits a logged-out cookie: %d", code)
	}
	if code := userinfoWith(t, g, bobs); code != 200 {
		t.Fatalf("a live session is refused after start: %d", code)
	}

	_ = caddy.Stop()
	srv.Stop()
	g = startGateway(t, gc)
	if code := userinfoWith(t, g, bobs); code != 401 {
		t.Fatalf("with the store down at start, a cookie issued before start gets %d, want 401 (unchecked)", code)
	}
	fresh := newBrowser("carol")
	g.login(t, fresh, "/x") // a new sign-in works meanwhile
}
