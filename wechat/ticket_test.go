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

func TestJSAPITicketIsFetchedOnceAndCached(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	ctx := context.Background()
	var wg sync.WaitGroup
	got := make([]string, 20)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = e.c.JSAPITicket(ctx)
		}()
	}
	wg.Wait()
	for _, tk := range got {
		if tk == "" || tk != got[0] {
			t.Fatalf("tickets = %q, want one ticket for all", got)
		}
	}
	if !e.srv.ValidJSAPITicket(e.c.AppID(), got[0]) {
		t.Error("the ticket is not one the simulator issued")
	}
	if again, _ := e.c.JSAPITicket(ctx); again != got[0] {
		t.Error("a second call fetched a new ticket")
	}
	if n := e.srv.CallCount("/cgi-bin/ticket/getticket"); n != 1 {
		t.Errorf("getticket calls = %d, want 1", n)
	}
	// Refetched shortly before it expires, not after.
	e.clock.Advance(7200*time.Second - 5*time.Minute)
	fresh, err := e.c.JSAPITicket(ctx)
	if err != nil || fresh == got[0] || e.srv.CallCount("/cgi-bin/ticket/getticket") != 2 {
		t.Errorf("after 6900 s: %q, %v, %d calls; want a new ticket from a second call", fresh, err, e.srv.CallCount("/cgi-bin/ticket/getticket"))
	}
	e.c.InvalidateJSAPITicket("not-the-cached-one")
	e.c.InvalidateJSAPITicket(fresh)
	if third, _ := e.c.JSAPITicket(ctx); third == fresh || e.srv.CallCount("/cgi-bin/ticket/getticket") != 3 {
		t.Error("InvalidateJSAPITicket did not make the next call fetch")
	}
}

func TestJSAPITicketRefetchesTheBasicTokenWhenWeChatRejectsIt(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	ctx := context.Background()
	if _, err := e.c.BasicToken(ctx); err != nil {
		t.Fatal(err)
	}
	e.srv.Fail("/cgi-bin/ticket/getticket", 1, wechattest.Fault{ErrCode: 42001})
	tk, err := e.c.JSAPITicket(ctx)
	if err != nil || !e.srv.ValidJSAPITicket(e.c.AppID(), tk) {
		t.Fatalf("JSAPITicket after 42001: %q, %v", tk, err)
	}
	if s := e.srv.CallCount("/cgi-bin/stable_token"); s != 2 {
		t.Errorf("stable_token calls = %d, want 2 (one refetch)", s)
	}
}

func TestJSAPITicketErrorsAreNotCachedAndCarryNoSecret(t *testing.T) {
	e := newEnv(t, wechat.Config{MaxRetries: -1}, wechattest.WithDailyQuota("/cgi-bin/ticket/getticket", 1))
	ctx := context.Background()
	tk, err := e.c.JSAPITicket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := e.c.BasicToken(ctx)
	e.c.InvalidateJSAPITicket(tk)
	_, err = e.c.JSAPITicket(ctx)
	if wechat.Code(err) != 45009 || !wechat.IsQuota(err) {
		t.Fatalf("over the quota: %v, want 45009", err)
	}
	assertClean(t, err, tk, tok)
	e.srv.Fail("/cgi-bin/ticket/getticket", 1, wechattest.Fault{Body: `{"errcode":0,"errmsg":"ok"}`})
	if _, err := e.c.JSAPITicket(ctx); err == nil || !strings.Contains(err.Error(), "no ticket") {
		t.Errorf("a body without a ticket: %v", err)
	}
}

func TestForceRefreshBasicTokenReplacesTheCachedToken(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	ctx := context.Background()
	old, _ := e.c.BasicToken(ctx)
	forced, err := e.c.ForceRefreshBasicToken(ctx)
	if err != nil || forced == old {
		t.Fatalf("ForceRefreshBasicToken = %q, %v; want a new token", forced, err)
	}
	if cur, _ := e.c.BasicToken(ctx); cur != forced || e.srv.CallCount("/cgi-bin/stable_token") != 2 {
		t.Errorf("BasicToken after a force refresh = %q (%d calls), want the forced token from the cache", cur, e.srv.CallCount("/cgi-bin/stable_token"))
	}
	if n := e.srv.DailyCount(e.c.AppID(), "/cgi-bin/stable_token#force"); n != 1 {
		t.Errorf("force refreshes seen by WeChat = %d, want 1", n)
	}
	// Within 30 s WeChat answers with the current token, and so does the client.
	if again, _ := e.c.ForceRefreshBasicToken(ctx); again != forced {
		t.Error("a second force refresh within 30 s changed the token")
	}
	if _, err := e.c.Follower(ctx, e.srv.OpenID(e.c.AppID(), "alice"), ""); err != nil {
		t.Errorf("the forced token does not work: %v", err)
	}
}

func TestForceRefreshIsNotRetried(t *testing.T) {
	e := newEnv(t, wechat.Config{RetryBackoff: time.Millisecond})
	e.srv.Fail("/cgi-bin/stable_token", 1, wechattest.FaultBusy)
	if _, err := e.c.ForceRefreshBasicToken(context.Background()); !wechat.IsBusy(err) {
		t.Fatalf("err = %v, want -1", err)
	}
	if n := e.srv.CallCount("/cgi-bin/stable_token"); n != 1 {
		t.Errorf("stable_token calls = %d, want 1: each force refresh counts against 20 a day", n)
	}
}

func TestBasicTokenCallsRedactTheTokenWithoutBeingTold(t *testing.T) {
	e := newEnv(t, wechat.Config{MaxRetries: -1})
	ctx := context.Background()
	tok, _ := e.c.BasicToken(ctx)
	echo := `{"errcode":40003,"errmsg":"invalid openid for token ` + tok + ` secret ` + wechattest.DefaultAppSecret + `"}`
	var errs []error
	for _, p := range []string{"/cgi-bin/user/info", "/cgi-bin/menu/get", "/cgi-bin/menu/delete", "/cgi-bin/ticket/getticket"} {
		e.srv.Fail(p, 1, wechattest.Fault{Body: echo})
	}
	_, err := e.c.Follower(ctx, "oX", "")
	errs = append(errs, err)
	_, err = e.c.GetMenu(ctx)
	errs = append(errs, err, e.c.DeleteMenu(ctx))
	_, err = e.c.JSAPITicket(ctx)
	errs = append(errs, err)
	for _, err := range errs {
		if wechat.Code(err) != 40003 || !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("err = %v, want 40003 with the echo redacted", err)
		}
		assertClean(t, err, tok)
	}
}
