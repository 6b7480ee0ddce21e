package wechat_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// fakeShared is SharedCredentials in memory, with a limiter that allows one
// force refresh.
type fakeShared struct {
	mu      sync.Mutex
	values  map[string]string
	till    map[string]time.Time
	allowed int
	asked   int
}

func newFakeShared(allowed int) *fakeShared {
	return &fakeShared{values: map[string]string{}, till: map[string]time.Time{}, allowed: allowed}
}

func (f *fakeShared) Credential(_ context.Context, key string) (string, time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.values[key]
	return v, time.Until(f.till[key]), ok
}

func (f *fakeShared) SetCredential(_ context.Context, key, value string, usable time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[key], f.till[key] = value, time.Now().Add(usable)
}

func (f *fakeShared) AllowForceRefresh(context.Context) (bool, bool) {
	// A store round trip: both replicas are deciding before either forces.
	time.Sleep(50 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	if f.allowed > 0 {
		f.allowed--
		return true, false
	}
	return false, true
}

func forcedRefreshes(srv *wechattest.Server) int {
	n := 0
	for _, c := range srv.Calls() {
		if c.Path == "/cgi-bin/stable_token" && strings.Contains(c.Body, `"force_refresh":true`) {
			n++
		}
	}
	return n
}

// TestSharedBasicTokenIsFetchedOnceAcrossReplicas: a second replica takes
// the token the first fetched, without asking WeChat.
func TestSharedBasicTokenIsFetchedOnceAcrossReplicas(t *testing.T) {
	shared := newFakeShared(0)
	a := newEnv(t, wechat.Config{Shared: shared})
	b, err := wechat.New(wechat.Config{AppID: wechattest.DefaultAppID, AppSecret: wechattest.DefaultAppSecret,
		APIBase: a.srv.URL, OpenBase: a.srv.URL, Shared: shared})
	if err != nil {
		t.Fatal(err)
	}
	ta, err := a.c.BasicToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.BasicToken(context.Background())
	if err != nil || tb != ta {
		t.Fatalf("replica B: %q, %v; want A's token", tb, err)
	}
	if n := a.srv.CallCount("/cgi-bin/stable_token"); n != 1 {
		t.Fatalf("%d stable_token calls for two replicas, want 1", n)
	}
}

// TestRejectedTokenIsForceRefreshedOnceAcrossReplicas: WeChat rejects the
// token (40001) on two replicas at once and a normal fetch returns the same
// token; the shared limiter lets exactly one force_refresh through, and both
// calls succeed with the new token.
func TestRejectedTokenIsForceRefreshedOnceAcrossReplicas(t *testing.T) {
	shared := newFakeShared(1)
	a := newEnv(t, wechat.Config{Shared: shared})
	b, err := wechat.New(wechat.Config{AppID: wechattest.DefaultAppID, AppSecret: wechattest.DefaultAppSecret,
		APIBase: a.srv.URL, OpenBase: a.srv.URL, Shared: shared, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	openID := a.srv.OpenID(wechattest.DefaultAppID, "alice")
	if _, err := a.c.BasicToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Both first calls are answered 40001 after a pause, so they overlap.
	a.srv.Fail("/cgi-bin/user/info", 2, wechattest.Fault{ErrCode: 40001, Delay: 100 * time.Millisecond})
	// And both normal refetches return the rejected token at about the same
	// time, so both replicas would force if the limiter did not decide.
	a.srv.Fail("/cgi-bin/stable_token", 2, wechattest.Fault{Delay: 100 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []*wechat.Client{a.c, b} {
		wg.Add(1)
		go func(i int, c *wechat.Client) {
			defer wg.Done()
			_, errs[i] = c.Follower(context.Background(), openID, "zh_CN")
		}(i, c)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	if n := forcedRefreshes(a.srv); n != 1 {
		t.Fatalf("%d force refreshes for one rejected token on two replicas, want 1", n)
	}
}

// TestWithoutSharedNothingForceRefreshes: a lone client never forces.
func TestWithoutSharedNothingForceRefreshes(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	openID := e.srv.OpenID(wechattest.DefaultAppID, "alice")
	e.srv.Fail("/cgi-bin/user/info", 1, wechattest.Fault{ErrCode: 40001})
	if _, err := e.c.Follower(context.Background(), openID, "zh_CN"); err != nil {
		t.Fatal(err)
	}
	if n := forcedRefreshes(e.srv); n != 0 {
		t.Fatalf("%d force refreshes without a shared limiter", n)
	}
}
