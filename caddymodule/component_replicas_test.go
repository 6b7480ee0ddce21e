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
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// Two replicas of a third-party platform (two wechat apps on one real
// redis-server, as two processes would be) with the simulator as a real
// server: a ticket pushed to one serves the other, and one
// component_access_token is fetched per expiry for both.

const (
	pathCompToken = "/cgi-bin/component/api_component_token"
)

// platformReplica is one replica: its app, its receiver on a real HTTP
// server and a clock the test can move.
type platformReplica struct {
	app    *App
	events *httptest.Server
	clock  atomic.Int64 // offset from real time, ns
	logs   *observer.ObservedLogs
}

func newPlatformReplica(t *testing.T, store, name, apiBase string) *platformReplica {
	t.Helper()
	p := &platformReplica{app: &App{Store: store, replica: name, Component: &ComponentConfig{
		AppID: wechattest.DefaultComponentAppID, AppSecret: wechattest.DefaultComponentSecret, Token: wechattest.DefaultComponentToken,
		EncodingAESKey: wechattest.DefaultComponentAESKey, APIBase: apiBase, OpenBase: apiBase,
	}}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	t.Cleanup(func() { _ = p.app.Cleanup() })
	if err := p.app.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if p.app.redis != nil {
		for deadline := time.Now().Add(5 * time.Second); !p.app.redis.up(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("store not connected")
			}
		}
	}
	oc, logs := observer.New(zap.DebugLevel)
	p.logs = logs
	c := p.app.component
	c.logger = zap.New(oc)
	c.now = func() time.Time { return time.Now().Add(time.Duration(p.clock.Load())) }
	ev := &ComponentEvents{c: c, logger: c.logger}
	p.events = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = ev.ServeHTTP(w, r, nil)
	}))
	t.Cleanup(p.events.Close)
	return p
}

func newPlatformSim(t *testing.T, c wechattest.Component) *wechattest.Server {
	t.Helper()
	c.AppID, c.Secret, c.Token, c.EncodingAESKey = wechattest.DefaultComponentAppID, wechattest.DefaultComponentSecret,
		wechattest.DefaultComponentToken, wechattest.DefaultComponentAESKey
	sim := wechattest.NewServer(wechattest.WithComponent(c))
	t.Cleanup(sim.Close)
	return sim
}

// tokensFrom asks every replica for the token n times at once and returns
// the distinct answers.
func tokensFrom(t *testing.T, n int, rs ...*platformReplica) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	got := map[string]bool{}
	var wg sync.WaitGroup
	for _, r := range rs {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := r.app.component.accessToken(context.Background())
				if err != nil {
					t.Errorf("accessToken: %v", err)
					return
				}
				mu.Lock()
				got[tok] = true
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return got
}

// TestComponentReplicasShareTicketAndOneTokenPerExpiry: the ticket pushed
// to replica A lets replica B fetch the token; 16 concurrent asks on each
// replica make one api_component_token call; past the token's use-by
// time, again exactly one call renews it for both.
func TestComponentReplicasShareTicketAndOneTokenPerExpiry(t *testing.T) {
	srv := redistest.Start(t)
	sim := newPlatformSim(t, wechattest.Component{})
	a := newPlatformReplica(t, srv.URL(), "a", sim.URL)
	b := newPlatformReplica(t, srv.URL(), "b", sim.URL)
	if err := sim.SetPushURL(a.events.URL); err != nil {
		t.Fatal(err)
	}
	ticket, err := sim.PushTicket()
	if err != nil {
		t.Fatalf("push to replica A: %v", err)
	}
	if got, _, _ := b.app.component.storedTicket(context.Background()); got != ticket {
		t.Fatalf("replica B reads ticket %q, want the one pushed to A", got)
	}

	first := tokensFrom(t, 16, b, a)
	if len(first) != 1 {
		t.Fatalf("the replicas got %d different tokens, want 1", len(first))
	}
	if n := sim.CallCount(pathCompToken); n != 1 {
		t.Fatalf("api_component_token called %d times, want 1", n)
	}

	// 1 h 51 min later (the token is used until 10 minutes before its 2 h).
	for _, r := range []*platformReplica{a, b} {
		r.clock.Store(int64(111 * time.Minute))
	}
	second := tokensFrom(t, 16, a, b)
	if len(second) != 1 {
		t.Fatalf("after expiry the replicas got %d different tokens, want 1", len(second))
	}
	for tok := range second {
		if first[tok] {
			t.Fatal("the token was not renewed past its use-by time")
		}
	}
	if n := sim.CallCount(pathCompToken); n != 2 {
		t.Fatalf("api_component_token called %d times in all, want 2", n)
	}
}

// TestComponentTokenErrorsAreNamedForTheOperator: 61004 names the
// platform's IP whitelist; a ticket WeChat calls expired (61005) is
// reported, tells the other replica at once, and the next push lets the
// next ask succeed without waiting for the refresh to free up.
func TestComponentTokenErrorsAreNamedForTheOperator(t *testing.T) {
	srv := redistest.Start(t)
	t.Run("61004", func(t *testing.T) {
		sim := newPlatformSim(t, wechattest.Component{AllowedIPs: []string{"192.0.2.1"}})
		a := newPlatformReplica(t, srv.URL(), "ip-a", sim.URL)
		_ = sim.SetPushURL(a.events.URL)
		if _, err := sim.PushTicket(); err != nil {
			t.Fatal(err)
		}
		_, err := a.app.component.accessToken(context.Background())
		if err == nil || !strings.Contains(err.Error(), "61004") {
			t.Fatalf("token with the IP not whitelisted: %v", err)
		}
		if n := a.logs.FilterMessageSnippet("白名单IP").Len(); n != 1 {
			t.Fatalf("%d log lines name the platform's 白名单IP, want 1", n)
		}
	})
	t.Run("61005", func(t *testing.T) {
		_, _ = srv.Do("FLUSHALL")
		sim := newPlatformSim(t, wechattest.Component{})
		a := newPlatformReplica(t, srv.URL(), "exp-a", sim.URL)
		b := newPlatformReplica(t, srv.URL(), "exp-b", sim.URL)
		_ = sim.SetPushURL(a.events.URL)
		if _, err := sim.PushTicket(); err != nil {
			t.Fatal(err)
		}
		sim.ExpireVerifyTickets()
		_, err := a.app.component.accessToken(context.Background())
		if err == nil || !strings.Contains(err.Error(), "61005") {
			t.Fatalf("token with an expired ticket: %v", err)
		}
		if a.logs.FilterMessageSnippet("61005 expired").Len() != 1 {
			t.Fatal("no log line names the refused ticket")
		}
		if _, err := b.app.component.accessToken(context.Background()); err == nil || !strings.Contains(err.Error(), "61005") {
			t.Fatalf("replica B while A's failure stands: %v, want A's 61005", err)
		}
		if _, err := sim.PushTicket(); err != nil {
			t.Fatal(err)
		}
		if tok, err := b.app.component.accessToken(context.Background()); err != nil || tok == "" {
			t.Fatalf("after a new push: %q, %v", tok, err)
		}
	})
}
