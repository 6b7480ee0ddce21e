package wechattest_test

import (
	"net/url"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestCallbackDomainRules is WeChat's redirect_uri check (docs/wechat.md §1):
// exact host, no port on real host names (even :443), under a path setting,
// the registered scheme (10039 otherwise); loopback hosts ignore the port.
func TestCallbackDomainRules(t *testing.T) {
	srv := newServer(t, wechattest.WithDomains("wx.example.com", "https://secure.example.com",
		"mp.example.com/app", "http://legacy.example.com", "localhost", "127.0.0.1", "[::1]"))
	for _, tc := range []struct {
		redirect string
		code     string // "" accepted
	}{
		{"https://wx.example.com/wechat_auth/callback", ""},
		{"http://wx.example.com/cb", ""},
		{"https://WX.Example.COM/cb", ""},
		{"https://wx.example.com:443/cb", "10003"},
		{"http://wx.example.com:80/cb", "10003"},
		{"https://wx.example.com:8443/cb", "10003"},
		{"https://wx.example.com:/cb", "10003"},
		{"https://pay.wx.example.com/cb", "10003"},
		{"https://example.com/cb", "10003"},
		{"https://wx.example.com.evil.example/cb", "10003"},
		{"https://wx.example.com./cb", "10003"},
		{"https://wx.example.com@evil.example/cb", "10003"},
		{"https://evil.example@wx.example.com/cb", "10003"},
		{"javascript://wx.example.com/%0aalert(1)", "10003"},
		{"https://203.0.113.7/cb", "10003"},
		{"https://secure.example.com/cb", ""},
		{"http://secure.example.com/cb", "10039"},
		{"http://secure.example.com:80/cb", "10003"},
		{"http://legacy.example.com/cb", ""},
		{"https://legacy.example.com/cb", "10039"},
		{"https://mp.example.com/app", ""},
		{"https://mp.example.com/app/wechat_auth/callback?x=1#/home", ""},
		{"https://mp.example.com/application", "10003"},
		{"https://mp.example.com/", "10003"},
		{"https://mp.example.com/other/app", "10003"},
		{"http://127.0.0.1:8080/cb", ""},
		{"http://127.0.0.1/cb", ""},
		{"https://localhost:9443/cb", ""},
		{"http://[::1]:9000/cb", ""},
		{"http://127.0.0.2:8080/cb", "10003"},
	} {
		params := "appid=" + app + "&redirect_uri=" + url.QueryEscape(tc.redirect) + "&response_type=code&scope=snsapi_base&state=s"
		resp, _ := get(t, noFollow(), authURL(srv.URL, params), map[string]string{"User-Agent": wechatUA, wechattest.UserHeader: "alice"})
		got := resp.Header.Get("X-WeChat-Mock-Error")
		if got != tc.code || (tc.code == "" && codeOf(t, resp.Header.Get("Location")) == "") {
			t.Errorf("redirect_uri %s: error %q (status %d), want %q", tc.redirect, got, resp.StatusCode, tc.code)
		}
	}
}

func TestParseDomainTakesWhatTheConsoleTakes(t *testing.T) {
	for in, want := range map[string]string{
		"wx.example.com":             "wx.example.com",
		"WX.Example.com":             "wx.example.com",
		"wx.example.com/mp":          "wx.example.com/mp",
		"wx.example.com/mp/":         "wx.example.com/mp",
		"https://wx.example.com":     "https://wx.example.com",
		"HTTP://wx.example.com/a/b":  "http://wx.example.com/a/b",
		"127.0.0.1":                  "127.0.0.1",
		"[::1]":                      "[::1]",
		"localhost":                  "localhost",
		"xn--fiq228c.example.com/mp": "xn--fiq228c.example.com/mp",
	} {
		d, err := wechattest.ParseDomain(in)
		if err != nil || d.String() != want {
			t.Errorf("ParseDomain(%q) = %q, %v; want %q", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "wx.example.com:443", "203.0.113.7", "ftp://wx.example.com", "wx_example.com",
		"-wx.example.com", "wx..example.com", "com", "wx.example.com/a?b", "https://", "wx.example.com/%2e"} {
		if d, err := wechattest.ParseDomain(bad); err == nil {
			t.Errorf("ParseDomain(%q) = %q, want an error", bad, d)
		}
	}
}

func TestWithDomainsPanicsOnASettingTheConsoleRefuses(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("WithDomains accepted a port")
		}
	}()
	wechattest.New(wechattest.WithDomains("wx.example.com:8443"))
}

// TestAuthorizeAcceptsTheParameterOrdersSDKsSend: WeChat documents one order,
// but SDKs that put connect_redirect first or scope before response_type work.
func TestAuthorizeAcceptsTheParameterOrdersSDKsSend(t *testing.T) {
	srv := newServer(t)
	redir := url.QueryEscape("http://localhost:8080/cb")
	for _, params := range []string{
		"appid=" + app + "&redirect_uri=" + redir + "&response_type=code&scope=snsapi_base&state=abc",
		"connect_redirect=1&appid=" + app + "&redirect_uri=" + redir + "&response_type=code&scope=snsapi_base&state=abc",
		"appid=" + app + "&redirect_uri=" + redir + "&scope=snsapi_base&response_type=code&state=abc",
		"appid=" + app + "&redirect_uri=" + redir + "&response_type=code&scope=snsapi_base&state=abc&connect_redirect=1&forcePopup=true",
	} {
		resp, _ := get(t, noFollow(), authURL(srv.URL, params), map[string]string{"User-Agent": wechatUA, wechattest.UserHeader: "alice"})
		if codeOf(t, resp.Header.Get("Location")) == "" {
			t.Errorf("%s: %d %q, want a code", params, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}
