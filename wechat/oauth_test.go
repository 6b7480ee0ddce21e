package wechat_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

const wechatUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323b) NetType/WIFI Language/zh_CN"

func TestAuthorizeURLHasWeChatsExactParameterOrder(t *testing.T) {
	c, err := wechat.New(wechat.Config{AppID: "wx0123456789abcdef", AppSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx0123456789abcdef&redirect_uri=https%3A%2F%2Fwww.example.com%2Fwechat_auth%2Fcallback%3Fa%3D1%26b%3D2&response_type=code&scope="
	for _, tc := range []struct {
		name  string
		scope string
		state string
		opts  wechat.AuthorizeOptions
		want  string
	}{
		{"base", wechat.ScopeBase, "abc123", wechat.AuthorizeOptions{}, prefix + "snsapi_base&state=abc123#wechat_redirect"},
		{"userinfo", wechat.ScopeUserInfo, "Z9", wechat.AuthorizeOptions{}, prefix + "snsapi_userinfo&state=Z9#wechat_redirect"},
		{"forcePopup", wechat.ScopeUserInfo, "s", wechat.AuthorizeOptions{ForcePopup: true}, prefix + "snsapi_userinfo&state=s&forcePopup=true#wechat_redirect"},
		{"forceSnapShot", wechat.ScopeUserInfo, "s", wechat.AuthorizeOptions{ForceSnapShot: true}, prefix + "snsapi_userinfo&state=s&forceSnapShot=true#wechat_redirect"},
		{"both", wechat.ScopeUserInfo, "s", wechat.AuthorizeOptions{ForcePopup: true, ForceSnapShot: true}, prefix + "snsapi_userinfo&state=s&forcePopup=true&forceSnapShot=true#wechat_redirect"},
		{"empty state", wechat.ScopeBase, "", wechat.AuthorizeOptions{}, prefix + "snsapi_base&state=#wechat_redirect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.AuthorizeURL("https://www.example.com/wechat_auth/callback?a=1&b=2", tc.scope, tc.state, tc.opts)
			if got != tc.want {
				t.Errorf("AuthorizeURL =\n %s\nwant\n %s", got, tc.want)
			}
		})
	}
}

// browser follows nothing: each test looks at the redirect WeChat answers.
func browser() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// authorize opens authURL as user in the WeChat client, auto-answering consent, and
// returns the callback URL WeChat redirects to.
func authorize(t *testing.T, authURL, user, consent string) *url.URL {
	t.Helper()
	req, _ := http.NewRequest("GET", authURL, nil)
	req.Header.Set("User-Agent", wechatUA)
	req.Header.Set(wechattest.UserHeader, user)
	if consent != "" {
		req.Header.Set(wechattest.ConsentHeader, consent)
	}
	resp, err := browser().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %d, want 302 (error %q)", resp.StatusCode, resp.Header.Get("X-WeChat-Mock-Error"))
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestFullFlowThroughAuthorizePageYieldsTheUsersOpenID(t *testing.T) {
	for _, scope := range []string{wechat.ScopeBase, wechat.ScopeUserInfo} {
		t.Run(scope, func(t *testing.T) {
			e := newEnv(t, wechat.Config{})
			authURL := e.c.AuthorizeURL("http://127.0.0.1:8443/wechat_auth/callback", scope, "st4te", wechat.AuthorizeOptions{})
			cb := authorize(t, authURL, "bob", "allow")
			if cb.Host != "127.0.0.1:8443" || cb.Path != "/wechat_auth/callback" || cb.Query().Get("state") != "st4te" {
				t.Fatalf("callback = %s", cb)
			}
			tok, err := e.c.ExchangeCode(context.Background(), cb.Query().Get("code"))
			if err != nil {
				t.Fatal(err)
			}
			if tok.OpenID != e.srv.OpenID(e.c.AppID(), "bob") || tok.Scope != scope || tok.ExpiresIn != 7200 || tok.Snapshot() {
				t.Errorf("token = %+v", tok)
			}
			if tok.AccessToken == "" || tok.RefreshToken == "" || len(tok.OpenID) != 28 {
				t.Errorf("token fields missing or openid not 28 chars: %+v", tok)
			}
		})
	}
}

func TestExchangeCodeErrors(t *testing.T) {
	type tc struct {
		name  string
		setup func(e *env) (*wechat.Client, string)
		code  int
		is    func(error) bool
	}
	other := func(e *env, secret string) *wechat.Client {
		c, _ := wechat.New(wechat.Config{AppID: "wxother", AppSecret: secret, APIBase: e.srv.URL, Now: e.clock.Now})
		return c
	}
	opts := []wechattest.Option{wechattest.WithApp(wechattest.DefaultAppID, wechattest.DefaultAppSecret), wechattest.WithApp("wxother", "othersecret")}
	for _, c := range []tc{
		{"reused code → 40163", func(e *env) (*wechat.Client, string) {
			code := e.srv.IssueCode(e.c.AppID(), "alice", wechat.ScopeBase)
			if _, err := e.c.ExchangeCode(context.Background(), code); err != nil {
				panic(err)
			}
			return e.c, code
		}, 40163, wechat.IsCodeUsed},
		{"expired after 5 minutes → 40029", func(e *env) (*wechat.Client, string) {
			code := e.srv.IssueCode(e.c.AppID(), "alice", wechat.ScopeBase)
			e.clock.Advance(5*time.Minute + time.Second)
			return e.c, code
		}, 40029, wechat.IsInvalidCode},
		{"unknown code → 40029", func(e *env) (*wechat.Client, string) { return e.c, "nosuchcode" }, 40029, wechat.IsInvalidCode},
		{"code of another app → 40029", func(e *env) (*wechat.Client, string) {
			return other(e, "othersecret"), e.srv.IssueCode(e.c.AppID(), "alice", wechat.ScopeBase)
		}, 40029, wechat.IsInvalidCode},
		{"wrong secret → 40125", func(e *env) (*wechat.Client, string) {
			c, _ := wechat.New(wechat.Config{AppID: wechattest.DefaultAppID, AppSecret: "wrong", APIBase: e.srv.URL})
			return c, e.srv.IssueCode(e.c.AppID(), "alice", wechat.ScopeBase)
		}, 40125, wechat.IsConfig},
		{"unknown appid → 40013", func(e *env) (*wechat.Client, string) {
			c, _ := wechat.New(wechat.Config{AppID: "wxnope", AppSecret: "x", APIBase: e.srv.URL})
			return c, "somecode"
		}, 40013, wechat.IsConfig},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, wechat.Config{}, opts...)
			client, code := c.setup(e)
			e.srv.ResetCalls()
			_, err := client.ExchangeCode(context.Background(), code)
			if wechat.Code(err) != c.code || !c.is(err) {
				t.Fatalf("err = %v, want errcode %d", err, c.code)
			}
			if got := e.srv.CallCount("/sns/oauth2/access_token"); got != 1 {
				t.Errorf("calls = %d, want 1", got)
			}
			assertClean(t, err, code, "othersecret")
		})
	}
}

func TestCodeStillValidJustBeforeFiveMinutes(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	code := e.srv.IssueCode(e.c.AppID(), "alice", wechat.ScopeBase)
	e.clock.Advance(5*time.Minute - time.Second)
	if _, err := e.c.ExchangeCode(context.Background(), code); err != nil {
		t.Fatalf("code at 4m59s: %v", err)
	}
}

func TestExchangeCodeRefusesAnEmptyCodeWithoutCallingWeChat(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	if _, err := e.c.ExchangeCode(context.Background(), ""); err == nil {
		t.Fatal("want an error")
	}
	if n := e.srv.CallCount("/sns/oauth2/access_token"); n != 0 {
		t.Errorf("calls = %d, want 0", n)
	}
}

func TestSnapshotIdentityIsVirtual(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	// forceSnapShot turns a real user into a snapshot identity.
	u := authorize(t, e.c.AuthorizeURL("http://localhost/cb", wechat.ScopeUserInfo, "s", wechat.AuthorizeOptions{ForceSnapShot: true}), "alice", "")
	tok, err := e.c.ExchangeCode(context.Background(), u.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Snapshot() || tok.IsSnapshotUser != 1 || tok.OpenID == e.srv.OpenID(e.c.AppID(), "alice") {
		t.Errorf("forceSnapShot token = %+v, want is_snapshotuser=1 and a virtual openid", tok)
	}
	info, err := e.c.UserInfo(context.Background(), tok.AccessToken, tok.OpenID, "")
	if err != nil || info.Nickname != "微信用户" {
		t.Errorf("snapshot userinfo = %+v, %v; want the virtual nickname 微信用户", info, err)
	}
	// A user configured as snapshot always is.
	snap := e.webToken(t, "snap", wechat.ScopeUserInfo)
	if !snap.Snapshot() {
		t.Errorf("snapshot user token = %+v", snap)
	}
	// Without it, a normal user is not.
	if tok := e.webToken(t, "alice", wechat.ScopeUserInfo); tok.Snapshot() {
		t.Errorf("normal token = %+v", tok)
	}
}

func TestOpenIDDiffersPerAppAndUnionIDIsSharedOnlyByBoundApps(t *testing.T) {
	e := newEnv(t, wechat.Config{AppID: "wxA", AppSecret: "secretA"},
		wechattest.WithBoundApp("wxA", "secretA", "op1"), wechattest.WithBoundApp("wxB", "secretB", "op1"),
		wechattest.WithApp("wxC", "secretC"))
	client := func(id, secret string) *wechat.Client {
		c, _ := wechat.New(wechat.Config{AppID: id, AppSecret: secret, APIBase: e.srv.URL})
		return c
	}
	tokens := map[string]*wechat.Token{}
	for _, a := range [][2]string{{"wxA", "secretA"}, {"wxB", "secretB"}, {"wxC", "secretC"}} {
		tok, err := client(a[0], a[1]).ExchangeCode(context.Background(), e.srv.IssueCode(a[0], "carol", wechat.ScopeUserInfo))
		if err != nil {
			t.Fatal(err)
		}
		tokens[a[0]] = tok
	}
	if tokens["wxA"].OpenID == tokens["wxB"].OpenID || tokens["wxA"].OpenID == tokens["wxC"].OpenID {
		t.Errorf("openids must differ between apps: %s %s %s", tokens["wxA"].OpenID, tokens["wxB"].OpenID, tokens["wxC"].OpenID)
	}
	if tokens["wxA"].UnionID == "" || tokens["wxA"].UnionID != tokens["wxB"].UnionID {
		t.Errorf("bound apps: unionids %q and %q, want equal and set", tokens["wxA"].UnionID, tokens["wxB"].UnionID)
	}
	if tokens["wxC"].UnionID != "" {
		t.Errorf("unbound app got unionid %q", tokens["wxC"].UnionID)
	}
	// Stable: the same user authorizing again gets the same openid.
	again, _ := client("wxA", "secretA").ExchangeCode(context.Background(), e.srv.IssueCode("wxA", "carol", wechat.ScopeBase))
	if again.OpenID != tokens["wxA"].OpenID || again.UnionID != "" {
		t.Errorf("second authorization: %+v; want the same openid and no unionid for snsapi_base", again)
	}
	info, err := client("wxA", "secretA").UserInfo(context.Background(), tokens["wxA"].AccessToken, tokens["wxA"].OpenID, "")
	if err != nil || info.UnionID != tokens["wxA"].UnionID {
		t.Errorf("userinfo unionid = %+v, %v", info, err)
	}
}

func TestRefreshToken(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	tok := e.webToken(t, "alice", wechat.ScopeUserInfo)
	e.clock.Advance(3 * time.Hour) // the access_token expired; refresh still works
	nt, err := e.c.RefreshToken(context.Background(), tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if nt.AccessToken == tok.AccessToken || nt.OpenID != tok.OpenID || nt.Scope != wechat.ScopeUserInfo || nt.ExpiresIn != 7200 {
		t.Errorf("refreshed = %+v", nt)
	}
	if _, err := e.c.UserInfo(context.Background(), nt.AccessToken, nt.OpenID, ""); err != nil {
		t.Errorf("refreshed token unusable: %v", err)
	}
	_, err = e.c.RefreshToken(context.Background(), "unknown-refresh")
	if wechat.Code(err) != 40030 {
		t.Errorf("unknown refresh_token: %v, want 40030", err)
	}
	e.clock.Advance(30 * 24 * time.Hour)
	_, err = e.c.RefreshToken(context.Background(), tok.RefreshToken)
	if wechat.Code(err) != 42002 {
		t.Errorf("after 30 days: %v, want 42002", err)
	}
	assertClean(t, err, tok.RefreshToken)
}

func TestWebTokenExpiresAfter7200Seconds(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	tok := e.webToken(t, "alice", wechat.ScopeUserInfo)
	ctx := context.Background()
	e.clock.Advance(7199 * time.Second)
	if err := e.c.CheckToken(ctx, tok.AccessToken, tok.OpenID); err != nil {
		t.Fatalf("sns/auth at 7199s: %v", err)
	}
	e.clock.Advance(time.Second)
	err := e.c.CheckToken(ctx, tok.AccessToken, tok.OpenID)
	if wechat.Code(err) != 42001 || !wechat.IsTokenInvalid(err) {
		t.Errorf("sns/auth at 7200s: %v, want 42001", err)
	}
	_, err = e.c.UserInfo(ctx, tok.AccessToken, tok.OpenID, "")
	if wechat.Code(err) != 42001 {
		t.Errorf("userinfo at 7200s: %v, want 42001", err)
	}
	assertClean(t, err, tok.AccessToken)
}

func TestCheckTokenErrors(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	tok := e.webToken(t, "alice", wechat.ScopeBase)
	for _, tc := range []struct {
		name, at, openid string
		code             int
	}{
		{"unknown token", "bogus", tok.OpenID, 40014},
		{"openid of someone else", tok.AccessToken, e.srv.OpenID(e.c.AppID(), "bob"), 40003},
	} {
		err := e.c.CheckToken(context.Background(), tc.at, tc.openid)
		if wechat.Code(err) != tc.code {
			t.Errorf("%s: %v, want %d", tc.name, err, tc.code)
		}
	}
}

func TestQRConnectURLKeepsWeChatsParameterOrder(t *testing.T) {
	c, err := wechat.New(wechat.Config{AppID: "wxweb", AppSecret: "s", OpenBase: "https://open.example"})
	if err != nil {
		t.Fatal(err)
	}
	got := c.QRConnectURL("https://a.example/cb?x=1", "St4te")
	want := "https://open.example/connect/qrconnect?appid=wxweb&redirect_uri=https%3A%2F%2Fa.example%2Fcb%3Fx%3D1&response_type=code&scope=snsapi_login&state=St4te#wechat_redirect"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
