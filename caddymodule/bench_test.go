package wechatauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// The hot path benchmarks behind issue 6's targets: a repeat request ≤ 1 µs
// and ≤ 2 allocs; a first-seen cookie ≤ 8 µs. Run: make bench, or
// go test -run '^$' -bench . -benchmem ./caddymodule/

func benchSession(h *Handler, openID string) Session {
	now := time.Now()
	return Session{AppID: h.AppID, OpenID: openID, UnionID: "o6_bmasdasdsad6_2sgVt7hMZOPfL", Scope: "snsapi_userinfo",
		Nickname: "张三 🐟", Avatar: "https://thirdwx.qlogo.cn/mmopen/vi_32/abcdefghijklmnop/132",
		Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()}
}

func sealed(tb testing.TB, h *Handler, s Session) string {
	tb.Helper()
	v, err := h.sessions.codec.encode(h.CookieName, s.marshal())
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func cookieRequest(h *Handler, value string) *http.Request {
	r := httptest.NewRequest("GET", "http://wx.example.com/bind.php?from=menu", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50(0x1800323b) NetType/WIFI")
	r.Header.Set("Cookie", "other=1; "+h.CookieName+"="+value+"; theme=dark")
	return r
}

// BenchmarkSessionCheckRepeat is the common case: a cookie seen before.
func BenchmarkSessionCheckRepeat(b *testing.B) {
	h := provisionedHandler(b, nil)
	r := cookieRequest(h, sealed(b, h, benchSession(h, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M")))
	if h.sessions.identityFrom(r) == nil {
		b.Fatal("the cookie does not verify")
	}
	b.ReportAllocs()
	for b.Loop() {
		if h.sessions.identityFrom(r) == nil {
			b.Fatal("lost the session")
		}
	}
}

// BenchmarkSessionCheckRepeatRedisStore is the common case with the wechat
// app's store on a real redis-server, 1000 revocations held and one
// arriving just before: a memo hit must stay a memory lookup (no network,
// no extra allocation).
func BenchmarkSessionCheckRepeatRedisStore(b *testing.B) {
	srv := redistest.Start(b)
	app := &App{Store: srv.URL(), replica: b.Name()}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	b.Cleanup(func() { _ = app.Cleanup() })
	if err := app.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	if err := app.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = app.Stop() })
	for deadline := time.Now().Add(5 * time.Second); !app.redis.up(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("store not connected")
		}
	}
	h := provisionedHandler(b, func(h *Handler) { h.app = app })
	s := benchSession(h, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
	s.ID = randomAlnum(sessionIDLen)
	r := cookieRequest(h, sealed(b, h, s))
	if h.sessions.identityFrom(r) == nil {
		b.Fatal("the cookie does not verify")
	}
	until := time.Now().Add(time.Hour).Unix()
	for i := 0; i < 1000; i++ {
		_ = app.revoke(context.Background(), Revocation{AppID: h.AppID, SessionID: fmt.Sprintf("other%06d", i), Until: until})
	}
	b.ReportAllocs()
	for b.Loop() {
		if h.sessions.identityFrom(r) == nil {
			b.Fatal("lost the session")
		}
	}
}

// BenchmarkSessionCheckFirstSeen is a cookie never seen by this process:
// full verify, decrypt and decode (and the memo insert).
func BenchmarkSessionCheckFirstSeen(b *testing.B) {
	h := provisionedHandler(b, nil)
	value := sealed(b, h, benchSession(h, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"))
	r := cookieRequest(h, value)
	b.ReportAllocs()
	for b.Loop() {
		h.sessions.memo.Delete(value)
		if h.sessions.identityFrom(r) == nil {
			b.Fatal("the cookie does not verify")
		}
	}
}

// BenchmarkHeaders strips spoofed headers and sets ours and the placeholders.
func BenchmarkHeaders(b *testing.B) {
	h := provisionedHandler(b, nil)
	id := newIdentity(benchSession(h, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"), sourceMP)
	repl := caddy.NewReplacer()
	hdr := http.Header{
		"User-Agent": {"x"}, "Accept": {"text/html"}, "Cookie": {"a=1; wechat_session=abc; b=2"},
		"X-Wechat-Openid": {"forged"}, "Remote_user": {"forged"},
	}
	b.ReportAllocs()
	for b.Loop() {
		h.names.stripIdentity(hdr, nil)
		h.names.apply(hdr, repl, newAdmitted(id, nil))
		stripOurCookies(hdr, h.CookieName, h.logins.cookies.prefix)
		hdr["Cookie"] = []string{"a=1; wechat_session=abc; b=2"}
		hdr["X-Wechat-Openid"] = []string{"forged"}
	}
}

// BenchmarkServeHTTPAuthenticated is the whole handler on the hot path, our
// cookie between two of the site's (the Cookie header is rebuilt).
func BenchmarkServeHTTPAuthenticated(b *testing.B) {
	benchServeHTTP(b, func(h *Handler, value string) string {
		return "other=1; " + h.CookieName + "=" + value + "; theme=dark"
	})
}

// BenchmarkServeHTTPAuthenticatedOursFirst is the same with the cookies in a
// browser's usual order: ours, set at login, before the site's own.
func BenchmarkServeHTTPAuthenticatedOursFirst(b *testing.B) {
	benchServeHTTP(b, func(h *Handler, value string) string { return h.CookieName + "=" + value + "; other=1; theme=dark" })
}

// benchServeHTTP runs the handler on new requests, as Caddy's server hands
// them over (their own header map, vars and replacer, made by PrepareRequest
// with the timer stopped), so what a request pays for its first identity
// placeholder or header is counted, and nothing left by the last one helps.
func benchServeHTTP(b *testing.B, cookieLine func(h *Handler, value string) string) {
	h := provisionedHandler(b, nil)
	value := sealed(b, h, benchSession(h, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"))
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })
	w := httptest.NewRecorder()
	reqs := make([]*http.Request, 1024)
	fresh := len(reqs)
	var r *http.Request
	b.ReportAllocs()
	for b.Loop() {
		if fresh == len(reqs) {
			b.StopTimer()
			for i := range reqs {
				base := cookieRequest(h, value)
				base.Header.Set("Cookie", cookieLine(h, value))
				reqs[i] = caddyhttp.PrepareRequest(base, caddy.NewReplacer(), w, nil)
			}
			fresh = 0
			b.StartTimer()
		}
		r = reqs[fresh]
		fresh++
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if r.Header.Get("X-Wechat-Openid") == "" || r.Header.Get("Cookie") != "other=1; theme=dark" ||
		repl.ReplaceAll("{http.auth.user.id}", "") != r.Header.Get("X-Wechat-Openid") {
		b.Fatalf("identity %q, upstream cookie %q", r.Header.Get("X-Wechat-Openid"), r.Header.Get("Cookie"))
	}
}

// BenchmarkFlowStart: state, flow cookie and authorize URL for a new visitor.
func BenchmarkFlowStart(b *testing.B) {
	h := provisionedHandler(b, nil)
	site := origin{Scheme: "https", Host: "wx.example.com"}
	r := httptest.NewRequest("GET", "https://wx.example.com/bind.php", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		_ = h.logins.start(w, r, site, h.logins.flows[0], "/bind.php", "snsapi_base", triggerPage)
		if w.Code != http.StatusFound {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkCallbackLocalWork is the callback without the WeChat round trip:
// the flow cookie check, then sealing the session and the done flow.
func BenchmarkCallbackLocalWork(b *testing.B) {
	h := provisionedHandler(b, nil)
	site := origin{Scheme: "https", Host: "wx.example.com"}
	f := flowState{State: randomAlnum(stateLen), Return: "/bind.php", Scope: "snsapi_base", Created: time.Now().Unix()}
	rec := httptest.NewRecorder()
	if err := h.logins.cookies.set(rec, site, f, flowTTL); err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "https://wx.example.com/wechat_auth/callback?code=x&state="+f.State, nil)
	r.Header.Set("Cookie", rec.Result().Cookies()[0].String())
	s := benchSession(h, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
	b.ReportAllocs()
	for b.Loop() {
		got, ok := h.logins.cookies.read(r, f.State)
		if !ok {
			b.Fatal("flow not found")
		}
		w := httptest.NewRecorder()
		if err := h.sessions.issue(w, site, s); err != nil {
			b.Fatal(err)
		}
		got.Done = true
		if err := h.logins.cookies.set(w, site, got, doneFlowTTL); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMemoryBoundAfterManyDistinctSessions feeds distinct valid cookies
// through the session check and bounds the heap growth: the memo stops at
// memoMaxEntries, so memory does not grow with the number of visitors.
// make bench sets MEMORY_SESSIONS=200000 for issue 6's figure with the real
// bound; make test proves the mechanism quickly (it runs under -race) with
// a bound of 2,000 and 3,000 sessions.
func TestMemoryBoundAfterManyDistinctSessions(t *testing.T) {
	h := provisionedHandler(t, nil)
	n := 3000
	h.sessions.memoMax = 2000
	if v, err := strconv.Atoi(os.Getenv("MEMORY_SESSIONS")); err == nil && v > 0 {
		n, h.sessions.memoMax = v, memoMaxEntries
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := cookieRequest(h, "")
	for i := 0; i < n; i++ {
		v := sealed(t, h, benchSession(h, fmt.Sprintf("o6_bmjrPTlm6_2sgVt7h%08d", i)))
		r.Header["Cookie"] = []string{h.CookieName + "=" + v}
		if h.sessions.identityFrom(r) == nil {
			t.Fatalf("cookie %d does not verify", i)
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if c := h.sessions.memo.ItemCount(); c > h.sessions.memoMax || c < h.sessions.memoMax/2 {
		t.Fatalf("memo holds %d entries, bound %d", c, h.sessions.memoMax)
	}
	const bound = 48 << 20
	t.Logf("heap grew %.1f MiB after %d distinct sessions (memo: %d entries, bound %d)", float64(grown)/(1<<20), n, h.sessions.memo.ItemCount(), h.sessions.memoMax)
	if grown > bound {
		t.Fatalf("heap grew %d MiB after %d distinct sessions, documented bound %d MiB", grown>>20, n, bound>>20)
	}
}

// BenchmarkServeHTTPAuthenticatedAssertion is BenchmarkServeHTTPAuthenticated
// with assertion on (issue 28): the session's assertion is signed once and
// then reused from its memo entry, so a repeat request adds no signature
// and no allocation.
func BenchmarkServeHTTPAuthenticatedAssertion(b *testing.B) {
	h := provisionedHandler(b, func(h *Handler) {
		h.Assertion = &Assertion{Issuer: "https://wx.example.com", Audience: "https://wx.example.com"}
	})
	value := sealed(b, h, benchSession(h, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"))
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })
	w := httptest.NewRecorder()
	base := cookieRequest(h, value)
	line := "other=1; " + h.CookieName + "=" + value + "; theme=dark"
	r := caddyhttp.PrepareRequest(base, caddy.NewReplacer(), w, nil)
	cookie := []string{line}
	b.ReportAllocs()
	for b.Loop() {
		cookie[0] = line
		r.Header["Cookie"] = cookie
		caddyhttp.SetVar(r.Context(), identityVar, nil)
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
	if r.Header.Get("X-Wechat-Assertion") == "" {
		b.Fatal("no assertion")
	}
}

// BenchmarkAssertionSign is what a session's first request (and each
// renewal, once per ttl minus a minute) costs: claims, JSON, one ES256
// signature.
func BenchmarkAssertionSign(b *testing.B) {
	h := provisionedHandler(b, func(h *Handler) {
		h.Assertion = &Assertion{Issuer: "https://wx.example.com", Audience: "https://wx.example.com"}
	})
	id := newIdentity(benchSession(h, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"), sourceMP)
	r := httptest.NewRequest("GET", "https://wx.example.com/", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.assert.mint(r, id, time.Now().Unix()); err != nil {
			b.Fatal(err)
		}
	}
}
