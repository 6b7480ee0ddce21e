package wechatauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// A callback URL (…/callback?code=C&state=S) ends up in access logs, a load
// balancer's log, a shared browser's history. Whoever holds it after the
// login has C, and S, but not the victim's flow cookie for S: they can only
// bring their own flow cookie with their own state. These tests replay the
// victim's code that way and check the answer stays with the victim.

// withCode is callback u (the attacker's own, with their state) carrying code.
func withCode(t *testing.T, u, code string) string {
	t.Helper()
	pu := mustURL(u)
	q := pu.Query()
	q.Set("code", code)
	pu.RawQuery = q.Encode()
	return pu.String()
}

// twinOf is a browser holding b's cookies for site: a second request of the
// same browser sent before the first one's answer arrived (a double tap).
func twinOf(b *browser, mk func() *browser, site string) *browser {
	twin := mk()
	u, _ := url.Parse(site)
	twin.Jar.SetCookies(u, b.Jar.Cookies(u))
	return twin
}

// openIDsSince returns the openids the upstream received after its first n requests.
func (u *upstream) openIDsSince(n int) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, r := range u.reqs[n:] {
		out = append(out, r.Header.Get("X-Wechat-Openid"))
	}
	return out
}

// TestReplayedCallbackCodeGivesAnotherBrowserNoSession: on one site, in
// both login flows, the attacker's browser replaying the victim's code with
// its own flow cookie right after the victim's login (the claim still
// holds the victim's session) is answered as a used code: a silent restart
// that signs the attacker in as themselves, never as the victim. The
// victim's own double callback still continues with the victim's session,
// without a second exchange.
func TestReplayedCallbackCodeGivesAnotherBrowserNoSession(t *testing.T) {
	for _, f := range loginFlows {
		t.Run(f.name, func(t *testing.T) {
			g := f.start(t, gatewayConfig{})
			victim := f.browser("alice")
			callback := f.callbackURL(t, g, victim, "/account")
			code := mustURL(callback).Query().Get("code")
			twin := twinOf(victim, func() *browser { return f.browser("alice") }, g.URL)
			if resp, _ := victim.get(t, callback); resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/account" {
				t.Fatalf("the victim's login ended at %d %s", resp.StatusCode, resp.Request.URL)
			}
			aliceID := g.up.last(t).Header.Get("X-Wechat-Openid")
			exchanges := g.sim.CallCount(exchangePath)

			// The victim's second request of the same callback, with the
			// flow cookie as it was before the first answer.
			resp, _ := twin.get(t, callback)
			if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/account" || g.up.last(t).Header.Get("X-Wechat-Openid") != aliceID {
				t.Fatalf("the victim's double callback ended at %d %s", resp.StatusCode, resp.Request.URL)
			}
			if n := g.sim.CallCount(exchangePath); n != exchanges {
				t.Fatalf("the double callback exchanged the code again (%d exchanges, want %d)", n, exchanges)
			}

			attacker := f.browser("bob")
			before := g.up.count()
			replay := withCode(t, f.callbackURL(t, g, attacker, "/account"), code)
			resp, body := f.visit(t, g, attacker, strings.TrimPrefix(replay, g.URL))
			for _, id := range g.up.openIDsSince(before) {
				if id == aliceID {
					t.Fatalf("the attacker's replay reached the upstream as the victim (%d at %s)", resp.StatusCode, resp.Request.URL)
				}
			}
			if resp.StatusCode == http.StatusOK && g.up.count() > before && g.up.last(t).Header.Get("X-Wechat-Openid") != g.sim.OpenID(f.appID, "bob") {
				t.Fatalf("the attacker's replay ended at the upstream as someone else: %.200s", body)
			}
			if c := attacker.cookie(g.URL, "wechat_session"); c != "" && c == victim.cookie(g.URL, "wechat_session") {
				t.Fatal("the attacker holds the victim's session cookie")
			}
		})
	}
}

// TestReplayedCallbackCodeOnAnotherReplicaSharingRedis: the victim signs in
// on one replica, whose claim lands in Redis; a second replica (a new
// configuration: nothing of the first in memory), connected to the same
// Redis, refuses the attacker's replay as a used code.
func TestReplayedCallbackCodeOnAnotherReplicaSharingRedis(t *testing.T) {
	srv := redistest.Start(t)
	store := "wechat {\n\t\tstore " + srv.URL() + "\n\t}"
	claims := func() int {
		keys, _ := srv.Do("KEYS", "*claim:*")
		return len(strings.Fields(keys))
	}
	// loginUntilShared logs fresh browsers in on g until a claim lands in
	// Redis (the store connects in the background) and returns the last
	// browser, its callback URL and the upstream's openid for it.
	loginUntilShared := func(g *gateway, user string) (*browser, string, string) {
		for i := 0; i < 100; i++ {
			n := claims()
			b := newBrowser(user)
			cb := g.callbackURL(t, b, "/account")
			if resp, _ := b.get(t, cb); resp.StatusCode != http.StatusOK {
				t.Fatalf("login on %s: %d", g.URL, resp.StatusCode)
			}
			if claims() > n {
				return b, cb, g.up.last(t).Header.Get("X-Wechat-Openid")
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("no claim reached Redis")
		return nil, "", ""
	}
	first := startGateway(t, gatewayConfig{global: store})
	_, callback, aliceID := loginUntilShared(first, "alice")
	code := mustURL(callback).Query().Get("code")

	second := startGateway(t, gatewayConfig{global: store, sim: first.sim})
	loginUntilShared(second, "carol") // the second replica is connected
	attacker := newBrowser("bob")
	before := second.up.count()
	replay := withCode(t, second.callbackURL(t, attacker, "/account"), code)
	resp, _ := attacker.get(t, replay)
	for _, id := range second.up.openIDsSince(before) {
		if id == aliceID {
			t.Fatalf("the replay on the second replica reached the upstream as the victim (%d at %s)", resp.StatusCode, resp.Request.URL)
		}
	}
	if resp.StatusCode != http.StatusOK || second.up.last(t).Header.Get("X-Wechat-Openid") != second.sim.OpenID(testAppID, "bob") {
		t.Fatalf("the replay did not end as a used code does (a silent restart signing bob in): %d at %s", resp.StatusCode, resp.Request.URL)
	}
}

// TestReplayedRelayCallbackCodeGivesAnotherBrowserNoSession: through the
// relay, the attacker replays the victim's code on the relay's callback
// with the attacker's own relay flow; the relay hands back no session of
// the victim's to the attacker's client, and the victim's refresh of the
// relay callback still continues.
func TestReplayedRelayCallbackCodeGivesAnotherBrowserNoSession(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})
	victim := e.browser("alice")
	start := "http://" + shopHost + "/orders"
	if resp, _ := victim.get(t, start); resp.StatusCode != http.StatusOK {
		t.Fatalf("the victim's login: %d", resp.StatusCode)
	}
	callback := e.lastRelayCallback(t)
	code := mustURL(callback).Query().Get("code")

	attacker := e.browser("bob")
	attacker.StopAt = "/wechat_auth/callback"
	resp, _ := attacker.get(t, start)
	own := resp.Header.Get("Location")
	if !strings.HasPrefix(own, "http://"+relayHost+"/wechat_auth/callback?code=") {
		t.Fatalf("the attacker's login did not reach the relay's callback: %d %q", resp.StatusCode, own)
	}
	attacker.StopAt = ""
	before := e.shop.count()
	resp, _ = attacker.get(t, withCode(t, own, code))
	for _, id := range e.shop.openIDsSince(before) {
		if id == e.openID("alice") {
			t.Errorf("the replay through the relay reached the shop as the victim (%d at %s)", resp.StatusCode, resp.Request.URL)
		}
	}
	if resp.StatusCode != http.StatusOK || e.shop.last(t).Header.Get("X-Wechat-Openid") != e.openID("bob") {
		t.Fatalf("the replay did not end as a used code does (a silent restart signing bob in): %d at %s", resp.StatusCode, resp.Request.URL)
	}

	if resp, body := victim.get(t, callback); resp.StatusCode != http.StatusOK || resp.Request.URL.String() != start {
		t.Fatalf("the victim's refresh of the relay callback ended at %d %s: %.200s", resp.StatusCode, resp.Request.URL, body)
	}
}
