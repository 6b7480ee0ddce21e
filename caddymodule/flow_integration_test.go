package wechatauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

const exchangePath = "/sns/oauth2/access_token"

func TestSilentLoginSendsOpenIDUpstreamAndKeepsPathAndQuery(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	b := newBrowser("alice")

	got := g.login(t, b, "/bind.php?from=menu&x=%E4%B8%AD")
	if got.URL.RequestURI() != "/bind.php?from=menu&x=%E4%B8%AD" {
		t.Errorf("upstream got %q, want the page the login started from", got.URL.RequestURI())
	}
	want := g.sim.OpenID(testAppID, "alice")
	if got.Header.Get("X-Wechat-Openid") != want || want == "" {
		t.Errorf("X-WeChat-OpenID = %q, want %q", got.Header.Get("X-Wechat-Openid"), want)
	}
	if got.Header.Get("X-Wechat-Scope") != "snsapi_base" {
		t.Errorf("X-WeChat-Scope = %q", got.Header.Get("X-Wechat-Scope"))
	}
	if c := got.Header.Get("Cookie"); strings.Contains(c, "wechat_session") {
		t.Errorf("our cookies reached the upstream: %q", c)
	}
	if n := g.sim.CallCount(exchangePath); n != 1 {
		t.Errorf("%d code exchanges, want 1", n)
	}

	// The session carries the next requests without WeChat.
	for i := 0; i < 3; i++ {
		resp, _ := b.get(t, g.URL+"/other")
		if resp.StatusCode != 200 || g.up.last(t).Header.Get("X-Wechat-Openid") != want {
			t.Fatalf("request %d with a session did not reach the upstream as alice", i)
		}
	}
	if n := g.sim.CallCount("/connect/oauth2/authorize"); n != 1 {
		t.Errorf("authorize page visited %d times, want 1", n)
	}
	sc := b.Jar.Cookies(mustURL(g.URL))
	if len(sc) == 0 {
		t.Fatal("no session cookie")
	}
}

func TestAuthorizeRedirectHasExactParameterOrderAndCallbackOnThisSite(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	b := newBrowser("alice")
	b.StopAt = "/connect/oauth2/authorize"
	resp, _ := b.get(t, g.URL+"/page")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302 to WeChat", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	prefix := g.sim.URL + "/connect/oauth2/authorize?appid=" + testAppID + "&redirect_uri=" + url.QueryEscape(g.URL+"/wechat_auth/callback") + "&response_type=code&scope=snsapi_base&state="
	if !strings.HasPrefix(loc, prefix) || !strings.HasSuffix(loc, "#wechat_redirect") {
		t.Fatalf("authorize URL\n %s\nwant prefix\n %s\nand suffix #wechat_redirect", loc, prefix)
	}
	state := strings.TrimSuffix(strings.TrimPrefix(loc, prefix), "#wechat_redirect")
	if len(state) != 32 || strings.Trim(state, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
		t.Errorf("state %q is not 32 alphanumerics", state)
	}
	var flow *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "wechat_session_flow_") {
			flow = c
		}
	}
	if flow == nil || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.MaxAge <= 0 || flow.MaxAge > 600 {
		t.Fatalf("flow cookie %+v: want HttpOnly, SameSite=Lax, short-lived", flow)
	}
}

func TestConsentLoginFetchesNicknameAvatarAndUnionID(t *testing.T) {
	g := startGateway(t, gatewayConfig{
		settings: "scope snsapi_userinfo",
		simOpts:  []wechattest.Option{wechattest.WithBoundApp(testAppID, wechattest.DefaultAppSecret, "open1")},
	})
	b := newBrowser("bob")
	got := g.login(t, b, "/profile")
	nick, err := url.PathUnescape(got.Header.Get("X-Wechat-Nickname"))
	if err != nil || nick != "李四 🐟" {
		t.Errorf("X-WeChat-Nickname = %q (decoded %q), want 李四 🐟 percent-encoded", got.Header.Get("X-Wechat-Nickname"), nick)
	}
	if got.Header.Get("X-Wechat-Scope") != "snsapi_userinfo" {
		t.Errorf("scope %q", got.Header.Get("X-Wechat-Scope"))
	}
	if got.Header.Get("X-Wechat-Unionid") == "" {
		t.Error("no X-WeChat-UnionID for an app bound to an Open Platform account")
	}
	if a := got.Header.Get("X-Wechat-Avatar"); !strings.HasPrefix(a, "http") {
		t.Errorf("X-WeChat-Avatar = %q", a)
	}
	if g.sim.CallCount("/sns/userinfo") != 1 {
		t.Errorf("userinfo called %d times", g.sim.CallCount("/sns/userinfo"))
	}
}

func TestDeclinedConsentShowsRetryPageAndNoSession(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "scope snsapi_userinfo"})
	b := newBrowser("bob")
	b.Consent = "deny"
	resp, body := b.get(t, g.URL+"/profile")
	if resp.StatusCode != 200 || !strings.Contains(body, "重新授权") || !strings.Contains(body, "/wechat_auth/login?rd=%2Fprofile") {
		t.Fatalf("declined: %d %.400s", resp.StatusCode, body)
	}
	if g.up.count() != 0 || b.cookie(g.URL, "wechat_session") != "" {
		t.Error("a declined visitor reached the upstream or got a session")
	}
	if g.sim.CallCount(exchangePath) != 0 {
		t.Error("a code was exchanged though there was none")
	}
	// Retrying with consent works.
	b.Consent = "allow"
	g.login(t, b, "/profile")
}

func TestSnapshotUserGetsExplanationAndNoIdentity(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "scope snsapi_userinfo"})
	b := newBrowser("snap")
	resp, body := b.get(t, g.URL+"/bind.php")
	if !strings.Contains(body, "使用完整服务") {
		t.Fatalf("snapshot page missing: %d %.300s", resp.StatusCode, body)
	}
	if g.up.count() != 0 || b.cookie(g.URL, "wechat_session") != "" {
		t.Error("a snapshot user reached the upstream or got a session")
	}
}

func TestAPIRequestGets401JSONWithLoginURL(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	b := newBrowser("alice")
	for _, hdr := range []http.Header{
		{"Accept": {"application/json"}},
		{"X-Requested-With": {"XMLHttpRequest"}},
	} {
		resp, body := b.do(t, http.MethodGet, g.URL+"/api/me?x=1", hdr)
		var j struct {
			Error    string `json:"error"`
			LoginURL string `json:"login_url"`
		}
		decodeJSON(t, body, &j)
		if resp.StatusCode != 401 || j.Error != "unauthenticated" || j.LoginURL != g.URL+"/wechat_auth/login?rd=%2Fapi%2Fme%3Fx%3D1" {
			t.Errorf("%v: %d %s", hdr, resp.StatusCode, body)
		}
	}
	if g.sim.CallCount("/connect/oauth2/authorize") != 0 {
		t.Error("an API request was redirected to WeChat")
	}
}

func TestNonWeChatPolicies(t *testing.T) {
	t.Run("page shows a QR code of the URL", func(t *testing.T) {
		g := startGateway(t, gatewayConfig{})
		b := newBrowser("alice")
		b.UserAgent = desktopUA
		resp, body := b.get(t, g.URL+"/bind.php?a=1")
		if resp.StatusCode != 403 || !strings.Contains(body, "请在微信中打开") || !strings.Contains(body, "<svg") || !strings.Contains(body, g.URL+"/bind.php?a=1") {
			t.Fatalf("%d %.500s", resp.StatusCode, body)
		}
		if g.up.count() != 0 {
			t.Error("upstream reached")
		}
	})
	t.Run("allow passes anonymously without forged identity", func(t *testing.T) {
		g := startGateway(t, gatewayConfig{settings: "non_wechat allow"})
		b := newBrowser("alice")
		b.UserAgent = desktopUA
		b.Header.Set("X-WeChat-OpenID", "forged")
		resp, _ := b.get(t, g.URL+"/public")
		if resp.StatusCode != 200 || g.up.last(t).Header.Get("X-Wechat-Openid") != "" {
			t.Fatalf("allow: %d openid=%q", resp.StatusCode, g.up.last(t).Header.Get("X-Wechat-Openid"))
		}
	})
	t.Run("deny answers 403", func(t *testing.T) {
		g := startGateway(t, gatewayConfig{settings: "non_wechat deny"})
		b := newBrowser("alice")
		b.UserAgent = desktopUA
		resp, body := b.get(t, g.URL+"/x")
		if resp.StatusCode != 403 || !strings.Contains(body, "微信") || g.up.count() != 0 {
			t.Fatalf("deny: %d %.200s", resp.StatusCode, body)
		}
	})
	t.Run("login authorizes a desktop browser", func(t *testing.T) {
		g := startGateway(t, gatewayConfig{settings: "non_wechat login", simOpts: []wechattest.Option{wechattest.WithAnyBrowser()}})
		b := newBrowser("carol")
		b.UserAgent = desktopUA
		got := g.login(t, b, "/x")
		if got.Header.Get("X-Wechat-Openid") != g.sim.OpenID(testAppID, "carol") {
			t.Error("desktop login did not carry carol's openid")
		}
	})
	t.Run("WeCom is not the WeChat client", func(t *testing.T) {
		g := startGateway(t, gatewayConfig{settings: "non_wechat deny"})
		b := newBrowser("alice")
		b.UserAgent = "Mozilla/5.0 (iPhone) wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh"
		resp, _ := b.get(t, g.URL+"/x")
		if resp.StatusCode != 403 {
			t.Fatalf("WeCom got %d, want 403", resp.StatusCode)
		}
	})
}

func TestSeveralTabsAuthorizingAtOnceAllSucceed(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	b := newBrowser("alice")
	var callbacks []string
	for i := 0; i < 3; i++ {
		callbacks = append(callbacks, g.callbackURL(t, b, "/tab"+string(rune('a'+i))))
	}
	var wg sync.WaitGroup
	paths := make([]string, 3)
	for i, cb := range callbacks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := b.Client.Get(cb)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			paths[i] = resp.Request.URL.Path
		}()
	}
	wg.Wait()
	for i, p := range paths {
		if want := "/tab" + string(rune('a'+i)); p != want {
			t.Errorf("tab %d ended at %q, want %q", i, p, want)
		}
	}
	if g.sim.CallCount(exchangePath) != 3 {
		t.Errorf("%d exchanges, want 3", g.sim.CallCount(exchangePath))
	}
}

func TestFlowCookiesAreCapped(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	b := newBrowser("alice")
	b.StopAt = "/connect/oauth2/authorize"
	for i := 0; i < 8; i++ {
		b.get(t, g.URL+"/p")
	}
	n := 0
	for _, name := range b.cookieNames(g.URL) {
		if strings.HasPrefix(name, "wechat_session_flow_") {
			n++
		}
	}
	if n == 0 || n > 4 {
		t.Fatalf("browser holds %d flow cookies, want 1..4", n)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
