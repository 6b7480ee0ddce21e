package wechatauth

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
	"github.com/wxgate/caddy-wechat-auth/wechat"
)

func TestWeChatGlobalOptionErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown", "{\n\twechat {\n\t\tstorage redis://x\n\t}\n}\n:8080\n", `unknown wechat option "storage"`},
		{"twice", "{\n\twechat redis://a\n\twechat redis://b\n}\n:8080\n", "given twice"},
		{"store twice", "{\n\twechat redis://a {\n\t\tstore redis://b\n\t}\n}\n:8080\n", "store is given twice"},
		{"no url", "{\n\twechat {\n\t\tstore\n\t}\n}\n:8080\n", "needs a URL"},
		{"extra arg", "{\n\twechat {\n\t\tstore redis://a redis://b\n\t}\n}\n:8080\n", "wrong argument count"},
		{"unchecked_sessions", "{\n\twechat {\n\t\tunchecked_sessions maybe\n\t}\n}\n:8080\n", "is not refuse or admit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adaptCaddyfile(t, "Caddyfile", tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
	out, err := adaptCaddyfile(t, "Caddyfile", "{\n\twechat {env.WECHAT_STORE}\n}\n:8080\n")
	if err != nil || !strings.Contains(string(out), `"wechat":{"store":"{env.WECHAT_STORE}"}`) {
		t.Fatalf("one-line form: %s, %v", out, err)
	}
}

func provisionApp(t *testing.T, a *App) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if a.replica == "" {
		a.replica = fmt.Sprintf("%s %p", t.Name(), a)
	}
	t.Cleanup(func() { _ = a.Cleanup() })
	return a.Provision(ctx)
}

// TestAppStoreFromPlaceholder: the store URL is expanded at provision time,
// the password stays out of what the app logs, and revocations made through
// one app reach another (a second replica) through Redis.
func TestAppStoreFromPlaceholder(t *testing.T) {
	srv := redistest.Start(t)
	if _, err := srv.Do("CONFIG", "SET", "requirepass", "app-s3cret"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_WECHAT_STORE", "redis://:app-s3cret@"+srv.Addr+"/0")
	var apps [2]*App
	for i := range apps {
		apps[i] = &App{Store: "{env.TEST_WECHAT_STORE}"}
		if err := provisionApp(t, apps[i]); err != nil {
			t.Fatal(err)
		}
		if apps[i].redis == nil || strings.Contains(apps[i].redis.where, "app-s3cret") {
			t.Fatalf("store %+v", apps[i].redis)
		}
		if err := apps[i].Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = apps[i].Stop() })
		waitFor(t, 5*time.Second, "app connected", apps[i].redis.up)
	}
	r := Revocation{AppID: "wx1", SessionID: "s1", Until: time.Now().Add(time.Hour).Unix()}
	if err := apps[0].revoke(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the other replica refuses the session", func() bool {
		return apps[1].revocations.revoked("wx1", "s1", "o", 0)
	})
}

func TestAppDefaultsToMemory(t *testing.T) {
	a := &App{}
	if err := provisionApp(t, a); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.store.(*memoryStore); !ok || a.store.Shared() {
		t.Fatalf("store %T", a.store)
	}
	if a.KeyPrefix != defaultKeyPrefix {
		t.Fatal(a.KeyPrefix)
	}
	r := Revocation{AppID: "wx1", SessionID: "s1", Until: time.Now().Add(time.Hour).Unix()}
	_ = a.revoke(context.Background(), r)
	if !a.revocations.revoked("wx1", "s1", "o", 0) {
		t.Fatal("memory store revocation not applied")
	}
	if err := provisionApp(t, &App{Store: "{env.NO_SUCH_VARIABLE_SET}x"}); err == nil {
		// "{env.X}x" expands to "x", which is no URL.
		t.Fatal("a store that is no URL was accepted")
	}
}

// TestAppSharesOneClientPerAppID: two handlers of one account get one
// client (one token cache); a second account under the same app_id is a
// configuration error.
func TestAppSharesOneClientPerAppID(t *testing.T) {
	a := &App{}
	if err := provisionApp(t, a); err != nil {
		t.Fatal(err)
	}
	cfg := wechat.Config{AppID: "wx0123456789abcdef", AppSecret: "s1"}
	c1, err := a.client(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := a.client(cfg)
	if err != nil || c1 != c2 {
		t.Fatalf("second handler got another client: %p %p %v", c1, c2, err)
	}
	other := cfg
	other.AppID = "wx0123456789abcdee"
	if c3, _ := a.client(other); c3 == c1 {
		t.Fatal("two accounts share a client")
	}
	cfg.AppSecret = "s2"
	if _, err := a.client(cfg); err == nil || !strings.Contains(err.Error(), "configured twice") || strings.Contains(err.Error(), "s2") {
		t.Fatalf("conflicting secret: %v", err)
	}
}

// Two handlers provisioned without a config (unit tests, benchmarks) each get
// an app of their own: one's logout must not refuse the other's sessions.
// The apps were keyed by their context's address, which Go reuses once a
// context is freed: a test then inherited an earlier test's revocations
// (TestVerifyAcceptsAValidSession refused its valid session now and then).
func TestUnconfiguredAppsNeverShareRevocations(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	same := caddy.Context{Context: ctx.Context} // the same address, twice
	first, err := appOnDemand(same)
	if err != nil {
		t.Fatal(err)
	}
	second, err := appOnDemand(same)
	if err != nil {
		t.Fatal(err)
	}
	a, b := first.(*App), second.(*App)
	t.Cleanup(func() { _ = a.Cleanup(); _ = b.Cleanup() })
	now := time.Now()
	a.shared.revocations.Revoked(Revocation{AppID: testAppID, OpenID: "o-shared", IssuedBefore: now.UnixMilli(), Until: now.Add(time.Hour).Unix()})
	if !a.shared.revocations.revoked(testAppID, "", "o-shared", now.UnixMilli()-1) {
		t.Fatal("the revocation did not reach the app it was made in")
	}
	if b.shared.revocations.revoked(testAppID, "", "o-shared", now.UnixMilli()-1) {
		t.Fatal("a logout in one unconfigured app refused the sessions of another")
	}
}
