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

type observed struct {
	op   string
	took time.Duration
	code int
	err  bool
}

func TestObserveHearsEveryAttemptWithItsPathDurationAndOutcome(t *testing.T) {
	var mu sync.Mutex
	var seen []observed
	e := newEnv(t, wechat.Config{Observe: func(op string, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, observed{op, took, wechat.Code(err), err != nil})
	}})
	tok := e.webToken(t, "alice", wechat.ScopeUserInfo)
	e.srv.Fail("/sns/userinfo", 1, wechattest.FaultBusy)
	if _, err := e.c.UserInfo(context.Background(), tok.AccessToken, tok.OpenID, ""); err != nil {
		t.Fatal(err)
	}
	e.srv.Fail("/sns/userinfo", 1, wechattest.Fault{Status: 404})
	if _, err := e.c.UserInfo(context.Background(), tok.AccessToken, tok.OpenID, ""); err == nil {
		t.Fatal("a 404 succeeded")
	}

	mu.Lock()
	defer mu.Unlock()
	want := []observed{
		{op: "/sns/oauth2/access_token"},
		{op: "/sns/userinfo", code: -1, err: true}, // the busy attempt, then its retry
		{op: "/sns/userinfo"},
		{op: "/sns/userinfo", err: true}, // HTTP 404: no errcode, not retried
	}
	if len(seen) != len(want) {
		t.Fatalf("observed %+v, want %d attempts", seen, len(want))
	}
	for i, w := range want {
		got := seen[i]
		if got.op != w.op || got.code != w.code || got.err != w.err || got.took <= 0 {
			t.Errorf("attempt %d: %+v, want %+v with a positive duration", i, got, w)
		}
		if strings.ContainsAny(got.op, "?=&") {
			t.Errorf("attempt %d: op %q carries a query", i, got.op)
		}
	}
}
