package wechat_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestClientNeverFollowsARedirect: an API base answering 302 or 307 (which
// repeats a POST with its body) makes the call fail with ErrRedirect, the
// redirect's target is never contacted, and the error names neither the
// secret, the code nor the target's address.
func TestClientNeverFollowsARedirect(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv := wechattest.NewServer()
			t.Cleanup(srv.Close)
			rd := wechattest.NewRedirecting(srv, status, "/sns/oauth2/access_token", "/cgi-bin/stable_token")
			t.Cleanup(rd.Close)
			// A caller's own client that would follow redirects is not obeyed.
			follows := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
			for name, hc := range map[string]*http.Client{"private client": nil, "caller's client": follows} {
				c, err := wechat.New(wechat.Config{AppID: wechattest.DefaultAppID, AppSecret: wechattest.DefaultAppSecret,
					APIBase: rd.URL, HTTPClient: hc})
				if err != nil {
					t.Fatal(err)
				}
				code := srv.IssueCode(wechattest.DefaultAppID, "alice", wechat.ScopeBase)
				_, exchangeErr := c.ExchangeCode(context.Background(), code)
				_, tokenErr := c.BasicToken(context.Background())
				for call, err := range map[string]error{"code exchange": exchangeErr, "basic token": tokenErr} {
					var re *wechat.RequestError
					if !errors.Is(err, wechat.ErrRedirect) || !errors.As(err, &re) || re.Status != status {
						t.Fatalf("%s, %s: err = %v, want a RequestError with status %d wrapping ErrRedirect", name, call, err, status)
					}
					if !strings.Contains(err.Error(), "redirect") || !strings.Contains(err.Error(), "api_base") {
						t.Errorf("%s, %s: %q does not say it was a redirect and what to check", name, call, err)
					}
					assertClean(t, err, code, rd.URL, "127.0.0.1", "?")
				}
				if got := srv.CallCount("/sns/oauth2/access_token"); got != 0 {
					t.Errorf("%s: the simulator saw %d exchanges through the redirect", name, got)
				}
			}
			if reached := rd.Reached(); len(reached) != 0 {
				t.Fatalf("the redirect's target was contacted: %v", reached)
			}
		})
	}
}

// TestWeComClientErrorsNameWeCom: the errors that send the operator to
// api_base name the service the client calls and its real base, so a WeCom
// site's operator is not told to point api_base at WeChat's API.
func TestWeComClientErrorsNameWeCom(t *testing.T) {
	srv := wechattest.NewServer(wechattest.WithCorp(wechattest.DefaultCorp("")))
	t.Cleanup(srv.Close)
	rd := wechattest.NewRedirecting(srv, http.StatusFound, "/cgi-bin/gettoken")
	t.Cleanup(rd.Close)
	w, err := wechat.NewWeCom(wechat.WeComConfig{CorpID: wechattest.DefaultCorpID, AgentID: "1000002",
		Secret: wechattest.DefaultAgentSecret, APIBase: rd.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Token(context.Background())
	if !errors.Is(err, wechat.ErrRedirect) {
		t.Fatalf("Token through a redirect: %v, want ErrRedirect", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "api_base") || !strings.Contains(msg, "WeCom") || !strings.Contains(msg, wechat.DefaultWeComAPIBase) {
		t.Errorf("%q does not send the operator to api_base and WeCom's API (%s)", msg, wechat.DefaultWeComAPIBase)
	}
	if strings.Contains(msg, wechat.DefaultAPIBase) || strings.Contains(msg, "WeChat") {
		t.Errorf("%q names WeChat's API on a WeCom client", msg)
	}
	assertClean(t, err, wechattest.DefaultAgentSecret, rd.URL, "127.0.0.1", "?")
}
