package wechatauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestWebTokenKeepersOnRedisRefreshOnceAcrossReplicas: two replicas (each
// its own keeper, WeChat client and Redis connection) on one real
// redis-server; 25 concurrent requests on each at 7,300 s cause one
// refresh, and all 50 get the same new token. WeChat rotates
// refresh_tokens here, so a second refresh with the first refresh_token
// would be refused (40030) and end the session: one refresh is a must, not
// a saving. Redis never holds a token or the session id in the clear.
func TestWebTokenKeepersOnRedisRefreshOnceAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	e := newTokenEnv(t, wechattest.WithRotatingRefreshTokens())
	replica := func() *webTokenKeeper {
		store, _ := startRedisStore(t, srv.URL(), nil)
		k := e.keeper(t, store, tokenClient(t, e.srv, e.clock))
		k.passToken = true
		return k
	}
	a, b := replica(), replica()
	tok := e.signIn(t, a, "alice", wechat.ScopeBase, session1)
	ctx := context.Background()
	if v := b.view(ctx, session1, false); v.Access != tok.AccessToken {
		t.Fatalf("the other replica does not find the session's token: %+v", v)
	}

	for round := 1; round <= 2; round++ {
		e.clock.Advance(7300 * time.Second)
		e.srv.ResetCalls()
		got := concurrentViews(50, session1, a, b)
		if n := e.srv.CallCount(refreshPath); n != 1 {
			t.Fatalf("round %d: %d refreshes for 50 requests on two replicas, want 1", round, n)
		}
		for i, v := range got {
			if v.State != webTokenKept || v.Access == "" || v.Access != got[0].Access || v.Access == tok.AccessToken {
				t.Fatalf("round %d: request %d got %+v, first got %q", round, i, v, got[0].Access)
			}
		}
		if err := e.c.CheckToken(ctx, got[0].Access, tok.OpenID); err != nil {
			t.Fatalf("round %d: the shared token fails sns/auth: %v", round, err)
		}
	}

	keys, err := srv.Do("KEYS", "*")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(keys, "webtoken:") {
		t.Fatalf("no record in Redis: %q", keys)
	}
	for _, key := range strings.Fields(keys) {
		v, _ := srv.Do("GET", key)
		for _, s := range []string{tok.AccessToken, tok.RefreshToken, tok.OpenID, session1} {
			if strings.Contains(key+v, s) {
				t.Fatalf("Redis key %q shows %q", key, s)
			}
		}
	}
}

// TestWebTokenKeeperOnAnUnreachableRedisSendsNobodyToSignIn: while Redis is
// away the marker of when tokens began to be kept cannot be read, so a
// session without a record is served (without a token), never sent to sign
// in; once Redis is back, a session from before the marker predates it.
func TestWebTokenKeeperOnAnUnreachableRedisSendsNobodyToSignIn(t *testing.T) {
	srv := redistest.Start(t)
	e := newTokenEnv(t)
	store, _ := startRedisStore(t, srv.URL(), nil)
	ctx := context.Background()
	before := e.clock.Now().Add(-time.Hour).UnixMilli()
	srv.Stop()
	waitFor(t, 10*time.Second, "the store notices Redis is gone", func() bool { return !store.Shared() })
	if e.keeper(t, store, nil).predates(ctx, before) {
		t.Fatal("a session predates a marker that could not be read")
	}
	srv.Restart()
	waitFor(t, 10*time.Second, "the store is back", store.Shared)
	if !e.keeper(t, store, nil).predates(ctx, before) {
		t.Fatal("with Redis back, a session from before the marker does not predate it")
	}
}
