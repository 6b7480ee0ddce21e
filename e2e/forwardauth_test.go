//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// startForwardAuthExample runs examples/caddy-forward-auth as two Caddy
// processes: the gateway (gateway.Caddyfile as is) on 127.0.0.1, and the
// front Caddy (Caddyfile, imported unchanged) serving the site as localhost,
// so the browser never talks to the gateway's host.
func startForwardAuthExample(t *testing.T, sim *wechattest.Server, upstream string) string {
	t.Helper()
	site, _ := startForwardAuthExampleFront(t, sim, upstream)
	return site
}

// startForwardAuthExampleFront is startForwardAuthExample that also returns
// the front Caddy's process, whose output holds its access log.
func startForwardAuthExampleFront(t *testing.T, sim *wechattest.Server, upstream string) (string, *process) {
	t.Helper()
	gwPort, sitePort := testnet.Port(t), testnet.Port(t)
	dir := filepath.Join(repoRoot, "examples", "caddy-forward-auth")
	startCaddy(t, "gateway", filepath.Join(dir, "gateway.Caddyfile"),
		gatewayEnv(t, sim, gwPort), fmt.Sprintf("http://127.0.0.1:%d/", gwPort))

	site := fmt.Sprintf("http://localhost:%d", sitePort)
	front := writeFile(t, t.TempDir(), "Caddyfile", fmt.Sprintf(`{
	admin off
	default_bind 127.0.0.1
}

import %s
`, filepath.Join(dir, "Caddyfile")))
	p := startCaddy(t, "front", front, []string{
		"SITE_ADDRESS=" + site,
		fmt.Sprintf("GATEWAY=127.0.0.1:%d", gwPort),
		"APP_UPSTREAM=" + strings.TrimPrefix(upstream, "http://"),
	}, fmt.Sprintf("http://127.0.0.1:%d/", sitePort))
	return site, p
}

func TestCaddyForwardAuthExampleLogsInThroughWeChatAndPassesIdentityToTheUpstream(t *testing.T) {
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	upstream := startEchoUpstream(t)
	site := startForwardAuthExample(t, sim, upstream.URL)
	aliceID := sim.OpenID(wechattest.DefaultAppID, "alice")

	// Not logged in: the gateway's 302 to WeChat reaches the browser, with a
	// redirect_uri on the site's host (from the trusted X-Forwarded-Host).
	b := wechattest.NewBrowser("alice")
	resp := b.Step(t, site+"/account?tab=1")
	loc := resp.Header.Get("Location")
	if resp.Status != http.StatusFound || !strings.HasPrefix(loc, sim.URL+"/connect/oauth2/authorize?") {
		t.Fatalf("first visit: %d Location %q, want 302 to the simulator", resp.Status, loc)
	}
	if want := "redirect_uri=" + strings.ReplaceAll(strings.ReplaceAll(site, ":", "%3A"), "/", "%2F") + "%2Fwechat_auth%2Fcallback"; !strings.Contains(loc, want) {
		t.Errorf("authorize URL %q lacks %q", loc, want)
	}

	p := b.Get(t, site+"/account?tab=1")
	e := parseEcho(t, b, p)
	if e.URI != "/account?tab=1" {
		t.Errorf("upstream saw %q, want the page the login started from", e.URI)
	}
	wantIdentity(t, e, aliceID)
	if got := e.values("X-WeChat-Scope"); len(got) != 1 || got[0] != "snsapi_base" {
		t.Errorf("upstream X-WeChat-Scope = %q, want [snsapi_base]", got)
	}
}

func TestCaddyForwardAuthExampleReplacesClientSentIdentityHeaders(t *testing.T) {
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	upstream := startEchoUpstream(t)
	site := startForwardAuthExample(t, sim, upstream.URL)
	aliceID, bobID := sim.OpenID(wechattest.DefaultAppID, "alice"), sim.OpenID(wechattest.DefaultAppID, "bob")

	b := wechattest.NewBrowser("alice")
	parseEcho(t, b, b.Get(t, site+"/"))
	req, _ := http.NewRequest(http.MethodGet, site+"/private", nil)
	for _, h := range forgedIdentityHeaders {
		req.Header[h] = []string{bobID}
	}
	e := parseEcho(t, b, b.Do(t, req))
	wantIdentity(t, e, aliceID)
	wantNoForged(t, e, bobID)
	for _, h := range []string{"X-WeChat-UnionID", "Remote-User"} {
		if got := e.values(h); len(got) != 0 {
			t.Errorf("upstream %s = %q, want none", h, got)
		}
	}
}
