package wechatauth_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// pass_access_token, verify_interval and profile_ttl in real Caddy, against
// the simulator on a fake clock that the gateway's token keeper reads too
// (docs/tokens.md).

const (
	tokenHeader   = "X-Wechat-Access-Token"
	codeExchanges = "/sns/oauth2/access_token"
	refreshes     = "/sns/oauth2/refresh_token"
)

// tokenGateway starts a gateway with settings whose simulator and token
// keeper share a fake clock; it returns the clock and a WeChat client of
// the simulator, to check the tokens the upstream got.
func tokenGateway(t *testing.T, gc gatewayConfig, opts ...wechattest.Option) (*gateway, *wechattest.Clock, *wechat.Client) {
	t.Helper()
	clock := wechattest.NewClock(time.Now())
	wechatauth.UseWebTokenClockForTest(t, clock.Now)
	gc.simOpts = append([]wechattest.Option{wechattest.WithClock(clock)}, opts...)
	g := startGateway(t, gc)
	c, err := wechat.New(wechat.Config{AppID: testAppID, AppSecret: wechattest.DefaultAppSecret, APIBase: g.sim.URL,
		OpenBase: g.sim.URL, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return g, clock, c
}

// validToken fails unless tok is a web access_token WeChat accepts for user.
func validToken(t *testing.T, g *gateway, c *wechat.Client, tok, user string) {
	t.Helper()
	if tok == "" {
		t.Fatal("the upstream got no X-WeChat-Access-Token")
	}
	if err := c.CheckToken(context.Background(), tok, g.sim.OpenID(testAppID, user)); err != nil {
		t.Fatalf("the token the upstream got fails sns/auth: %v", err)
	}
}

// noTokenLogged fails if the gateway's log (debug included, Caddy's own
// reverse_proxy lines aside: docs/tokens.md says how to filter those), its
// access log or /metrics hold one of tokens.
func noTokenLogged(t *testing.T, g *gateway, metrics string, tokens ...string) {
	t.Helper()
	for _, name := range []string{g.logFile, g.logFile + ".access"} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Logger string `json:"logger"`
			}
			_ = json.Unmarshal(sc.Bytes(), &line)
			for _, tok := range tokens {
				if strings.Contains(sc.Text(), tok) && line.Logger != "http.handlers.reverse_proxy" {
					t.Errorf("%s holds a web access_token: %.300s", name, sc.Text())
				}
			}
		}
		f.Close()
	}
	for _, tok := range tokens {
		if strings.Contains(metrics, tok) {
			t.Error("/metrics holds a web access_token")
		}
	}
}

// TestPassAccessTokenGoesUpstreamAndIsRefreshedOnceAt7300s: the upstream
// gets a token WeChat accepts (never the client's copy); at 7,300 s fifty
// concurrent requests of the session cause one refresh (the simulator
// rotates refresh_tokens: a second refresh would be refused) and all pass
// the new token; no log line, access log or metric holds a token.
func TestPassAccessTokenGoesUpstreamAndIsRefreshedOnceAt7300s(t *testing.T) {
	g, clock, c := tokenGateway(t, gatewayConfig{site: metricsSite, settings: "pass_access_token"}, wechattest.WithRotatingRefreshTokens())
	b := newBrowser("alice")
	first := g.login(t, b, "/a").Header.Get(tokenHeader)
	validToken(t, g, c, first, "alice")
	if resp, _ := b.do(t, http.MethodGet, g.URL+"/b", http.Header{"X-WeChat-Access-Token": {"forged"}, "X_WeChat_Access_Token": {"forged"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /b: %d", resp.StatusCode)
	}
	if got := g.up.last(t).Header.Values(tokenHeader); len(got) != 1 || got[0] != first {
		t.Fatalf("with a client-sent copy the upstream got %q, want the kept token only", got)
	}

	clock.Advance(7300 * time.Second)
	g.sim.ResetCalls()
	before := g.up.count()
	metricsBefore, _ := g.scrape(t)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, _ := b.get(t, g.URL+"/c"); resp.StatusCode != http.StatusOK {
				t.Errorf("GET /c at 7300 s: %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if n := g.sim.CallCount(refreshes); n != 1 {
		t.Fatalf("%d refreshes for 50 concurrent requests, want 1", n)
	}
	fresh := g.up.last(t).Header.Get(tokenHeader)
	if fresh == first {
		t.Fatal("the upstream still gets the token of 7300 s ago")
	}
	validToken(t, g, c, fresh, "alice")
	if n := g.up.count() - before; n != 50 {
		t.Fatalf("the upstream got %d of the 50 requests", n)
	}
	metricsAfter, metrics := g.scrape(t)
	const refreshed = `caddy_wechat_web_token_events_total{event="refreshed"}`
	if n := metricsAfter[refreshed] - metricsBefore[refreshed]; n != 1 {
		t.Errorf("%s moved by %v, want 1", refreshed, n)
	}
	noTokenLogged(t, g, metrics, first, fresh)
}

// TestAHandlerWithoutPassAccessTokenPassesNoToken: no token upstream, and a
// client's copy is stripped like every identity header.
func TestAHandlerWithoutPassAccessTokenPassesNoToken(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	b := newBrowser("alice")
	g.login(t, b, "/a")
	b.do(t, http.MethodGet, g.URL+"/b", http.Header{"X-WeChat-Access-Token": {"forged"}})
	if v := g.up.last(t).Header.Values(tokenHeader); len(v) != 0 {
		t.Fatalf("the upstream got %s %q", tokenHeader, v)
	}
	for _, c := range g.sim.Calls() {
		if c.Path == refreshes || c.Path == "/sns/auth" {
			t.Fatalf("a handler without the settings called %s", c.Path)
		}
	}
}

// TestARefusedRefreshTokenSignsTheVisitorInAgainSilently: 30 days after the
// authorization WeChat refuses the refresh_token (42002); the next page
// request is a fresh silent sign-in that ends on the page with a new token,
// never an error.
func TestARefusedRefreshTokenSignsTheVisitorInAgainSilently(t *testing.T) {
	g, clock, c := tokenGateway(t, gatewayConfig{site: metricsSite, settings: "pass_access_token"})
	b := newBrowser("alice")
	first := g.login(t, b, "/a").Header.Get(tokenHeader)
	clock.Advance(30*24*time.Hour + time.Hour)
	g.sim.ResetCalls()
	before, _ := g.scrape(t)
	resp, body := b.get(t, g.URL+"/page")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/page" {
		t.Fatalf("after a refused refresh_token: %d at %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	if r, x := g.sim.CallCount(refreshes), g.sim.CallCount(codeExchanges); r != 1 || x != 1 {
		t.Fatalf("%d refreshes and %d code exchanges, want the refused refresh and one silent sign-in", r, x)
	}
	for _, call := range g.sim.Calls() {
		if call.Path == "/connect/oauth2/authorize" && call.Query.Get("scope") != wechat.ScopeBase {
			t.Fatalf("the sign-in asked for %s, want silent snsapi_base", call.Query.Get("scope"))
		}
	}
	fresh := g.up.last(t).Header.Get(tokenHeader)
	if fresh == first {
		t.Fatal("the upstream got the token of 30 days ago")
	}
	after, _ := g.scrape(t)
	const ended = `caddy_wechat_web_token_events_total{event="session_ended"}`
	if n := after[ended] - before[ended]; n != 1 {
		t.Errorf("%s moved by %v, want 1", ended, n)
	}
	validToken(t, g, c, fresh, "alice")
}

// TestAWithdrawalMakesTheVisitorSignInAgain: verify_interval re-checks the
// session with sns/auth; after the user withdrew the authorization in
// WeChat (simulator: sns/auth 40003, refresh 40030) the visitor signs in
// again, without an error page.
func TestAWithdrawalMakesTheVisitorSignInAgain(t *testing.T) {
	g, clock, _ := tokenGateway(t, gatewayConfig{settings: "verify_interval 10m"})
	b := newBrowser("alice")
	g.login(t, b, "/a")
	clock.Advance(11 * time.Minute)
	g.sim.ResetCalls()
	if resp, _ := b.get(t, g.URL+"/b"); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /b: %d", resp.StatusCode)
	}
	waitUntil(t, "the re-check", func() bool { return g.sim.CallCount("/sns/auth") == 1 })
	if n := g.sim.CallCount(codeExchanges); n != 0 {
		t.Fatalf("a standing authorization signed in again (%d code exchanges)", n)
	}

	g.sim.Withdraw(testAppID, "alice")
	clock.Advance(11 * time.Minute)
	for i := 0; g.sim.CallCount(codeExchanges) == 0; i++ {
		if i == 10 {
			t.Fatal("ten requests after the withdrawal, the visitor has not signed in again")
		}
		resp, body := b.get(t, g.URL+"/c")
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/c" {
			t.Fatalf("after the withdrawal: %d at %s: %.300s", resp.StatusCode, resp.Request.URL, body)
		}
	}
	if r := g.sim.CallCount(refreshes); r != 1 {
		t.Fatalf("%d refreshes, want the one that WeChat refused", r)
	}
}

// TestProfileTTLBringsTheChangedNicknameAndUpdatesTheCookie: a
// snsapi_userinfo session's nickname changed in WeChat reaches the upstream
// after profile_ttl, and the session cookie holds it from the next response
// (/wechat_auth/userinfo reads the cookie alone).
func TestProfileTTLBringsTheChangedNicknameAndUpdatesTheCookie(t *testing.T) {
	g, clock, _ := tokenGateway(t, gatewayConfig{settings: "scope snsapi_userinfo\n\t\tprofile_ttl 24h"})
	b := newBrowser("bob")
	if got := g.login(t, b, "/a").Header.Get("X-Wechat-Nickname"); got != url.PathEscape("李四 🐟") {
		t.Fatalf("nickname at sign-in %q", got)
	}
	g.sim.SetProfile("bob", "鲍勃", "https://thirdwx.qlogo.cn/mmopen/bob2/132")
	clock.Advance(23 * time.Hour)
	b.get(t, g.URL+"/b")
	if got := g.up.last(t).Header.Get("X-Wechat-Nickname"); got != url.PathEscape("李四 🐟") {
		t.Fatalf("before profile_ttl the upstream got %q", got)
	}
	clock.Advance(2 * time.Hour)
	want := url.PathEscape("鲍勃")
	for i := 0; g.up.last(t).Header.Get("X-Wechat-Nickname") != want; i++ {
		if i == 10 {
			t.Fatalf("ten requests after profile_ttl the upstream still gets %q", g.up.last(t).Header.Get("X-Wechat-Nickname"))
		}
		b.get(t, g.URL+"/c")
	}
	if got := g.up.last(t).Header.Get("X-Wechat-Avatar"); got != "https://thirdwx.qlogo.cn/mmopen/bob2/132" {
		t.Fatalf("avatar upstream %q", got)
	}
	if got := g.up.last(t).Header; got.Get("X-Wechat-Source") != "mp" || got.Get("X-Wechat-OpenID") != g.sim.OpenID(testAppID, "bob") {
		t.Fatalf("with the new profile the upstream got source %q, openid %q", got.Get("X-Wechat-Source"), got.Get("X-Wechat-OpenID"))
	}
	_, body := b.get(t, g.URL+"/wechat_auth/userinfo")
	var info struct{ Nickname, Avatar string }
	decodeJSON(t, body, &info)
	if info.Nickname != "鲍勃" || info.Avatar != "https://thirdwx.qlogo.cn/mmopen/bob2/132" {
		t.Fatalf("the cookie holds %+v, want the refreshed profile", info)
	}
	if n := g.sim.CallCount("/sns/userinfo"); n != 2 {
		t.Fatalf("%d sns/userinfo calls, want the sign-in's and one refresh", n)
	}
}

// TestWeChatDownDuringARefreshKeepsTheSessionAndThePage: a refresh that
// meets WeChat down serves the page without a token; 30 s later the next
// request gets a new one.
func TestWeChatDownDuringARefreshKeepsTheSessionAndThePage(t *testing.T) {
	g, clock, c := tokenGateway(t, gatewayConfig{settings: "pass_access_token"})
	b := newBrowser("alice")
	g.login(t, b, "/a")
	clock.Advance(7300 * time.Second)
	g.sim.Fail(refreshes, 1, wechattest.Fault{Status: http.StatusBadGateway})
	resp, body := b.get(t, g.URL+"/b")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/b" {
		t.Fatalf("with WeChat down: %d at %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	if v := g.up.last(t).Header.Values(tokenHeader); len(v) != 0 {
		t.Fatalf("with WeChat down the upstream got %q, want no token", v)
	}
	clock.Advance(31 * time.Second)
	b.get(t, g.URL+"/c")
	validToken(t, g, c, g.up.last(t).Header.Get(tokenHeader), "alice")
	if n := g.sim.CallCount(codeExchanges); n != 1 {
		t.Fatalf("%d code exchanges: WeChat down must not sign the visitor in again", n)
	}
}

// TestForwardAuthAnswersTheAccessToken: /auth's 200 carries the token, and
// an empty X-WeChat-Access-Token when there is none (WeChat down after the
// token ran out), so a front proxy copying it overwrites a client's copy.
func TestForwardAuthAnswersTheAccessToken(t *testing.T) {
	g, clock, c := tokenGateway(t, gatewayConfig{settings: "pass_access_token"})
	b := newBrowser("alice")
	g.login(t, b, "/a")
	resp, _ := b.get(t, g.URL+"/wechat_auth/auth")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/auth: %d", resp.StatusCode)
	}
	validToken(t, g, c, resp.Header.Get(tokenHeader), "alice")
	clock.Advance(7300 * time.Second)
	g.sim.Fail(refreshes, 1, wechattest.FaultBusy)
	resp, _ = b.get(t, g.URL+"/wechat_auth/auth")
	if v, ok := resp.Header[tokenHeader]; resp.StatusCode != http.StatusOK || !ok || len(v) != 1 || v[0] != "" {
		t.Fatalf("/auth with no token to give: %d, %s %q (present: %v), want present and empty", resp.StatusCode, tokenHeader, v, ok)
	}
}

// waitUntil polls cond every 10 ms for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
