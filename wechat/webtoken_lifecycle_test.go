package wechat_test

import (
	"context"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The client against the simulator's web-token lifecycle (docs/wechat.md §1):
// refresh with and without rotation, a withdrawn authorization, a changed profile.

func TestRefreshTokenKeepsOrRotatesTheRefreshToken(t *testing.T) {
	for _, rotate := range []bool{false, true} {
		var opts []wechattest.Option
		if rotate {
			opts = append(opts, wechattest.WithRotatingRefreshTokens())
		}
		e := newEnv(t, wechat.Config{}, opts...)
		ctx := context.Background()
		tok := e.webToken(t, "alice", wechat.ScopeUserInfo)
		e.clock.Advance(7300 * time.Second)
		if err := e.c.CheckToken(ctx, tok.AccessToken, tok.OpenID); !wechat.IsTokenInvalid(err) {
			t.Fatalf("rotate=%v: sns/auth at 7300 s: %v, want an invalid token", rotate, err)
		}
		nt, err := e.c.RefreshToken(ctx, tok.RefreshToken)
		if err != nil {
			t.Fatalf("rotate=%v: %v", rotate, err)
		}
		if err := e.c.CheckToken(ctx, nt.AccessToken, nt.OpenID); err != nil {
			t.Errorf("rotate=%v: sns/auth with the refreshed token: %v", rotate, err)
		}
		if got := nt.RefreshToken != tok.RefreshToken; got != rotate {
			t.Errorf("rotate=%v: refresh_token changed: %v", rotate, got)
		}
		// The refresh_token the client got back always works; the old one only without rotation.
		if _, err := e.c.RefreshToken(ctx, nt.RefreshToken); err != nil {
			t.Errorf("rotate=%v: refresh with the answered refresh_token: %v", rotate, err)
		}
		_, err = e.c.RefreshToken(ctx, tok.RefreshToken)
		if rotate && wechat.Code(err) != 40030 {
			t.Errorf("rotated away refresh_token: %v, want 40030", err)
		} else if !rotate && err != nil {
			t.Errorf("same refresh_token refreshed twice: %v", err)
		}
	}
}

func TestWithdrawnAuthorizationFailsCheckUserInfoAndRefresh(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	ctx := context.Background()
	tok := e.webToken(t, "alice", wechat.ScopeUserInfo)
	e.srv.Withdraw(e.c.AppID(), "alice")
	err := e.c.CheckToken(ctx, tok.AccessToken, tok.OpenID)
	if wechat.Code(err) != 40003 {
		t.Errorf("sns/auth after withdrawal: %v, want 40003 (the simulator's choice)", err)
	}
	assertClean(t, err, tok.AccessToken)
	if _, err := e.c.UserInfo(ctx, tok.AccessToken, tok.OpenID, ""); wechat.Code(err) != 40003 {
		t.Errorf("sns/userinfo after withdrawal: %v, want 40003", err)
	}
	_, err = e.c.RefreshToken(ctx, tok.RefreshToken)
	if wechat.Code(err) != 40030 {
		t.Errorf("refresh after withdrawal: %v, want 40030", err)
	}
	assertClean(t, err, tok.RefreshToken)
}

func TestChangedProfileReachesUserInfoThroughARefreshedToken(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	ctx := context.Background()
	tok := e.webToken(t, "bob", wechat.ScopeUserInfo)
	e.clock.Advance(7 * 24 * time.Hour)
	e.srv.SetProfile("bob", "鲍勃", "https://thirdwx.qlogo.cn/mmopen/bob2/132")
	nt, err := e.c.RefreshToken(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.c.UserInfo(ctx, nt.AccessToken, nt.OpenID, "")
	if err != nil || info.Nickname != "鲍勃" || info.HeadImgURL != "https://thirdwx.qlogo.cn/mmopen/bob2/132" {
		t.Errorf("userinfo a week later = %+v, %v; want the changed profile", info, err)
	}
}
