//go:build linux

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The shared-store tests run three gateway replicas (three Caddy
// processes: Caddy holds one config per process) against one real
// redis-server and the simulator, as a Deployment of three pods would.

const replicaCaddyfile = `{
	admin off
	wechat {
		store {env.WECHAT_STORE}
	}
}

http://127.0.0.1:{$PORT} {
	wechat_auth {
		app_id {env.WECHAT_APP_ID}
		app_secret {env.WECHAT_APP_SECRET}
		session_keys {env.WECHAT_SESSION_HASH_KEY} {env.WECHAT_SESSION_BLOCK_KEY}
		api_base {env.WECHAT_API_BASE}
		open_base {env.WECHAT_OPEN_BASE}
	}
	respond "openid={http.auth.user.id}"
}
`

type replica struct {
	url string
	p   *process
}

// startReplicas starts n gateways sharing keys, the store and the simulator,
// and waits until each has connected to the store.
func startReplicas(t *testing.T, n int, sim *wechattest.Server, store string) []replica {
	t.Helper()
	return startReplicasOf(t, replicaCaddyfile, n, sim, store)
}

// startReplicasOf is startReplicas with another Caddyfile, which reads the
// same environment as replicaCaddyfile ({$PORT}, WECHAT_*).
func startReplicasOf(t *testing.T, caddyfile string, n int, sim *wechattest.Server, store string) []replica {
	t.Helper()
	conf := writeFile(t, t.TempDir(), "Caddyfile", caddyfile)
	hash, block := randomKey(t, 32), randomKey(t, 32)
	var rs []replica
	for i := 0; i < n; i++ {
		port := testnet.Port(t)
		env := []string{
			fmt.Sprintf("PORT=%d", port),
			"WECHAT_STORE=" + store,
			"WECHAT_APP_ID=" + wechattest.DefaultAppID,
			"WECHAT_APP_SECRET=" + wechattest.DefaultAppSecret,
			"WECHAT_SESSION_HASH_KEY=" + hash,
			"WECHAT_SESSION_BLOCK_KEY=" + block,
			"WECHAT_API_BASE=" + sim.URL,
			"WECHAT_OPEN_BASE=" + sim.URL,
		}
		u := fmt.Sprintf("http://127.0.0.1:%d", port)
		p := startCaddy(t, fmt.Sprintf("replica%d", i), conf, env, u+"/")
		p.waitReady(t, "store connected", func() error {
			if !strings.Contains(p.out.String(), "the wechat store is connected") {
				return fmt.Errorf("no store connection logged yet")
			}
			return nil
		})
		rs = append(rs, replica{url: u, p: p})
	}
	return rs
}

// asCookie asks url with only the given session cookie, as a copied cookie
// would be used, and returns the status and body. A 5xx fails the test.
func asCookie(t *testing.T, rawURL, cookie string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	req.Header.Set("User-Agent", wechatUA)
	req.Header.Set("Cookie", "wechat_session="+cookie)
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 500 {
		t.Fatalf("%s answered %d: %s", rawURL, resp.StatusCode, body)
	}
	return resp.StatusCode, string(body)
}

// sessionCookie is the browser's current session cookie value.
func sessionCookie(t *testing.T, b *wechattest.Browser, site string) string {
	t.Helper()
	v := b.Cookie(site, "wechat_session")
	if v == "" {
		t.Fatalf("no session cookie for %s", site)
	}
	return v
}

// login signs user in through replica r and returns the session cookie.
func login(t *testing.T, sim *wechattest.Server, r replica, user string) string {
	t.Helper()
	b := wechattest.NewBrowser(user)
	p := b.Get(t, r.url+"/")
	want := "openid=" + sim.OpenID(wechattest.DefaultAppID, user)
	if p.Status != http.StatusOK || p.Body != want {
		t.Fatalf("login of %s through %s: %d %q, want %q\nhops:\n  %s", user, r.url, p.Status, p.Body, want, b.HopsString())
	}
	return sessionCookie(t, b, r.url)
}

// wantServed checks every replica lets cookie through as user.
func wantServed(t *testing.T, sim *wechattest.Server, rs []replica, cookie, user string) {
	t.Helper()
	want := "openid=" + sim.OpenID(wechattest.DefaultAppID, user)
	for _, r := range rs {
		if status, body := asCookie(t, r.url+"/", cookie); status != http.StatusOK || body != want {
			t.Fatalf("%s: %d %q, want 200 %q", r.url, status, body, want)
		}
	}
}

// wantRefusedWithin polls until every replica refuses cookie (redirects to
// the login) or d passes.
func wantRefusedWithin(t *testing.T, rs []replica, cookie string, d time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, r := range rs {
		for {
			status, _ := asCookie(t, r.url+"/", cookie)
			if status == http.StatusFound {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s still serves the session after %s (status %d)", what, r.url, d, status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestReplicasShareLogoutRevokeAndCallbackClaimsThroughRedis(t *testing.T) {
	redisSrv := redistest.Start(t)
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	rs := startReplicas(t, 3, sim, redisSrv.URL())

	t.Run("LogoutOnOneRefusesTheCopiedCookieOnTheOthersWithin2s", func(t *testing.T) {
		b := wechattest.NewBrowser("alice")
		if p := b.Get(t, rs[0].url+"/"); p.Status != http.StatusOK {
			t.Fatalf("login: %d %s", p.Status, p.Body)
		}
		stolen := sessionCookie(t, b, rs[0].url)
		wantServed(t, sim, rs, stolen, "alice") // memoized on every replica
		if p := b.Step(t, rs[0].url+"/wechat_auth/logout?rd=/"); p.Status != http.StatusFound {
			t.Fatalf("logout: %d", p.Status)
		}
		wantRefusedWithin(t, rs, stolen, 2*time.Second, "after logout on replica 0")
	})

	t.Run("RevokeCommandRefusesEverySessionOfTheOpenIDWithin2sAndSignInWorksAgain", func(t *testing.T) {
		phone := login(t, sim, rs[1], "bob")
		laptop := login(t, sim, rs[2], "bob")
		wantServed(t, sim, rs, phone, "bob")
		wantServed(t, sim, rs, laptop, "bob")
		code, out := runCaddy(t, []string{"WECHAT_STORE=" + redisSrv.URL()}, "wechat-session", "revoke",
			"--app", wechattest.DefaultAppID, "--openid", sim.OpenID(wechattest.DefaultAppID, "bob"))
		if code != 0 || !strings.Contains(out, "revoked every session") {
			t.Fatalf("wechat-session revoke: exit %d\n%s", code, out)
		}
		wantRefusedWithin(t, rs, phone, 2*time.Second, "phone after revoke")
		wantRefusedWithin(t, rs, laptop, 2*time.Second, "laptop after revoke")
		again := login(t, sim, rs[0], "bob")
		wantServed(t, sim, rs, again, "bob")
	})

	t.Run("CallbackFiredAtTwoReplicasAtOnceIsExchangedOnceAndBothAnswerWithTheSession", func(t *testing.T) {
		b := wechattest.NewBrowser("carol")
		// Walk to WeChat's redirect back without following it.
		loc := b.Step(t, rs[0].url+"/wechat_auth/login?rd=/orders").Location()
		callback := b.Step(t, loc).Location()
		if !strings.HasPrefix(callback, rs[0].url+"/wechat_auth/callback?") {
			t.Fatalf("simulator redirected to %q", callback)
		}
		cu, _ := url.Parse(callback)
		before := sim.CallCount("/sns/oauth2/access_token")

		var wg sync.WaitGroup
		answers := make([]*http.Response, 2)
		for i := range answers {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodGet, rs[i].url+cu.RequestURI(), nil)
				for _, c := range b.Jar.Cookies(cu) { // the same browser: its flow cookie
					req.AddCookie(c)
				}
				req.Header.Set("User-Agent", wechatUA)
				c := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				r, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				r.Body.Close()
				answers[i] = r
			}(i)
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if n := sim.CallCount("/sns/oauth2/access_token") - before; n != 1 {
			t.Fatalf("%d code exchanges for one callback sent to two replicas, want 1", n)
		}
		var cookies []string
		for i, r := range answers {
			if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/orders" {
				t.Fatalf("replica %d answered %d Location %q, want 302 to /orders", i, r.StatusCode, r.Header.Get("Location"))
			}
			for _, c := range r.Cookies() {
				if c.Name == "wechat_session" && c.Value != "" {
					cookies = append(cookies, c.Value)
				}
			}
		}
		if len(cookies) != 2 {
			t.Fatalf("%d session cookies from two answers, want 2", len(cookies))
		}
		for _, c := range cookies {
			wantServed(t, sim, rs, c, "carol")
		}
		// The same session: one logout ends both answers' cookies.
		if status, _ := asCookie(t, rs[2].url+"/wechat_auth/logout?rd=/", cookies[0]); status != http.StatusFound {
			t.Fatalf("logout: %d", status)
		}
		wantRefusedWithin(t, rs, cookies[1], 2*time.Second, "the other answer's cookie after logout")
	})

	t.Run("RedisStoppedSessionsStillServedLoginsWorkRevocationResumesAfterRestart", func(t *testing.T) {
		dave := login(t, sim, rs[0], "alice")
		erin := login(t, sim, rs[1], "bob")
		wantServed(t, sim, rs, erin, "bob")

		redisSrv.Stop()
		wantServed(t, sim, rs, dave, "alice") // from cookies, no store needed
		for _, r := range rs {
			fresh := login(t, sim, r, "carol") // per-process claims
			wantServed(t, sim, []replica{r}, fresh, "carol")
		}
		for i, r := range rs {
			r.p.waitReady(t, "outage logged", func() error {
				if n := strings.Count(r.p.out.String(), "the wechat store is unreachable"); n != 1 {
					return fmt.Errorf("%d outage lines on replica %d, want 1", n, i)
				}
				return nil
			})
			if !strings.Contains(r.p.out.String(), "store setting of the wechat global option") {
				t.Fatalf("replica %d's outage line does not name the setting", i)
			}
		}
		// A logout during the outage applies at once where it happened...
		if status, _ := asCookie(t, rs[1].url+"/wechat_auth/logout?rd=/", erin); status != http.StatusFound {
			t.Fatalf("logout during the outage: %d", status)
		}
		wantRefusedWithin(t, rs[1:2], erin, 2*time.Second, "erin on the replica that logged her out")

		// ...and everywhere once Redis is back.
		redisSrv.Restart()
		wantRefusedWithin(t, rs, erin, 10*time.Second, "erin after Redis restarted")
		wantServed(t, sim, rs, dave, "alice")
		if status, _ := asCookie(t, rs[2].url+"/wechat_auth/logout?rd=/", dave); status != http.StatusFound {
			t.Fatalf("logout after the restart: %d", status)
		}
		wantRefusedWithin(t, rs, dave, 2*time.Second, "dave after a logout once Redis is back")
		for i, r := range rs {
			if !strings.Contains(r.p.out.String(), "the wechat store is reachable again") {
				t.Errorf("replica %d logged no recovery", i)
			}
		}
	})
}
