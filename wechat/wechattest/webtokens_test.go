package wechattest_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// webTokens exchanges a fresh code of user for the web tokens over HTTP.
func webTokens(t *testing.T, srv *wechattest.Server, user, scope string) (at, rt, openID string) {
	t.Helper()
	m := call(t, "GET", srv.URL+"/sns/oauth2/access_token?appid="+app+"&secret="+secret+"&code="+
		srv.IssueCode(app, user, scope)+"&grant_type=authorization_code", "")
	return m["access_token"].(string), m["refresh_token"].(string), m["openid"].(string)
}

func refresh(t *testing.T, srv *wechattest.Server, rt string) map[string]any {
	t.Helper()
	return call(t, "GET", srv.URL+"/sns/oauth2/refresh_token?appid="+app+"&grant_type=refresh_token&refresh_token="+url.QueryEscape(rt), "")
}

func snsAuth(t *testing.T, srv *wechattest.Server, at, openID string) int {
	t.Helper()
	return errcode(call(t, "GET", srv.URL+"/sns/auth?access_token="+url.QueryEscape(at)+"&openid="+openID, ""))
}

func userInfo(t *testing.T, srv *wechattest.Server, at, openID string) map[string]any {
	t.Helper()
	return call(t, "GET", srv.URL+"/sns/userinfo?access_token="+url.QueryEscape(at)+"&openid="+openID+"&lang=zh_CN", "")
}

func TestWebTokenLifetimesOnTheFakeClock(t *testing.T) {
	clock := wechattest.NewClock(time.Date(2025, 1, 1, 2, 0, 0, 0, time.UTC))
	srv := newServer(t, wechattest.WithClock(clock))
	at, rt, openID := webTokens(t, srv, "alice", "snsapi_userinfo")
	if got := snsAuth(t, srv, at, openID); got != 0 {
		t.Fatalf("fresh token: sns/auth errcode %d", got)
	}
	if got := snsAuth(t, srv, "unknown", openID); got != 40014 {
		t.Errorf("unknown token: sns/auth errcode %d, want 40014", got)
	}
	if got := snsAuth(t, srv, at, srv.OpenID(app, "bob")); got != 40003 {
		t.Errorf("someone else's openid: sns/auth errcode %d, want 40003", got)
	}
	clock.Advance(7199 * time.Second)
	if got := snsAuth(t, srv, at, openID); got != 0 {
		t.Errorf("at 7199 s: sns/auth errcode %d, want 0", got)
	}
	clock.Advance(time.Second)
	if got := snsAuth(t, srv, at, openID); got != 42001 {
		t.Errorf("at 7200 s: sns/auth errcode %d, want 42001", got)
	}
	if got := errcode(userInfo(t, srv, at, openID)); got != 42001 {
		t.Errorf("at 7200 s: sns/userinfo errcode %d, want 42001", got)
	}
	m := refresh(t, srv, rt)
	fresh := m["access_token"].(string)
	if fresh == at || m["refresh_token"] != rt || m["openid"] != openID || m["expires_in"] != 7200.0 {
		t.Fatalf("refresh answered %v; want a new access_token, the same refresh_token and openid, expires_in 7200", m)
	}
	if got := userInfo(t, srv, fresh, openID); got["nickname"] != "张三" {
		t.Errorf("sns/userinfo with the refreshed token: %v", got)
	}
	// 30 days count from the authorization; refreshing does not extend them.
	clock.Advance(30*24*time.Hour - 7201*time.Second)
	if got := errcode(refresh(t, srv, rt)); got != 0 {
		t.Errorf("refresh 1 s before day 30: errcode %d", got)
	}
	clock.Advance(time.Second)
	if got := errcode(refresh(t, srv, rt)); got != 42002 {
		t.Errorf("refresh at day 30: errcode %d, want 42002", got)
	}
}

func TestRotatingRefreshTokensKeepTheAuthorizationsExpiry(t *testing.T) {
	clock := wechattest.NewClock(time.Date(2025, 1, 1, 2, 0, 0, 0, time.UTC))
	srv := newServer(t, wechattest.WithClock(clock), wechattest.WithRotatingRefreshTokens())
	_, rt, _ := webTokens(t, srv, "alice", "snsapi_base")
	clock.Advance(10 * 24 * time.Hour)
	next := refresh(t, srv, rt)["refresh_token"].(string)
	if next == rt {
		t.Fatal("WithRotatingRefreshTokens: refresh answered the same refresh_token")
	}
	if got := errcode(refresh(t, srv, rt)); got != 40030 {
		t.Errorf("the replaced refresh_token: errcode %d, want 40030", got)
	}
	clock.Advance(20*24*time.Hour - time.Second)
	last := refresh(t, srv, next)["refresh_token"].(string)
	clock.Advance(time.Second)
	if got := errcode(refresh(t, srv, last)); got != 42002 {
		t.Errorf("rotated refresh_token at day 30 of the authorization: errcode %d, want 42002", got)
	}
}

func TestWithdrawnAuthorization(t *testing.T) {
	srv := newServer(t)
	at, rt, openID := webTokens(t, srv, "alice", "snsapi_userinfo")
	bobAT, bobRT, bobID := webTokens(t, srv, "bob", "snsapi_userinfo")
	srv.Withdraw(app, "alice")
	if got := snsAuth(t, srv, at, openID); got != 40003 {
		t.Errorf("withdrawn: sns/auth errcode %d, want 40003", got)
	}
	if got := errcode(userInfo(t, srv, at, openID)); got != 40003 {
		t.Errorf("withdrawn: sns/userinfo errcode %d, want 40003", got)
	}
	if got := errcode(refresh(t, srv, rt)); got != 40030 {
		t.Errorf("withdrawn: refresh errcode %d, want 40030", got)
	}
	if snsAuth(t, srv, bobAT, bobID) != 0 || errcode(refresh(t, srv, bobRT)) != 0 {
		t.Error("alice's withdrawal touched bob's tokens")
	}
	// A new authorization works again.
	at, _, _ = webTokens(t, srv, "alice", "snsapi_userinfo")
	if got := snsAuth(t, srv, at, openID); got != 0 {
		t.Errorf("after authorizing again: sns/auth errcode %d", got)
	}
}

func TestSetProfileReachesUserInfo(t *testing.T) {
	srv := newServer(t)
	at, _, openID := webTokens(t, srv, "alice", "snsapi_userinfo")
	srv.SetProfile("alice", "新名字 🌱", "https://thirdwx.qlogo.cn/mmopen/new/132")
	got := userInfo(t, srv, at, openID)
	if got["nickname"] != "新名字 🌱" || got["headimgurl"] != "https://thirdwx.qlogo.cn/mmopen/new/132" {
		t.Errorf("sns/userinfo after SetProfile: %v", got)
	}
	srv.SetProfile("alice", "再改", "")
	if got := userInfo(t, srv, at, openID)["headimgurl"].(string); !strings.Contains(got, "/mock/avatar/alice/132") {
		t.Errorf("avatar after SetProfile with none: %q, want the drawn one", got)
	}
}

func TestFollowerFromMenuGetsUserinfoSilently(t *testing.T) {
	srv := newServer(t)
	u := authURL(srv.URL, strings.Replace(okParams, "snsapi_base", "snsapi_userinfo", 1)+"&forcePopup=true")
	for _, tc := range []struct {
		user, entry string
		silent      bool
	}{
		{"alice", "menu", true}, // follows
		{"alice", "chat", true}, // follows
		{"alice", "", false},    // a shared link
		{"alice", "other", false},
		{"bob", "menu", false}, // does not follow
	} {
		b := wechattest.NewBrowser(tc.user)
		b.Consent, b.Entry, b.StopAt = "", tc.entry, "localhost:8080/cb"
		p := b.Get(t, u)
		silent := strings.Contains(p.Location(), "code=")
		if silent != tc.silent {
			t.Errorf("%s from %q: silent %v, want %v (status %d, Location %q)", tc.user, tc.entry, silent, tc.silent, p.Status, p.Location())
		}
		if silent {
			code, _ := url.Parse(p.Location())
			m := call(t, "GET", srv.URL+"/sns/oauth2/access_token?appid="+app+"&secret="+secret+"&code="+code.Query().Get("code")+"&grant_type=authorization_code", "")
			if m["scope"] != "snsapi_userinfo" {
				t.Errorf("%s from %q: scope %v", tc.user, tc.entry, m["scope"])
			}
		}
	}
}
