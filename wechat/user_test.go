package wechat_test

import (
	"context"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

func TestUserInfoReturnsTheProfileInWeChatsShape(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	tok := e.webToken(t, "bob", wechat.ScopeUserInfo)
	u, err := e.c.UserInfo(context.Background(), tok.AccessToken, tok.OpenID, "")
	if err != nil {
		t.Fatal(err)
	}
	if u.OpenID != tok.OpenID || u.Nickname != "李四 🐟" || u.Sex != 0 || u.Province != "" || u.Privilege == nil || u.HeadImgURL == "" {
		t.Errorf("userinfo = %+v", u)
	}
	if got := e.srv.Calls()[len(e.srv.Calls())-1].Query.Get("lang"); got != "zh_CN" {
		t.Errorf("lang sent = %q, want zh_CN by default", got)
	}
}

func TestUserInfoLanguages(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	tok := e.webToken(t, "alice", wechat.ScopeUserInfo)
	for lang, code := range map[string]int{"zh_CN": 0, "zh_TW": 0, "en": 0, "fr": 40097, "zh-cn": 40097} {
		_, err := e.c.UserInfo(context.Background(), tok.AccessToken, tok.OpenID, lang)
		if wechat.Code(err) != code || (code == 0 && err != nil) {
			t.Errorf("lang %q: err %v, want errcode %d", lang, err, code)
		}
	}
}

func TestUserInfoWithBaseTokenIs48001(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	tok := e.webToken(t, "alice", wechat.ScopeBase)
	_, err := e.c.UserInfo(context.Background(), tok.AccessToken, tok.OpenID, "")
	if wechat.Code(err) != 48001 {
		t.Fatalf("err = %v, want 48001", err)
	}
	if e.srv.CallCount("/sns/userinfo") != 1 {
		t.Errorf("48001 was retried")
	}
}

func TestUserInfoWithUnknownTokenIs40014(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	_, err := e.c.UserInfo(context.Background(), "not-a-token", "oX", "")
	if wechat.Code(err) != 40014 || !wechat.IsTokenInvalid(err) {
		t.Fatalf("err = %v, want 40014", err)
	}
}

func TestFollowerShapes(t *testing.T) {
	e := newEnv(t, wechat.Config{AppID: "wxA", AppSecret: "sA"}, wechattest.WithBoundApp("wxA", "sA", "op"),
		wechattest.WithUser(wechattest.User{Name: "f", Nickname: "粉丝", Subscribed: true}),
		wechattest.WithUser(wechattest.User{Name: "n", Nickname: "路人"}))
	ctx := context.Background()
	f, err := e.c.Follower(ctx, e.srv.OpenID("wxA", "f"), "")
	if err != nil {
		t.Fatal(err)
	}
	if !f.Subscribed() || f.Language != "zh_CN" || f.SubscribeTime == 0 || f.UnionID != e.srv.UnionID("wxA", "f") || f.TagIDList == nil || f.SubscribeScene == "" {
		t.Errorf("follower = %+v", f)
	}
	n, err := e.c.Follower(ctx, e.srv.OpenID("wxA", "n"), "en")
	if err != nil {
		t.Fatal(err)
	}
	if n.Subscribed() || n.OpenID != e.srv.OpenID("wxA", "n") || n.UnionID != "" || n.SubscribeTime != 0 || n.Language != "" {
		t.Errorf("non-follower = %+v", n)
	}
	e.srv.SetSubscribed("wxA", "n", true)
	if n, _ := e.c.Follower(ctx, e.srv.OpenID("wxA", "n"), ""); !n.Subscribed() || n.SubscribeTime != epoch.Unix() {
		t.Errorf("after SetSubscribed: %+v", n)
	}
	e.srv.SetSubscribed("wxA", "f", false)
	if f, _ := e.c.Follower(ctx, e.srv.OpenID("wxA", "f"), ""); f.Subscribed() {
		t.Errorf("after unsubscribe: %+v", f)
	}
	if _, err := e.c.Follower(ctx, "o_not_an_openid_of_this_app", ""); wechat.Code(err) != 40003 {
		t.Errorf("unknown openid: %v, want 40003", err)
	}
	if got := e.srv.CallCount("/cgi-bin/stable_token"); got != 1 {
		t.Errorf("stable_token calls = %d, want 1 (cached)", got)
	}
}

func TestFollowerRefetchesTheTokenOnceWhenWeChatRejectsIt(t *testing.T) {
	for _, code := range []int{40001, 40014, 42001} {
		e := newEnv(t, wechat.Config{})
		ctx := context.Background()
		if _, err := e.c.BasicToken(ctx); err != nil {
			t.Fatal(err)
		}
		e.srv.Fail("/cgi-bin/user/info", 1, wechattest.Fault{ErrCode: code})
		if _, err := e.c.Follower(ctx, e.srv.OpenID(e.c.AppID(), "alice"), ""); err != nil {
			t.Fatalf("errcode %d then success: %v", code, err)
		}
		if s, u := e.srv.CallCount("/cgi-bin/stable_token"), e.srv.CallCount("/cgi-bin/user/info"); s != 2 || u != 2 {
			t.Errorf("errcode %d: stable_token %d, user/info %d calls; want 2 and 2", code, s, u)
		}
	}
}

func TestFollowerGivesUpAfterOneRefetch(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	e.srv.Fail("/cgi-bin/user/info", 5, wechattest.Fault{ErrCode: 40001})
	_, err := e.c.Follower(context.Background(), e.srv.OpenID(e.c.AppID(), "alice"), "")
	if wechat.Code(err) != 40001 {
		t.Fatalf("err = %v, want 40001", err)
	}
	if s, u := e.srv.CallCount("/cgi-bin/stable_token"), e.srv.CallCount("/cgi-bin/user/info"); s != 2 || u != 2 {
		t.Errorf("stable_token %d, user/info %d calls; want exactly one refetch and one retry", s, u)
	}
	if n := e.srv.DailyCount(e.c.AppID(), "/cgi-bin/stable_token#force"); n != 0 {
		t.Errorf("the client force-refreshed %d times on 40001; it must refetch in normal mode only", n)
	}
}

func TestFollowerRecoversWhenAnotherProcessForceRefreshedTheToken(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	ctx := context.Background()
	old, _ := e.c.BasicToken(ctx)
	forceRefresh(t, e.srv.URL)
	if _, err := e.c.Follower(ctx, e.srv.OpenID(e.c.AppID(), "alice"), ""); err != nil {
		t.Fatalf("Follower with a force-refreshed token: %v", err)
	}
	if tok, _ := e.c.BasicToken(ctx); tok == old {
		t.Errorf("client still caches the invalidated token")
	}
}
