package wechat_test

import (
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

func TestWeComURLsFollowTheDocumentedOrder(t *testing.T) {
	c, err := wechat.NewWeCom(wechat.WeComConfig{CorpID: "ww0123456789abcdef", AgentID: "1000002", Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	got := c.AuthorizeURL("https://app.example.com:8443/cb?x=1", wechat.WeComScopePrivateInfo, "st")
	want := "https://open.weixin.qq.com/connect/oauth2/authorize?appid=ww0123456789abcdef" +
		"&redirect_uri=https%3A%2F%2Fapp.example.com%3A8443%2Fcb%3Fx%3D1&response_type=code&scope=snsapi_privateinfo" +
		"&state=st&agentid=1000002#wechat_redirect"
	if got != want {
		t.Fatalf("AuthorizeURL\n got %s\nwant %s", got, want)
	}
	got = c.LoginURL("https://app.example.com/cb", "st")
	want = "https://login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp&appid=ww0123456789abcdef" +
		"&agentid=1000002&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&state=st"
	if got != want {
		t.Fatalf("LoginURL\n got %s\nwant %s", got, want)
	}
}

func TestNewWeComNamesTheFieldToFix(t *testing.T) {
	for _, tc := range []struct {
		cfg  wechat.WeComConfig
		says string
	}{
		{wechat.WeComConfig{AgentID: "1", Secret: "s"}, "CorpID"},
		{wechat.WeComConfig{CorpID: "ww1", AgentID: "wx1", Secret: "s"}, "AgentID"},
		{wechat.WeComConfig{CorpID: "ww1", AgentID: "1"}, "Secret"},
		{wechat.WeComConfig{CorpID: "ww1", AgentID: "1", Secret: "s", LoginBase: "login.work.weixin.qq.com"}, "LoginBase"},
	} {
		_, err := wechat.NewWeCom(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("NewWeCom(%+v) = %v, want an error naming %s", tc.cfg, err, tc.says)
		}
	}
}

func TestWeComErrcodesGetWeComHints(t *testing.T) {
	e := &wechat.APIError{Op: "/cgi-bin/auth/getuserinfo", Code: 60020,
		Msg: "not allow to access from your ip, hint: [1690282230612130918224239], from ip: 222.65.121.207, more info at https://open.work.weixin.qq.com/devtool/query?e=60020"}
	if !strings.Contains(e.Hint(), "222.65.121.207") || !strings.Contains(e.Hint(), "企业可信IP") {
		t.Fatalf("60020 hint: %s", e.Hint())
	}
	if s := e.Error(); strings.Contains(s, "hint: [") {
		t.Fatalf("Error keeps the per-request tail: %s", s)
	}
	// The same number means something else on an Official Account path.
	oa := &wechat.APIError{Op: "/sns/oauth2/access_token", Code: 50001}
	wc := &wechat.APIError{Op: "/cgi-bin/auth/getuserinfo", Code: 50001}
	if oa.Hint() == wc.Hint() || !strings.Contains(wc.Hint(), "port included") {
		t.Fatalf("50001 hints: OA %q, WeCom %q", oa.Hint(), wc.Hint())
	}
}

func TestIsWeComConfigTellsSettingsFromTransientErrors(t *testing.T) {
	for _, tc := range []struct {
		op   string
		code int
		want bool
	}{
		{"/cgi-bin/gettoken", 40001, true},
		{"/cgi-bin/gettoken", 40013, true},
		{"/cgi-bin/auth/getuserinfo", 50001, true},
		{"/cgi-bin/auth/getuserinfo", 60020, true},
		{"/cgi-bin/auth/getuserinfo", 40029, false}, // the visitor's code, not a setting
		{"/cgi-bin/user/get", 42001, false},
		{"/cgi-bin/gettoken", -1, false},
		{"/sns/oauth2/access_token", 50001, false}, // an Official Account path
	} {
		if got := wechat.IsWeComConfig(&wechat.APIError{Op: tc.op, Code: tc.code}); got != tc.want {
			t.Errorf("IsWeComConfig(%s %d) = %v, want %v", tc.op, tc.code, got, tc.want)
		}
	}
}
