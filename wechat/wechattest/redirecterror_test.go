package wechattest_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// A 10003 page says in Chinese what is wrong and shows the redirect_uri the
// simulator received and the domains it checked it against.
func TestAuthorize10003PageShowsTheRedirectURIItReceived(t *testing.T) {
	srv := newServer(t, wechattest.WithDomains("www.example.com"))
	cb := "https://pay.example.com/wechat_auth/callback"
	resp, body := get(t, noFollow(), authURL(srv.URL, "appid="+wechattest.DefaultAppID+"&redirect_uri="+url.QueryEscape(cb)+"&response_type=code&scope=snsapi_base&state=a"),
		map[string]string{"User-Agent": wechatUA, wechattest.UserHeader: "alice"})
	if resp.Header.Get("X-WeChat-Mock-Error") != "10003" {
		t.Fatalf("error %q, want 10003", resp.Header.Get("X-WeChat-Mock-Error"))
	}
	for _, want := range []string{"收到的 redirect_uri", cb, "网页授权域名", "www.example.com", "--domain"} {
		if !strings.Contains(body, want) {
			t.Errorf("the 10003 page lacks %q:\n%s", want, body)
		}
	}
}
