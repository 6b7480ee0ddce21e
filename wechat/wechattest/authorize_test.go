package wechattest_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

const wechatUA = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Mobile Safari/537.36 MicroMessenger/8.0.44.2502(0x28002C51) WeChat/arm64 Weixin NetType/WIFI"

func newServer(t *testing.T, opts ...wechattest.Option) *wechattest.Server {
	t.Helper()
	srv := wechattest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

func noFollow() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get opens path on srv with headers h and returns the response and its body.
func get(t *testing.T, c *http.Client, rawURL string, h map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", rawURL, nil)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func authURL(base string, params string) string {
	return base + "/connect/oauth2/authorize?" + params + "#wechat_redirect"
}

const okParams = "appid=" + wechattest.DefaultAppID + "&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcb&response_type=code&scope=snsapi_base&state=abc"

func TestAuthorizeErrorPages(t *testing.T) {
	srv := newServer(t, wechattest.WithDomains("www.example.com", "localhost"))
	redir := url.QueryEscape("https://www.example.com/cb")
	for _, tc := range []struct {
		name   string
		params string
		code   string
		text   string
	}{
		{"appid empty", "appid=&redirect_uri=" + redir + "&response_type=code&scope=snsapi_base&state=a", "10012", "appid不能为空"},
		{"unknown appid", "appid=wxnope&redirect_uri=" + redir + "&response_type=code&scope=snsapi_base&state=a", "40013", "appid"},
		{"redirect_uri empty", "appid=" + wechattest.DefaultAppID + "&redirect_uri=&response_type=code&scope=snsapi_base&state=a", "10011", "redirect_uri不能为空"},
		{"scope empty", "appid=" + wechattest.DefaultAppID + "&redirect_uri=" + redir + "&response_type=code&scope=&state=a", "10010", "scope不能为空"},
		{"scope not allowed", "appid=" + wechattest.DefaultAppID + "&redirect_uri=" + redir + "&response_type=code&scope=snsapi_login&state=a", "10005", "scope"},
		{"state missing", "appid=" + wechattest.DefaultAppID + "&redirect_uri=" + redir + "&response_type=code&scope=snsapi_base", "10013", "state不能为空"},
		{"subdomain not registered", "appid=" + wechattest.DefaultAppID + "&redirect_uri=" + url.QueryEscape("https://pay.example.com/cb") + "&response_type=code&scope=snsapi_base&state=a", "10003", "redirect_uri域名与后台配置不一致"},
		{"parent domain not registered", "appid=" + wechattest.DefaultAppID + "&redirect_uri=" + url.QueryEscape("https://example.com/cb") + "&response_type=code&scope=snsapi_base&state=a", "10003", ""},
		{"127.0.0.1 not registered here", "appid=" + wechattest.DefaultAppID + "&redirect_uri=" + url.QueryEscape("http://127.0.0.1/cb") + "&response_type=code&scope=snsapi_base&state=a", "10003", ""},
		{"not http", "appid=" + wechattest.DefaultAppID + "&redirect_uri=" + url.QueryEscape("javascript://www.example.com/%0aalert(1)") + "&response_type=code&scope=snsapi_base&state=a", "10003", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, noFollow(), authURL(srv.URL, tc.params), map[string]string{"User-Agent": wechatUA, wechattest.UserHeader: "alice"})
			if resp.StatusCode != 200 || resp.Header.Get("X-WeChat-Mock-Error") != tc.code {
				t.Fatalf("status %d, error %q; want a 200 HTML error page with code %s", resp.StatusCode, resp.Header.Get("X-WeChat-Mock-Error"), tc.code)
			}
			if !strings.Contains(body, tc.code) || !strings.Contains(body, tc.text) || !strings.Contains(body, "<title>抱歉，出错了</title>") {
				t.Errorf("page does not show code %s / %q:\n%s", tc.code, tc.text, body)
			}
		})
	}
}

func TestAuthorizeOutsideWeChatShowsOpenInWeChatPage(t *testing.T) {
	srv := newServer(t)
	for _, ua := range []string{
		"Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36",
		"Mozilla/5.0 (iPhone) wxwork/4.1.20 MicroMessenger/7.0.1 Language/zh", // WeCom is not WeChat
	} {
		resp, body := get(t, noFollow(), authURL(srv.URL, okParams), map[string]string{"User-Agent": ua, wechattest.UserHeader: "alice"})
		if resp.StatusCode != 200 || !strings.Contains(body, "请在微信客户端打开链接") || !strings.Contains(body, "<title>抱歉，出错了</title>") {
			t.Errorf("UA %q: status %d, body %s", ua, resp.StatusCode, body)
		}
	}
	anyBrowser := newServer(t, wechattest.WithAnyBrowser())
	resp, _ := get(t, noFollow(), authURL(anyBrowser.URL, okParams), map[string]string{"User-Agent": "curl/8", wechattest.UserHeader: "alice"})
	if resp.StatusCode != http.StatusFound {
		t.Errorf("WithAnyBrowser: status %d, want 302", resp.StatusCode)
	}
}

func TestSnsapiBaseRedirectsAtOnceWithCodeBeforeFragment(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct {
		redirect string
		want     string // with CODE for the code
	}{
		{"http://localhost:8080/cb", "http://localhost:8080/cb?code=CODE&state=abc"},
		{"http://localhost/cb?x=1", "http://localhost/cb?x=1&code=CODE&state=abc"},
		{"http://localhost/app/#/orders?id=7", "http://localhost/app/?code=CODE&state=abc#/orders?id=7"},
		{"https://127.0.0.1:9443/?a=b#frag", "https://127.0.0.1:9443/?a=b&code=CODE&state=abc#frag"},
		{"http://LOCALHOST/cb", "http://LOCALHOST/cb?code=CODE&state=abc"},
	} {
		params := "appid=" + wechattest.DefaultAppID + "&redirect_uri=" + url.QueryEscape(tc.redirect) + "&response_type=code&scope=snsapi_base&state=abc"
		resp, _ := get(t, noFollow(), authURL(srv.URL, params), map[string]string{"User-Agent": wechatUA, wechattest.UserHeader: "alice"})
		loc := resp.Header.Get("Location")
		code := codeOf(t, loc)
		if resp.StatusCode != http.StatusFound || loc != strings.Replace(tc.want, "CODE", code, 1) {
			t.Errorf("redirect_uri %s: %d Location %q, want %q", tc.redirect, resp.StatusCode, loc, tc.want)
		}
	}
}

// codeOf extracts code= from a callback URL, fragment or not.
func codeOf(t *testing.T, loc string) string {
	t.Helper()
	base, _, _ := strings.Cut(loc, "#")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("code")
}

const userinfoParams = "appid=" + wechattest.DefaultAppID + "&redirect_uri=http%3A%2F%2Flocalhost%2Fcb%23%2Fhome&response_type=code&scope=snsapi_userinfo&state=xyz"

func TestSnsapiUserInfoConsentPageAllowAndDeny(t *testing.T) {
	srv := newServer(t)
	h := map[string]string{"User-Agent": wechatUA, wechattest.UserHeader: "bob"}
	resp, body := get(t, noFollow(), authURL(srv.URL, userinfoParams), h)
	if resp.StatusCode != 200 || !strings.Contains(body, "允许") || !strings.Contains(body, "拒绝") || !strings.Contains(body, "李四 🐟") {
		t.Fatalf("want the consent page, got %d:\n%s", resp.StatusCode, body)
	}
	ticket := between(body, `name="ticket" value="`, `"`)
	// Deny: state only, before the fragment.
	resp2, err := noFollow().PostForm(srv.URL+"/connect/oauth2/authorize/confirm", url.Values{"ticket": {ticket}, "action": {"deny"}})
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if loc := resp2.Header.Get("Location"); loc != "http://localhost/cb?state=xyz#/home" {
		t.Errorf("deny → %q, want state only", loc)
	}
	// A ticket is single-use.
	resp3, _ := noFollow().PostForm(srv.URL+"/connect/oauth2/authorize/confirm", url.Values{"ticket": {ticket}, "action": {"allow"}})
	resp3.Body.Close()
	if resp3.StatusCode == http.StatusFound {
		t.Errorf("a used consent ticket redirected again")
	}
	// Allow: code and state.
	_, body = get(t, noFollow(), authURL(srv.URL, userinfoParams), h)
	ticket = between(body, `name="ticket" value="`, `"`)
	resp4, _ := noFollow().PostForm(srv.URL+"/connect/oauth2/authorize/confirm", url.Values{"ticket": {ticket}, "action": {"allow"}})
	resp4.Body.Close()
	loc := resp4.Header.Get("Location")
	if !strings.HasPrefix(loc, "http://localhost/cb?code=") || !strings.HasSuffix(loc, "&state=xyz#/home") {
		t.Errorf("allow → %q", loc)
	}
	// Once allowed, WeChat stays silent, unless forcePopup=true.
	resp5, _ := get(t, noFollow(), authURL(srv.URL, userinfoParams), h)
	if resp5.StatusCode != http.StatusFound {
		t.Errorf("second snsapi_userinfo after consent: %d, want a silent 302", resp5.StatusCode)
	}
	resp6, body6 := get(t, noFollow(), authURL(srv.URL, userinfoParams+"&forcePopup=true"), h)
	if resp6.StatusCode != 200 || !strings.Contains(body6, "允许") {
		t.Errorf("forcePopup=true: %d, want the consent page again", resp6.StatusCode)
	}
}

func TestConsentHeaderAnswersTheConsentPage(t *testing.T) {
	srv := newServer(t)
	resp, _ := get(t, noFollow(), authURL(srv.URL, userinfoParams), map[string]string{"User-Agent": wechatUA, wechattest.UserHeader: "carol", wechattest.ConsentHeader: "deny"})
	if loc := resp.Header.Get("Location"); loc != "http://localhost/cb?state=xyz#/home" {
		t.Errorf("deny header → %q", loc)
	}
	resp, _ = get(t, noFollow(), authURL(srv.URL, userinfoParams), map[string]string{"User-Agent": wechatUA, wechattest.UserHeader: "carol", wechattest.ConsentHeader: "allow"})
	if codeOf(t, resp.Header.Get("Location")) == "" {
		t.Errorf("allow header → %q, want a code", resp.Header.Get("Location"))
	}
}

func TestUserPickerSetsTheIdentityCookie(t *testing.T) {
	srv := newServer(t)
	jar, _ := cookiejar.New(nil)
	c := noFollow()
	c.Jar = jar
	resp, _ := get(t, c, authURL(srv.URL, okParams), map[string]string{"User-Agent": wechatUA})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/mock/users?next=") {
		t.Fatalf("no user: %d → %q, want the picker", resp.StatusCode, loc)
	}
	_, page := get(t, c, srv.URL+loc, nil)
	for _, nick := range []string{"张三", "李四 🐟", "王五", "snap"} {
		if !strings.Contains(page, nick) {
			t.Errorf("picker lacks %q", nick)
		}
	}
	next, _ := url.Parse(loc)
	resp, err := c.PostForm(srv.URL+"/mock/users", url.Values{"user": {"carol"}, "next": {next.Query().Get("next")}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if !strings.HasPrefix(back, "/connect/oauth2/authorize?") {
		t.Fatalf("picker POST → %q, want back to authorize", back)
	}
	resp, _ = get(t, c, srv.URL+back, map[string]string{"User-Agent": wechatUA})
	if codeOf(t, resp.Header.Get("Location")) == "" {
		t.Fatalf("after picking: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The picker never redirects elsewhere than the authorize page.
	resp, _ = c.PostForm(srv.URL+"/mock/users", url.Values{"user": {"carol"}, "next": {"https://evil.example/"}})
	resp.Body.Close()
	if l := resp.Header.Get("Location"); l != "/mock/users" {
		t.Errorf("open redirect: %q", l)
	}
}

func TestUnknownMockUserIsRejected(t *testing.T) {
	srv := newServer(t)
	resp, body := get(t, noFollow(), authURL(srv.URL, okParams), map[string]string{"User-Agent": wechatUA, wechattest.UserHeader: "mallory"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "alice") {
		t.Errorf("unknown user: %d %s", resp.StatusCode, body)
	}
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}
