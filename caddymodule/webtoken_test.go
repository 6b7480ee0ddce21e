package wechatauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The web-token keeper against the simulator as a real HTTP server, on the
// simulator's fake clock (docs/tokens.md).

var webTokenEpoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

const (
	refreshPath  = "/sns/oauth2/refresh_token"
	authPath     = "/sns/auth"
	userinfoPath = "/sns/userinfo"
)

// countingStore counts the store calls a keeper makes.
type countingStore struct {
	Store
	calls atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	c.calls.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *countingStore) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	c.calls.Add(1)
	return c.Store.Set(ctx, key, v, ttl)
}

func (c *countingStore) Claim(ctx context.Context, key string, v []byte, ttl time.Duration) (bool, error) {
	c.calls.Add(1)
	return c.Store.Claim(ctx, key, v, ttl)
}

func (c *countingStore) Delete(ctx context.Context, key string) error {
	c.calls.Add(1)
	return c.Store.Delete(ctx, key)
}

// tokenEnv is a simulator, its clock, a client of it and the log of every
// keeper made in it (debug level included).
type tokenEnv struct {
	srv   *wechattest.Server
	clock *wechattest.Clock
	c     *wechat.Client
	logs  *observer.ObservedLogs
	log   *zap.Logger
}

func newTokenEnv(t *testing.T, opts ...wechattest.Option) *tokenEnv {
	t.Helper()
	clock := wechattest.NewClock(webTokenEpoch)
	srv := wechattest.NewServer(append([]wechattest.Option{wechattest.WithClock(clock)}, opts...)...)
	t.Cleanup(srv.Close)
	core, logs := observer.New(zap.DebugLevel)
	return &tokenEnv{srv: srv, clock: clock, c: tokenClient(t, srv, clock), logs: logs, log: zap.New(core)}
}

func tokenClient(t *testing.T, srv *wechattest.Server, clock *wechattest.Clock) *wechat.Client {
	t.Helper()
	c, err := wechat.New(wechat.Config{AppID: wechattest.DefaultAppID, AppSecret: wechattest.DefaultAppSecret,
		APIBase: srv.URL, OpenBase: srv.URL, Now: clock.Now, RetryBackoff: time.Millisecond, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// keeper is a keeper of the env's app on store (a fresh memory store when nil).
func (e *tokenEnv) keeper(t *testing.T, store Store, api webTokenAPI) *webTokenKeeper {
	t.Helper()
	if store == nil {
		store = newMemoryStore(nil, e.clock.Now)
	}
	if api == nil {
		api = e.c
	}
	k := newWebTokenKeeper(wechattest.DefaultAppID, api, store, e.clock.Now, e.log)
	k.wait = 5 * time.Second // unit tests wait for every round they start
	k.ttl = 90 * 24 * time.Hour
	t.Cleanup(k.close)
	return k
}

// signIn is user's code exchange (and, for snsapi_userinfo, profile), kept
// by k for a session with id sessionID.
func (e *tokenEnv) signIn(t *testing.T, k *webTokenKeeper, user, scope, sessionID string) *wechat.Token {
	t.Helper()
	ctx := context.Background()
	tok, err := e.c.ExchangeCode(ctx, e.srv.IssueCode(wechattest.DefaultAppID, user, scope))
	if err != nil {
		t.Fatal(err)
	}
	var nick, avatar string
	if scope == wechat.ScopeUserInfo {
		u, err := e.c.UserInfo(ctx, tok.AccessToken, tok.OpenID, "")
		if err != nil {
			t.Fatal(err)
		}
		nick, avatar = u.Nickname, u.HeadImgURL
	}
	k.put(ctx, sessionID, tok, nick, avatar, scope == wechat.ScopeUserInfo)
	return tok
}

// noSecretsLogged fails if any log line (message or field) holds one of secrets.
func (e *tokenEnv) noSecretsLogged(t *testing.T, secrets ...string) {
	t.Helper()
	for _, entry := range e.logs.All() {
		line := entry.Message
		for k, v := range entry.ContextMap() {
			line += " " + k + "=" + strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(toString(v), "\n", " "), "\t", " "))
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				t.Errorf("a log line holds a secret: %q", line)
			}
		}
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if err, ok := v.(error); ok {
		return err.Error()
	}
	return ""
}

const session1 = "webTokenSession0000001"

// concurrentViews makes n requests of session id at once, spread over the
// keepers (replicas) in turn, and returns what each got.
func concurrentViews(n int, id string, keepers ...*webTokenKeeper) []webTokenView {
	var wg sync.WaitGroup
	got := make([]webTokenView, n)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i] = keepers[i%len(keepers)].view(context.Background(), id, false)
		}(i)
	}
	wg.Wait()
	return got
}

// TestWebTokenKeeperRefreshesOnceForFiftyConcurrentRequests: at 7,300 s
// fifty requests of one session at once cause one refresh and all get the
// new token; before and after, a request costs no WeChat and no store call.
func TestWebTokenKeeperRefreshesOnceForFiftyConcurrentRequests(t *testing.T) {
	for _, rotate := range []bool{false, true} {
		var opts []wechattest.Option
		if rotate {
			opts = append(opts, wechattest.WithRotatingRefreshTokens())
		}
		e := newTokenEnv(t, opts...)
		store := &countingStore{Store: newMemoryStore(nil, e.clock.Now)}
		k := e.keeper(t, store, nil)
		k.passToken = true
		tok := e.signIn(t, k, "alice", wechat.ScopeBase, session1)
		ctx := context.Background()

		store.calls.Store(0)
		e.srv.ResetCalls()
		if v := k.view(ctx, session1, false); v.State != webTokenKept || v.Access != tok.AccessToken {
			t.Fatalf("rotate=%v: at sign-in: %+v", rotate, v)
		}
		e.clock.Advance(7000*time.Second - webTokenMargin) // 5 minutes and 200 s before the end: still good
		if v := k.view(ctx, session1, false); v.Access != tok.AccessToken {
			t.Fatalf("rotate=%v: a token with 5m+200s left was not passed: %+v", rotate, v)
		}
		if n, calls := store.calls.Load(), len(e.srv.Calls()); n != 0 || calls != 0 {
			t.Fatalf("rotate=%v: requests needing no refresh made %d store and %d WeChat calls", rotate, n, calls)
		}

		e.clock.Advance(7300*time.Second - (7000*time.Second - webTokenMargin))
		got := concurrentViews(50, session1, k)
		if n := e.srv.CallCount(refreshPath); n != 1 {
			t.Fatalf("rotate=%v: %d refreshes for 50 concurrent requests, want 1", rotate, n)
		}
		fresh := got[0].Access
		for i, v := range got {
			if v.State != webTokenKept || v.Access != fresh || fresh == tok.AccessToken || fresh == "" {
				t.Fatalf("rotate=%v: request %d got %+v (first got %q, old %q)", rotate, i, v, fresh, tok.AccessToken)
			}
		}
		if err := e.c.CheckToken(ctx, fresh, tok.OpenID); err != nil {
			t.Fatalf("rotate=%v: the refreshed token does not pass sns/auth: %v", rotate, err)
		}

		// The next refresh uses the refresh_token WeChat answered: with
		// rotation the first one is spent (40030) and would end the session.
		e.clock.Advance(7300 * time.Second)
		if v := k.view(ctx, session1, false); v.State != webTokenKept || v.Access == "" || v.Access == fresh {
			t.Fatalf("rotate=%v: second refresh: %+v", rotate, v)
		}
		store.calls.Store(0)
		e.srv.ResetCalls()
		k.view(ctx, session1, false)
		if n, calls := store.calls.Load(), len(e.srv.Calls()); n != 0 || calls != 0 {
			t.Fatalf("rotate=%v: after the refresh a request made %d store and %d WeChat calls", rotate, n, calls)
		}
		e.noSecretsLogged(t, tok.AccessToken, tok.RefreshToken, fresh, session1)
	}
}

// TestWebTokenKeeperEndsTheSessionWhenWeChatRefusesTheRefreshToken: after
// 30 days the refresh answers 42002 and the session ends; nothing more is
// asked of WeChat for it, and another keeper (replica) reading the store
// knows it too.
func TestWebTokenKeeperEndsTheSessionWhenWeChatRefusesTheRefreshToken(t *testing.T) {
	e := newTokenEnv(t)
	store := newMemoryStore(nil, e.clock.Now)
	k := e.keeper(t, store, nil)
	k.passToken = true
	tok := e.signIn(t, k, "alice", wechat.ScopeBase, session1)
	ctx := context.Background()
	e.clock.Advance(30 * 24 * time.Hour)
	e.srv.ResetCalls()
	if v := k.view(ctx, session1, false); v.State != webTokenEnded || v.Access != "" {
		t.Fatalf("after 30 days: %+v, want ended and no token", v)
	}
	if v := k.view(ctx, session1, false); v.State != webTokenEnded {
		t.Fatalf("the ended session came back: %+v", v)
	}
	if n := len(e.srv.Calls()); n != 1 {
		t.Fatalf("%d WeChat calls for an ended session, want the one refresh", n)
	}
	if v := e.keeper(t, store, nil).view(ctx, session1, false); v.State != webTokenEnded {
		t.Fatalf("another replica sees %+v, want ended", v)
	}
	e.noSecretsLogged(t, tok.AccessToken, tok.RefreshToken, session1)
}

// TestWebTokenKeeperNoticesAWithdrawalWithinVerifyInterval: a withdrawal in
// WeChat ends the session at the first re-check after verify_interval:
// sns/auth says no, the refresh is refused.
func TestWebTokenKeeperNoticesAWithdrawalWithinVerifyInterval(t *testing.T) {
	e := newTokenEnv(t)
	k := e.keeper(t, nil, nil)
	k.verifyEvery = 10 * time.Minute
	e.signIn(t, k, "bob", wechat.ScopeUserInfo, session1)
	ctx := context.Background()
	e.clock.Advance(9 * time.Minute)
	e.srv.ResetCalls()
	if v := k.view(ctx, session1, true); v.State != webTokenKept || len(e.srv.Calls()) != 0 {
		t.Fatalf("before verify_interval: %+v, %d calls", v, len(e.srv.Calls()))
	}
	e.clock.Advance(time.Minute)
	if v := k.view(ctx, session1, true); v.State != webTokenKept || e.srv.CallCount(authPath) != 1 {
		t.Fatalf("at verify_interval: %+v, %d sns/auth calls, want kept after 1", v, e.srv.CallCount(authPath))
	}
	e.srv.Withdraw(wechattest.DefaultAppID, "bob")
	e.clock.Advance(5 * time.Minute)
	if v := k.view(ctx, session1, true); v.State != webTokenKept {
		t.Fatalf("5 minutes after the check: %+v", v)
	}
	e.clock.Advance(5 * time.Minute)
	if v := k.view(ctx, session1, true); v.State != webTokenEnded {
		t.Fatalf("the re-check after the withdrawal: %+v, want ended", v)
	}
	if a, r := e.srv.CallCount(authPath), e.srv.CallCount(refreshPath); a != 2 || r != 1 {
		t.Fatalf("%d sns/auth and %d refresh calls, want 2 and 1", a, r)
	}
}

// gatedAPI holds CheckToken until released, to see whether a request waits.
type gatedAPI struct {
	*wechat.Client
	entered chan struct{}
	release chan struct{}
}

func (g *gatedAPI) CheckToken(ctx context.Context, accessToken, openID string) error {
	g.entered <- struct{}{}
	<-g.release
	return g.Client.CheckToken(ctx, accessToken, openID)
}

// TestWebTokenKeeperChecksOffTheHotPath: a request that starts a re-check
// is answered while WeChat has not yet answered (the request waits only up
// to the keeper's small bound); the next request sees the check's result.
func TestWebTokenKeeperChecksOffTheHotPath(t *testing.T) {
	e := newTokenEnv(t)
	api := &gatedAPI{Client: e.c, entered: make(chan struct{}, 1), release: make(chan struct{})}
	k := e.keeper(t, nil, api)
	k.verifyEvery = time.Hour
	k.wait = 0
	e.signIn(t, k, "alice", wechat.ScopeBase, session1)
	e.clock.Advance(time.Hour)
	answered := make(chan webTokenView)
	go func() { answered <- k.view(context.Background(), session1, false) }()
	<-api.entered
	select {
	case v := <-answered:
		if v.State != webTokenKept {
			t.Fatalf("%+v", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request waited for sns/auth")
	}
	close(api.release)
	k.close()
	if rec := k.entries[session1].rec.Load(); rec.Checked != e.clock.Now().Unix() {
		t.Fatalf("the check's answer was not recorded: checked %d, now %d", rec.Checked, e.clock.Now().Unix())
	}
}

// TestWebTokenKeeperKeepsTheSessionWhileWeChatIsDown: a refresh that gets no
// answer leaves the session working: the old token while it lasts, then
// none; WeChat is asked again after webTokenRetry, not by every request.
func TestWebTokenKeeperKeepsTheSessionWhileWeChatIsDown(t *testing.T) {
	e := newTokenEnv(t)
	k := e.keeper(t, nil, nil)
	k.passToken = true
	tok := e.signIn(t, k, "alice", wechat.ScopeBase, session1)
	ctx := context.Background()

	e.clock.Advance(7200*time.Second - webTokenMargin + time.Minute) // 4 minutes left
	e.srv.Fail(refreshPath, 1, wechattest.Fault{Status: http.StatusBadGateway})
	if v := k.view(ctx, session1, false); v.State != webTokenKept || v.Access != tok.AccessToken {
		t.Fatalf("refresh failed with 4 minutes left: %+v, want the old token", v)
	}
	e.clock.Advance(5 * time.Minute) // run out, and past webTokenRetry
	e.srv.Fail(refreshPath, 1, wechattest.Fault{Hang: true})
	if v := k.view(ctx, session1, false); v.State != webTokenKept || v.Access != "" {
		t.Fatalf("WeChat hangs after the token ran out: %+v, want kept without a token", v)
	}
	e.srv.ResetCalls()
	e.clock.Advance(webTokenRetry - time.Second)
	for range 5 {
		k.view(ctx, session1, false)
	}
	if n := len(e.srv.Calls()); n != 0 {
		t.Fatalf("%d WeChat calls within %s of a failure", n, webTokenRetry)
	}
	e.clock.Advance(time.Second)
	e.srv.Fail(refreshPath, 1, wechattest.FaultBusy)
	if v := k.view(ctx, session1, false); v.State != webTokenKept || v.Access != "" {
		t.Fatalf("WeChat busy: %+v", v)
	}
	e.clock.Advance(webTokenRetry)
	v := k.view(ctx, session1, false)
	if v.State != webTokenKept || v.Access == "" || v.Access == tok.AccessToken {
		t.Fatalf("WeChat back: %+v, want a new token", v)
	}
	e.noSecretsLogged(t, tok.AccessToken, tok.RefreshToken, v.Access, session1)
	if e.logs.FilterMessageSnippet("did not answer").Len() == 0 {
		t.Error("the outage was not logged")
	}
}

// TestWebTokenKeeperRefreshesTheProfileAfterProfileTTL: a changed nickname
// reaches the view after profile_ttl, through a refreshed token when the
// old one has run out; snsapi_base sessions are never profiled.
func TestWebTokenKeeperRefreshesTheProfileAfterProfileTTL(t *testing.T) {
	e := newTokenEnv(t)
	k := e.keeper(t, nil, nil)
	k.profileTTL = 24 * time.Hour
	e.signIn(t, k, "bob", wechat.ScopeUserInfo, session1)
	e.signIn(t, k, "alice", wechat.ScopeBase, "webTokenSession0000002")
	ctx := context.Background()
	e.srv.SetProfile("bob", "鲍勃", "https://thirdwx.qlogo.cn/mmopen/bob2/132")
	e.clock.Advance(23 * time.Hour)
	if v := k.view(ctx, session1, true); v.Nickname != "李四 🐟" {
		t.Fatalf("before profile_ttl: %+v", v)
	}
	e.clock.Advance(time.Hour)
	v := k.view(ctx, session1, true)
	if v.Nickname != "鲍勃" || v.Avatar != "https://thirdwx.qlogo.cn/mmopen/bob2/132" {
		t.Fatalf("after profile_ttl: %+v, want the new profile", v)
	}
	if r, u := e.srv.CallCount(refreshPath), e.srv.CallCount(userinfoPath); r != 1 || u != 2 {
		t.Fatalf("%d refreshes and %d userinfo calls (sign-in included), want 1 and 2", r, u)
	}
	e.srv.ResetCalls()
	k.view(ctx, session1, true)
	k.view(ctx, "webTokenSession0000002", false)
	if n := len(e.srv.Calls()); n != 0 {
		t.Fatalf("%d WeChat calls after the profile refresh / for a snsapi_base session", n)
	}
}

// TestWebTokensAreSealedInTheStore: the store holds neither the tokens, the
// openid nor the session id, and another session id opens nothing.
func TestWebTokensAreSealedInTheStore(t *testing.T) {
	e := newTokenEnv(t)
	store := newMemoryStore(nil, e.clock.Now)
	k := e.keeper(t, store, nil)
	tok := e.signIn(t, k, "alice", wechat.ScopeBase, session1)
	store.mu.Lock()
	var dump strings.Builder
	for key, v := range store.entries {
		dump.WriteString(key + "=" + string(v.value) + "\n")
	}
	store.mu.Unlock()
	for _, s := range []string{tok.AccessToken, tok.RefreshToken, tok.OpenID, session1} {
		if strings.Contains(dump.String(), s) {
			t.Fatalf("the store shows %q", s)
		}
	}
	seal := newWebTokenSeal(wechattest.DefaultAppID, session1)
	v, _ := store.Get(context.Background(), seal.key)
	if seal.open(v) == nil {
		t.Fatal("the session's own seal does not open its record")
	}
	if newWebTokenSeal(wechattest.DefaultAppID, "webTokenSession0000002").open(v) != nil {
		t.Fatal("another session's seal opened the record")
	}
	if other := e.keeper(t, store, nil); other.view(context.Background(), "webTokenSession0000002", false).State != webTokenMissing {
		t.Fatal("a session without tokens is not missing")
	}
	k.forget(context.Background(), session1)
	if v := e.keeper(t, store, nil).view(context.Background(), session1, false); v.State != webTokenMissing {
		t.Fatalf("after a logout: %+v, want missing", v)
	}
}

// TestWebTokenViewAllocatesNothing: the hot path of a session with nothing
// due is a map lookup.
func TestWebTokenViewAllocatesNothing(t *testing.T) {
	e := newTokenEnv(t)
	k := e.keeper(t, nil, nil)
	k.passToken, k.verifyEvery, k.profileTTL = true, time.Hour, time.Hour
	e.signIn(t, k, "bob", wechat.ScopeUserInfo, session1)
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { k.view(ctx, session1, true) }); n != 0 {
		t.Fatalf("view allocates %.0f times", n)
	}
}

// TestWebTokenKeeperTellsSessionsFromBeforeTheTokensWereKept: a session
// issued before the store began keeping tokens has none and predates; one
// issued since whose record is gone does not (no sign-in loop); another
// keeper (a replica, a reload) reads the same marker.
func TestWebTokenKeeperTellsSessionsFromBeforeTheTokensWereKept(t *testing.T) {
	e := newTokenEnv(t)
	store := newMemoryStore(nil, e.clock.Now)
	k := e.keeper(t, store, nil)
	ctx := context.Background()
	before := e.clock.Now().Add(-time.Hour).UnixMilli()
	if !k.predates(ctx, before) {
		t.Fatal("a session from before the keeper does not predate it")
	}
	e.clock.Advance(time.Hour)
	if k.predates(ctx, e.clock.Now().UnixMilli()) {
		t.Fatal("a session issued since predates")
	}
	if other := e.keeper(t, store, nil); !other.predates(ctx, before) || other.predates(ctx, e.clock.Now().Add(-time.Minute).UnixMilli()) {
		t.Fatal("another keeper on the store reads another marker")
	}
}

// TestServeHTTPWithTheTokenSettingsNeedsNoStoreCall: a handler with
// pass_access_token, verify_interval and profile_ttl serving a session with
// nothing due costs no store call, and the upstream gets the token. The
// keeper allocates nothing (TestWebTokenViewAllocatesNothing); the one more
// header grows the request's header map once more: at most 3 allocations
// more than the same handler without the settings (measured with
// -memprofile: all in the header map's inserts).
func TestServeHTTPWithTheTokenSettingsNeedsNoStoreCall(t *testing.T) {
	perRequest := func(settings func(*Handler)) (float64, []string, *countingStore) {
		h := provisionedHandler(t, settings)
		s := benchSession(h, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
		s.ID = randomAlnum(sessionIDLen)
		var store *countingStore
		if h.tokens != nil {
			h.tokens.keeper.put(context.Background(), s.ID, &wechat.Token{AccessToken: "ACCESS_TOKEN_1", RefreshToken: "REFRESH_1",
				OpenID: s.OpenID, ExpiresIn: 7200}, s.Nickname, s.Avatar, true)
			store = &countingStore{Store: h.tokens.keeper.store}
			h.tokens.keeper.store = store
		}
		value := sealed(t, h, s)
		var got []string
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			got = r.Header.Values("X-Wechat-Access-Token")
			return nil
		})
		w := httptest.NewRecorder()
		reqs := make([]*http.Request, 102)
		for i := range reqs {
			reqs[i] = caddyhttp.PrepareRequest(cookieRequest(h, value), caddy.NewReplacer(), w, nil)
		}
		if err := h.ServeHTTP(w, reqs[101], next); err != nil {
			t.Fatal(err)
		}
		i := 0
		allocs := testing.AllocsPerRun(100, func() {
			_ = h.ServeHTTP(w, reqs[i], next)
			i++
		})
		return allocs, got, store
	}
	without, _, _ := perRequest(nil)
	with, got, store := perRequest(func(h *Handler) {
		h.PassAccessToken = true
		h.VerifyInterval, h.ProfileTTL = caddy.Duration(time.Hour), caddy.Duration(24*time.Hour)
	})
	if len(got) != 1 || got[0] != "ACCESS_TOKEN_1" {
		t.Fatalf("the upstream got %q", got)
	}
	if with > without+3 || store.calls.Load() != 0 {
		t.Fatalf("%.0f allocations (without the settings %.0f) and %d store calls a request, want at most 3 more and none",
			with, without, store.calls.Load())
	}
}
