package wechatauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// requestWith is a request carrying value as the session cookie.
func requestWith(h *Handler, value string) *http.Request {
	r := httptest.NewRequest("GET", "http://wx.example.com/", nil)
	r.Header.Set("Cookie", h.CookieName+"="+value)
	return r
}

// redisApp is one replica's wechat app on the store at url, started.
func redisApp(t *testing.T, url string) *App {
	t.Helper()
	a := &App{Store: url, replica: fmt.Sprintf("%s %p", t.Name(), new(byte))}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	t.Cleanup(func() { _ = a.Cleanup() })
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	waitFor(t, 5*time.Second, "store connected", a.redis.up)
	return a
}

// replicaHandler is a test handler using app, as a replica's would.
func replicaHandler(t *testing.T, app *App) *Handler {
	t.Helper()
	h, _ := newTestHandler(t, testPair(1))
	h.now = time.Now
	h.app, h.sessions.revs, h.sessions.app, h.logins.claims = app, app.revocations, app, codeClaims{app}
	return h
}

func liveSession(id string) Session {
	now := time.Now()
	s := validSession()
	s.ID, s.Issued, s.IssuedMilli, s.Expires = id, now.Unix(), now.UnixMilli(), now.Add(time.Hour).Unix()
	return s
}

func seal(t testing.TB, h *Handler, s Session) string {
	t.Helper()
	v, err := h.sessions.codec.encode(h.CookieName, s.marshal())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMemoizedSessionIsRefusedOnceARevocationArrives: the memo does not
// outlive a revocation event, and only the revoked session is affected.
func TestMemoizedSessionIsRefusedOnceARevocationArrives(t *testing.T) {
	h, _ := newTestHandler(t, testPair(1))
	h.now, h.sessions.revs.now = time.Now, time.Now
	gone, kept := liveSession("sessionToRevoke000001"), liveSession("sessionToKeep00000001")
	goneCookie, keptCookie := seal(t, h, gone), seal(t, h, kept)
	for _, c := range []string{goneCookie, keptCookie} {
		if h.sessions.identityFrom(requestWith(h, c)) == nil {
			t.Fatal("a fresh session was refused")
		}
	}
	if _, ok := h.sessions.memo.Get(goneCookie); !ok {
		t.Fatal("the session was not memoized: this test would prove nothing")
	}
	// What another replica's logout delivers through pub/sub.
	h.sessions.revs.Revoked(Revocation{AppID: gone.AppID, SessionID: gone.ID, Until: gone.Expires + 1})
	if h.sessions.identityFrom(requestWith(h, goneCookie)) != nil {
		t.Fatal("a memoized session was still accepted after its revocation arrived")
	}
	if h.sessions.identityFrom(requestWith(h, keptCookie)) == nil {
		t.Fatal("another session of the same person was refused")
	}
}

// TestLogoutOfAVersion1CookieEndsItButNotALaterSignIn: a cookie from before
// session ids is revoked by its openid and second; signing in again works.
func TestLogoutOfAVersion1CookieEndsItButNotALaterSignIn(t *testing.T) {
	h, _ := newTestHandler(t, testPair(1))
	h.now, h.sessions.revs.now = time.Now, time.Now
	old := liveSession("")
	old.IssuedMilli = 0
	old.Issued = time.Now().Add(-time.Minute).Unix()
	oldCookie := seal(t, h, old)
	id := h.sessions.identityFrom(requestWith(h, oldCookie))
	if id == nil {
		t.Fatal("version-1-like session refused")
	}
	h.sessions.revoke(context.Background(), &id.sess)
	if h.sessions.identityFrom(requestWith(h, oldCookie)) != nil {
		t.Fatal("the logged-out cookie still works")
	}
	fresh := liveSession("freshSession000000001")
	if h.sessions.identityFrom(requestWith(h, seal(t, h, fresh))) == nil {
		t.Fatal("a sign-in after the logout is refused")
	}
}

// TestCallbackCodeIsRedeemedOnceAcrossReplicas: eight copies of one
// callback on two replicas make one exchange and all get its session; the
// store holds neither the code nor the session in the clear.
func TestCallbackCodeIsRedeemedOnceAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	hs := []*Handler{replicaHandler(t, redisApp(t, srv.URL())), replicaHandler(t, redisApp(t, srv.URL()))}
	const code = "081aBcDeFgHiJkLmNoPqRsTuVwXyZ012"
	state := randomAlnum(stateLen)
	var exchanges atomic.Int32
	spent := func() (loginEnd, bool) {
		t.Error("the code's own login state found it spent")
		return loginEnd{}, true
	}
	redeem := func() (loginEnd, bool) {
		exchanges.Add(1)
		time.Sleep(100 * time.Millisecond) // WeChat takes a while
		return loginEnd{ending: endSession, sess: liveSession(randomAlnum(sessionIDLen))}, false
	}
	var wg sync.WaitGroup
	got := make([]Session, 8)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, answered := redeemOnce(hs[i%2], context.Background(), testAppID, code, state, redeem, spent)
			if answered || res.ending != endSession {
				t.Error("a repeat of the callback got no session")
			}
			got[i] = res.sess
		}(i)
	}
	wg.Wait()
	if n := exchanges.Load(); n != 1 {
		t.Fatalf("%d exchanges of one code, want 1", n)
	}
	for _, s := range got[1:] {
		if s != got[0] {
			t.Fatalf("repeats got different sessions: %+v vs %+v", s, got[0])
		}
	}
	keys, _ := srv.Do("KEYS", "*claim*")
	if keys == "" || strings.Contains(keys, code) {
		t.Fatalf("claim keys %q: want one, not naming the code", keys)
	}
	value, _ := srv.Do("GET", keys)
	if strings.Contains(value, got[0].OpenID) || strings.Contains(value, got[0].ID) {
		t.Fatal("the stored answer shows the session in the clear")
	}
	if _, ok := newCodeClaim(testAppID, code+"x", state).open([]byte(value)); ok {
		t.Fatal("another code opened the stored answer")
	}
	if strings.Contains(value, state) {
		t.Fatal("the claim holds the login state itself")
	}

	// A failed exchange leaves the code to its own login state: the next
	// try of that state redeems again; any other state finds it spent.
	const bad = "081failedCodeAAAAAAAAAAAAAAAAAAAA"
	if res, _ := redeemOnce(hs[0], context.Background(), testAppID, bad, state, func() (loginEnd, bool) { return loginEnd{}, true }, spent); res.ending == endSession {
		t.Fatal("a failed exchange gave a session")
	}
	var refused atomic.Int32
	other := func() (loginEnd, bool) { refused.Add(1); return loginEnd{}, true }
	if res, _ := redeemOnce(hs[1], context.Background(), testAppID, bad, randomAlnum(stateLen), redeem, other); res.ending == endSession || refused.Load() != 1 || exchanges.Load() != 1 {
		t.Fatalf("another login state tried a failed code (%d exchanges, %d refused)", exchanges.Load(), refused.Load())
	}
	if res, _ := redeemOnce(hs[1], context.Background(), testAppID, bad, state, redeem, spent); res.ending != endSession || exchanges.Load() != 2 {
		t.Fatalf("after a failed exchange the code could not be tried again (%d exchanges)", exchanges.Load())
	}
}

// TestConcurrentLoginsLogoutsAndRevocationsAcrossReplicas runs logins,
// cookie checks, logouts and operator revocations at once on two replicas
// sharing Redis (meant for -race); every revoked session ends refused on
// both, every other one accepted.
func TestConcurrentLoginsLogoutsAndRevocationsAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	hs := []*Handler{replicaHandler(t, redisApp(t, srv.URL())), replicaHandler(t, redisApp(t, srv.URL()))}
	const n = 40
	cookies := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			h := hs[i%2]
			res, _ := redeemOnce(h, context.Background(), testAppID, fmt.Sprintf("code%030d", i), randomAlnum(stateLen), func() (loginEnd, bool) {
				return loginEnd{ending: endSession, sess: liveSession(randomAlnum(sessionIDLen))}, false
			}, func() (loginEnd, bool) { t.Error("a fresh code was spent"); return loginEnd{}, true })
			if res.ending != endSession {
				t.Error("login failed")
				return
			}
			s := res.sess
			if i%4 == 3 {
				s.OpenID = "oRevokedByOperator"
			}
			cookies[i] = seal(t, h, s)
			for k := 0; k < 20; k++ {
				hs[k%2].sessions.identityFrom(requestWith(hs[k%2], cookies[i]))
			}
			if i%4 == 1 {
				if id := h.sessions.identityFrom(requestWith(h, cookies[i])); id != nil {
					h.sessions.revoke(context.Background(), &id.sess)
				}
			}
		}(i)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(20 * time.Millisecond)
		// Sessions issued up to 30 s from now count as issued before it:
		// under -race on a loaded machine the last logins can start more
		// than a second after this one (1 s here failed at load 15).
		_ = hs[1].app.revoke(context.Background(), Revocation{AppID: testAppID, OpenID: "oRevokedByOperator",
			IssuedBefore: time.Now().Add(30 * time.Second).UnixMilli(), Until: time.Now().Add(2 * time.Hour).Unix()})
	}()
	wg.Wait()
	for i, c := range cookies {
		revoked := i%4 == 1 || i%4 == 3
		for _, h := range hs {
			waitFor(t, 10*time.Second, fmt.Sprintf("session %d settles (revoked=%v)", i, revoked), func() bool {
				return (h.sessions.identityFrom(requestWith(h, c)) == nil) == revoked
			})
		}
	}
}

// errTestRefused stands for a code WeChat refused, in redeemOnce's doubles.
var errTestRefused = errors.New("test: WeChat refused the code")

// redeemOnce runs h's code claims with callback-style doubles: redeem's
// answered (true) stands for a code WeChat refused, and spent answers a
// code another login state claimed; answered reports either.
func redeemOnce(h *Handler, ctx context.Context, appID, code, state string, redeem, spent func() (loginEnd, bool)) (loginEnd, bool) {
	end, err := h.logins.claims.redeemOnce(ctx, appID, code, state, func() (loginEnd, error) {
		if e, answered := redeem(); !answered {
			return e, nil
		}
		return loginEnd{}, errTestRefused
	})
	switch {
	case errors.Is(err, errCodeSpent):
		return spent()
	case err != nil:
		return end, true
	}
	return end, false
}
