package wechat_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestWebTokenActionTable: the decision table of docs/wechat.md §1 for each
// answer a gateway keeping web tokens meets.
func TestWebTokenActionTable(t *testing.T) {
	api := func(op string, code int) error {
		return fmt.Errorf("wrapped: %w", &wechat.APIError{Op: op, Code: code})
	}
	const refresh, auth, userinfo = "/sns/oauth2/refresh_token", "/sns/auth", "/sns/userinfo"
	for _, tc := range []struct {
		err  error
		want wechat.WebTokenAction
	}{
		{nil, wechat.WebTokenValid},
		// Refused refreshes: the user must authorize again.
		{api(refresh, 40030), wechat.WebTokenReauthorize},
		{api(refresh, 42002), wechat.WebTokenReauthorize},
		{api(refresh, 42007), wechat.WebTokenReauthorize},
		{api(refresh, 40003), wechat.WebTokenReauthorize},
		{api(refresh, 40029), wechat.WebTokenReauthorize}, // the one code the official refresh page lists
		{api("/sns/oauth2/component/refresh_token", 40030), wechat.WebTokenReauthorize},
		{api(auth, 42007), wechat.WebTokenReauthorize}, // a password change voids both tokens
		{api(userinfo, 42007), wechat.WebTokenReauthorize},
		// The access_token did not do: the refresh decides.
		{api(auth, 42001), wechat.WebTokenRefresh},
		{api(auth, 40014), wechat.WebTokenRefresh},
		{api(auth, 40001), wechat.WebTokenRefresh},
		{api(auth, 40003), wechat.WebTokenRefresh},
		{api(userinfo, 40003), wechat.WebTokenRefresh},
		{api(userinfo, 48001), wechat.WebTokenRefresh},
		{api(userinfo, 99999), wechat.WebTokenRefresh},
		// No verdict on the tokens: keep them, try later.
		{api(refresh, -1), wechat.WebTokenRetryLater},
		{api(refresh, 45009), wechat.WebTokenRetryLater},
		{api(refresh, 45011), wechat.WebTokenRetryLater},
		{api(refresh, 40013), wechat.WebTokenRetryLater},
		{api(refresh, 40164), wechat.WebTokenRetryLater},
		{api(auth, -1), wechat.WebTokenRetryLater},
		{&wechat.RequestError{Op: refresh, Status: 502}, wechat.WebTokenRetryLater},
		{context.DeadlineExceeded, wechat.WebTokenRetryLater},
		{errors.New("anything else"), wechat.WebTokenRetryLater},
	} {
		if got := wechat.WebTokenActionOf(tc.err); got != tc.want {
			t.Errorf("WebTokenActionOf(%v) = %s, want %s", tc.err, got, tc.want)
		}
		if got := wechat.NeedsReauthorization(tc.err); got != (tc.want == wechat.WebTokenReauthorize) {
			t.Errorf("NeedsReauthorization(%v) = %v", tc.err, got)
		}
	}
}

// TestWebTokenActionsOfTheSimulatorsAnswers: the answers WeChat (the
// simulator) really gives along a token's life map to the right action.
func TestWebTokenActionsOfTheSimulatorsAnswers(t *testing.T) {
	e := newEnv(t, wechat.Config{MaxRetries: -1})
	ctx := context.Background()
	tok := e.webToken(t, "alice", wechat.ScopeUserInfo)

	e.clock.Advance(7300 * time.Second)
	if a := wechat.WebTokenActionOf(e.c.CheckToken(ctx, tok.AccessToken, tok.OpenID)); a != wechat.WebTokenRefresh {
		t.Errorf("sns/auth at 7300 s: %s, want refresh", a)
	}
	_, err := e.c.UserInfo(ctx, tok.AccessToken, tok.OpenID, "")
	if a := wechat.WebTokenActionOf(err); a != wechat.WebTokenRefresh {
		t.Errorf("sns/userinfo at 7300 s: %s, want refresh", a)
	}

	e.srv.Fail("/sns/oauth2/refresh_token", 1, wechattest.FaultBusy)
	_, err = e.c.RefreshToken(ctx, tok.RefreshToken)
	if a := wechat.WebTokenActionOf(err); a != wechat.WebTokenRetryLater {
		t.Errorf("refresh while WeChat is busy: %s, want retry later", a)
	}
	e.srv.Fail("/sns/oauth2/refresh_token", 1, wechattest.Fault{Status: http.StatusBadGateway})
	_, err = e.c.RefreshToken(ctx, tok.RefreshToken)
	if a := wechat.WebTokenActionOf(err); a != wechat.WebTokenRetryLater {
		t.Errorf("refresh answered 502: %s, want retry later", a)
	}

	e.clock.Advance(30 * 24 * time.Hour)
	_, err = e.c.RefreshToken(ctx, tok.RefreshToken)
	if wechat.Code(err) != 42002 || !wechat.NeedsReauthorization(err) {
		t.Errorf("refresh after 30 days: %v, want 42002 and reauthorize", err)
	}

	bob := e.webToken(t, "bob", wechat.ScopeUserInfo)
	e.srv.Withdraw(e.c.AppID(), "bob")
	if a := wechat.WebTokenActionOf(e.c.CheckToken(ctx, bob.AccessToken, bob.OpenID)); a != wechat.WebTokenRefresh {
		t.Errorf("sns/auth after a withdrawal: %s, want refresh", a)
	}
	_, err = e.c.RefreshToken(ctx, bob.RefreshToken)
	if !wechat.NeedsReauthorization(err) {
		t.Errorf("refresh after a withdrawal: %v, want reauthorize", err)
	}
}
