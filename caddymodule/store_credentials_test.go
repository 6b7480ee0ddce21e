package wechatauth

import (
	"context"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestCredentialsAreSharedSealedAndForceRefreshIsRationed: two replicas'
// clients of one account fetch the basic token once; Redis holds it only
// sealed; force refreshes are one per 30 s and forceRefreshPerDay a day for
// both replicas together.
func TestCredentialsAreSharedSealedAndForceRefreshIsRationed(t *testing.T) {
	srv := redistest.Start(t)
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	apps := []*App{redisApp(t, srv.URL()), redisApp(t, srv.URL())}
	cfg := wechat.Config{AppID: wechattest.DefaultAppID, AppSecret: wechattest.DefaultAppSecret, APIBase: sim.URL, OpenBase: sim.URL}
	var tokens []string
	for _, a := range apps {
		c, err := a.client(cfg)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.BasicToken(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	if tokens[0] != tokens[1] || sim.CallCount("/cgi-bin/stable_token") != 1 {
		t.Fatalf("two replicas made %d stable_token calls, want 1", sim.CallCount("/cgi-bin/stable_token"))
	}
	raw, _ := srv.Do("GET", "wechat_auth:credential:"+wechattest.DefaultAppID+":basic")
	if raw == "" || strings.Contains(raw, tokens[0]) {
		t.Fatalf("the token in Redis is missing or in the clear (%d bytes)", len(raw))
	}
	other := newSharedCredentials(apps[0].store, wechattest.DefaultAppID, "another secret", apps[0].logger)
	if _, _, ok := other.Credential(context.Background(), "basic"); ok {
		t.Fatal("a different app secret opened the shared token")
	}

	ctx := context.Background()
	s := []*sharedCredentials{
		newSharedCredentials(apps[0].store, "wxrationed", "s", apps[0].logger),
		newSharedCredentials(apps[1].store, "wxrationed", "s", apps[1].logger),
	}
	if ok, _ := s[0].AllowForceRefresh(ctx); !ok {
		t.Fatal("the first force refresh was refused")
	}
	ok1, wait1 := s[1].AllowForceRefresh(ctx)
	ok0, _ := s[0].AllowForceRefresh(ctx)
	if ok1 || ok0 || !wait1 {
		t.Fatal("a second force refresh within 30 s was allowed, or the other replica was not told to wait for the new token")
	}
	allowed := 1
	for i := 0; i < 2*forceRefreshPerDay; i++ {
		_, _ = srv.Do("DEL", "wechat_auth:force_refresh:wxrationed") // 30 s later
		if ok, _ := s[i%2].AllowForceRefresh(ctx); ok {
			allowed++
		}
	}
	if allowed != forceRefreshPerDay {
		t.Fatalf("%d force refreshes in a day, want %d", allowed, forceRefreshPerDay)
	}
	memory := newSharedCredentials(newMemoryStore(nil, nil), "wxalone", "s", apps[0].logger)
	if ok, wait := memory.AllowForceRefresh(ctx); ok || wait {
		t.Fatal("a process without a shared store may force-refresh on its own")
	}
}
