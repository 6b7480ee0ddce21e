//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// gatewayEnv is the environment of a gateway Caddyfile from examples/.
func gatewayEnv(t *testing.T, sim *wechattest.Server, port int) []string {
	return append([]string{"CADDY_ADMIN=off", fmt.Sprintf("GATEWAY_PORT=%d", port)}, wechatEnv(t, sim)...)
}

// wechatEnv is what the example Caddyfiles read to sign in with the
// simulator's default app: its id and secret, new session keys, and the
// simulator as WeChat.
func wechatEnv(t *testing.T, sim *wechattest.Server) []string {
	return []string{
		"WECHAT_APP_ID=" + wechattest.DefaultAppID,
		"WECHAT_APP_SECRET=" + wechattest.DefaultAppSecret,
		"WECHAT_SESSION_HASH_KEY=" + randomKey(t, 32),
		"WECHAT_SESSION_BLOCK_KEY=" + randomKey(t, 32),
		"WECHAT_API_BASE=" + sim.URL,
		"WECHAT_OPEN_BASE=" + sim.URL,
	}
}

// replaceExactly swaps each old for its new in s, failing when an old string
// is not there exactly once: the example changed and this test must follow.
func replaceExactly(t *testing.T, s string, oldNew ...string) string {
	t.Helper()
	for i := 0; i < len(oldNew); i += 2 {
		if n := strings.Count(s, oldNew[i]); n != 1 {
			t.Fatalf("example has %q %d times, want once", oldNew[i], n)
		}
		s = strings.Replace(s, oldNew[i], oldNew[i+1], 1)
	}
	return s
}

// startNginxExample runs examples/nginx for real: the gateway Caddyfile as is,
// and nginx with the example server block (addresses swapped for test ports).
func startNginxExample(t *testing.T, sim *wechattest.Server, upstream string) string {
	t.Helper()
	site, _ := startNginxExampleLogs(t, sim, upstream)
	return site
}

// startNginxExampleLogs is startNginxExample that also returns the file of
// the example's access log (its wechat_nocode format).
func startNginxExampleLogs(t *testing.T, sim *wechattest.Server, upstream string) (site, accessLog string) {
	t.Helper()
	dir := t.TempDir()
	site = startNginxSite(t, sim, dir, "nginx.conf",
		"server 127.0.0.1:8080;", "server "+strings.TrimPrefix(upstream, "http://")+";",
		"/var/log/nginx/app.access.log", filepath.Join(dir, "app.access.log"))
	return site, filepath.Join(dir, "app.access.log")
}

// startNginxSite runs the nginx example's gateway (Caddyfile as is) and nginx
// with examples/nginx/<siteFile> and its two wechat-auth-*.conf includes,
// only the addresses, paths and oldNew pairs swapped for the test's.
func startNginxSite(t *testing.T, sim *wechattest.Server, dir, siteFile string, oldNew ...string) string {
	t.Helper()
	nginx := needTool(t, "nginx", "nginx", "/usr/sbin/nginx")
	gwPort, ngxPort := testnet.Port(t), testnet.Port(t)
	startCaddy(t, "gateway", filepath.Join(repoRoot, "examples", "nginx", "Caddyfile"),
		gatewayEnv(t, sim, gwPort), fmt.Sprintf("http://127.0.0.1:%d/", gwPort))

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "nginx", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	writeFile(t, dir, "wechat-auth-http.conf", replaceExactly(t, read("wechat-auth-http.conf"),
		"server 127.0.0.1:9091;", fmt.Sprintf("server 127.0.0.1:%d;", gwPort)))
	writeFile(t, dir, "wechat-auth-locations.conf", read("wechat-auth-locations.conf"))
	siteConf := replaceExactly(t, read(siteFile), append([]string{
		"include /etc/nginx/wechat-auth/wechat-auth-http.conf;", "include " + filepath.Join(dir, "wechat-auth-http.conf") + ";",
		"include /etc/nginx/wechat-auth/wechat-auth-locations.conf;", "include " + filepath.Join(dir, "wechat-auth-locations.conf") + ";",
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", ngxPort),
	}, oldNew...)...)
	writeFile(t, dir, "site.conf", siteConf)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must read this temp dir
	}
	errorLog := filepath.Join(dir, "error.log")
	conf := writeFile(t, dir, "nginx.conf", fmt.Sprintf(`%[2]s
daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	include %[1]s/site.conf;
}
`, dir, user))
	p := startProcess(t, "nginx", nil, nginx, []string{"-p", dir + "/", "-c", conf, "-e", errorLog},
		errorLog, filepath.Join(dir, "access.log"))
	url := fmt.Sprintf("http://127.0.0.1:%d", ngxPort)
	p.waitReady(t, "listening", httpUp(url+"/"))
	return url
}

func TestNginxAuthRequestExampleLogsInThroughWeChatAndPassesIdentityToTheUpstream(t *testing.T) {
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	upstream := startEchoUpstream(t)
	site := startNginxExample(t, sim, upstream.URL)
	aliceID := sim.OpenID(wechattest.DefaultAppID, "alice")

	b := wechattest.NewBrowser("alice")
	p := b.Get(t, site+"/orders/42?tab=phone&x=%E4%B8%AD")
	e := parseEcho(t, b, p)
	if e.URI != "/orders/42?tab=phone&x=%E4%B8%AD" {
		t.Errorf("upstream saw %q, want the page the login started from", e.URI)
	}
	wantIdentity(t, e, aliceID)
	if got := e.values("Remote-User"); len(got) != 1 || got[0] != aliceID {
		t.Errorf("upstream Remote-User = %q, want [%q]", got, aliceID)
	}
	if got := e.values("X-WeChat-Scope"); len(got) != 1 || got[0] != "snsapi_base" {
		t.Errorf("upstream X-WeChat-Scope = %q, want [snsapi_base]", got)
	}
	// The whole flow went through nginx's host: the simulator was asked to
	// call back to it, and the login started from the gateway's 401 Location.
	hops := b.HopsString()
	if !strings.Contains(hops, site+"/wechat_auth/login?") || !strings.Contains(hops, site+"/wechat_auth/callback?") {
		t.Errorf("flow did not go through nginx's /wechat_auth/login and /callback:\n  %s", hops)
	}

	// With the session, the next request goes straight to the upstream.
	resp := b.Step(t, site+"/again")
	if resp.Status != http.StatusOK || resp.Header.Get("X-Echo-Upstream") != "yes" {
		t.Fatalf("second request with a session: %d, want 200 from the upstream", resp.Status)
	}
}

func TestNginxAuthRequestExampleReplacesClientSentIdentityHeaders(t *testing.T) {
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	upstream := startEchoUpstream(t)
	site := startNginxExample(t, sim, upstream.URL)
	aliceID, bobID := sim.OpenID(wechattest.DefaultAppID, "alice"), sim.OpenID(wechattest.DefaultAppID, "bob")
	spoof := func(req *http.Request) {
		for _, h := range forgedIdentityHeaders {
			req.Header[h] = []string{bobID}
		}
	}

	// Without a session the spoofed request never reaches the upstream.
	req, _ := http.NewRequest(http.MethodGet, site+"/private", nil)
	spoof(req)
	req.Header.Set("User-Agent", wechatUA)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), site+"/wechat_auth/login?") {
		t.Fatalf("spoofed request without a session: %d Location %q, want 302 to the login", resp.StatusCode, resp.Header.Get("Location"))
	}

	// With alice's session the upstream sees alice, whatever the client sent.
	b := wechattest.NewBrowser("alice")
	parseEcho(t, b, b.Get(t, site+"/"))
	req, _ = http.NewRequest(http.MethodGet, site+"/private", nil)
	spoof(req)
	e := parseEcho(t, b, b.Do(t, req))
	wantIdentity(t, e, aliceID)
	if got := e.values("Remote-User"); len(got) != 1 || got[0] != aliceID {
		t.Errorf("upstream Remote-User = %q, want [%q]", got, aliceID)
	}
	// snsapi_base has no unionid: the client's copy is removed, not passed on.
	if got := e.values("X-WeChat-UnionID"); len(got) != 0 {
		t.Errorf("upstream X-WeChat-UnionID = %q, want none", got)
	}
	wantNoForged(t, e, bobID)
}

func TestNginxAuthRequestExampleLogoutEndsTheSession(t *testing.T) {
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	upstream := startEchoUpstream(t)
	site := startNginxExample(t, sim, upstream.URL)

	b := wechattest.NewBrowser("alice")
	parseEcho(t, b, b.Get(t, site+"/"))
	resp := b.Step(t, site+"/wechat_auth/logout?rd=/")
	if resp.Status/100 != 3 {
		t.Fatalf("logout: %d, want a redirect", resp.Status)
	}
	resp = b.Step(t, site+"/")
	if resp.Status != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), site+"/wechat_auth/login?") {
		t.Fatalf("after logout: %d Location %q, want 302 to the login", resp.Status, resp.Header.Get("Location"))
	}
}
