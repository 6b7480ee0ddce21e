package wechatauth_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestCodeExchangeAnsweredWithARedirectIsNotFollowed: when api_base answers
// the code exchange with 302 or 307, the gateway does not follow it (the
// target, which would receive the secret, the code and a Referer carrying
// both, is never contacted), the visitor gets the configuration page, and
// the log says it was a redirect and which setting to fix, without the
// secret or the code.
func TestCodeExchangeAnsweredWithARedirectIsNotFollowed(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			sim := wechattest.NewServer()
			t.Cleanup(sim.Close)
			rd := wechattest.NewRedirecting(sim, status, exchangePath)
			t.Cleanup(rd.Close)
			g := startGateway(t, gatewayConfig{sim: &wechattest.Server{Simulator: sim.Simulator, URL: rd.URL}})
			b := newBrowser("alice")
			callback := g.callbackURL(t, b, "/page")
			code := mustURL(callback).Query().Get("code")
			resp, body := b.get(t, callback)
			if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "配置有误") || g.up.count() != 0 {
				t.Fatalf("after a redirected code exchange: %d at %s, want the configuration page: %.300s", resp.StatusCode, resp.Request.URL, body)
			}
			if reached := rd.Reached(); len(reached) != 0 {
				t.Fatalf("the gateway followed the redirect: %v", reached)
			}
			logs, _ := os.ReadFile(g.logFile)
			if !strings.Contains(string(logs), "redirect") || !strings.Contains(string(logs), "api_base") {
				t.Errorf("the log does not say the exchange was redirected and which setting to fix:\n%s", logs)
			}
			for _, secret := range []string{wechattest.DefaultAppSecret, code, rd.URL} {
				if strings.Contains(string(logs), secret) {
					t.Errorf("the log contains %q", secret)
				}
			}
		})
	}
}
