//go:build linux

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The forward-auth fronts as shipped (examples/nginx, examples/caddy-forward-auth)
// keep what their READMEs promise: the gateway's cookies never reach the app
// (all of them, and no empty Cookie header), the access log never holds
// WeChat's one-time code, and identity sent as a chunked trailer never
// becomes a request header of the app.

// front is one forward-auth example, running.
type front struct {
	name      string
	site      string
	accessLog func() string
}

func startFronts(t *testing.T, sim *wechattest.Server, upstream string) []front {
	ngxSite, ngxLog := startNginxExampleLogs(t, sim, upstream)
	caddySite, caddyFront := startForwardAuthExampleFront(t, sim, upstream)
	return []front{
		{name: "nginx", site: ngxSite, accessLog: func() string { b, _ := os.ReadFile(ngxLog); return string(b) }},
		{name: "caddy", site: caddySite, accessLog: caddyFront.out.String},
	}
}

// signedIn logs alice in through the front and returns her session cookie.
func signedIn(t *testing.T, f front) (*wechattest.Browser, string) {
	t.Helper()
	b := wechattest.NewBrowser("alice")
	parseEcho(t, b, b.Get(t, f.site+"/"))
	session := b.Cookie(f.site, "wechat_session")
	if session == "" {
		t.Fatalf("%s: no session cookie after the login: %v", f.name, b.CookieNames(f.site))
	}
	return b, session
}

func TestForwardAuthFrontsKeepEveryGatewayCookieFromTheApp(t *testing.T) {
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	upstream := startEchoUpstream(t)
	aliceID := sim.OpenID(wechattest.DefaultAppID, "alice")
	for _, f := range startFronts(t, sim, upstream.URL) {
		t.Run(f.name, func(t *testing.T) {
			_, session := signedIn(t, f)
			for _, tc := range []struct{ cookie, want string }{
				{"wechat_session=" + session, ""},
				{"a=1; wechat_session=" + session + "; wechat_session_flow_AAAA=x; b=2; wechat_session_flow_BBBB=y", "a=1; b=2"},
				{"wechat_session_flow_AAAA=x; wechat_session=" + session + "; wechat_session_flow_BBBB=y; wechat_session_flow_CCCC=z; wechat_session_flow_DDDD=w; c=3", "c=3"},
			} {
				req, _ := http.NewRequest(http.MethodGet, f.site+"/private", nil)
				req.Header.Set("Cookie", tc.cookie)
				req.Header.Set("User-Agent", wechatUA)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var e echoed
				decodeBody(t, resp, &e)
				wantIdentity(t, e, aliceID)
				got := e.values("Cookie")
				switch {
				case tc.want == "" && len(got) != 0:
					t.Errorf("Cookie %q: the app got Cookie %q, want no Cookie header at all", tc.cookie, got)
				case tc.want != "" && (len(got) != 1 || got[0] != tc.want):
					t.Errorf("Cookie %q: the app got Cookie %q, want [%q]", tc.cookie, got, tc.want)
				}
			}
		})
	}
}

func TestForwardAuthFrontsLogTheCallbackWithoutWeChatsCode(t *testing.T) {
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	upstream := startEchoUpstream(t)
	for _, f := range startFronts(t, sim, upstream.URL) {
		t.Run(f.name, func(t *testing.T) {
			b := wechattest.NewBrowser("alice")
			var code string
			b.StopAt = "/wechat_auth/callback"
			p := b.Get(t, f.site+"/orders")
			if loc, err := url.Parse(p.Header.Get("Location")); err == nil {
				code = loc.Query().Get("code")
			}
			if code == "" {
				t.Fatalf("no callback with a code: %d %s", p.Status, p.Header.Get("Location"))
			}
			b.StopAt = ""
			parseEcho(t, b, b.Get(t, p.Header.Get("Location")))
			var log string
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if log = f.accessLog(); strings.Contains(log, "/wechat_auth/callback") || time.Now().After(deadline) {
					break
				}
			}
			if !strings.Contains(log, "/wechat_auth/callback") {
				t.Fatalf("the access log has no callback line:\n%s", log)
			}
			if strings.Contains(log, code) {
				t.Errorf("the access log holds WeChat's code %s:\n%s", code, log)
			}
		})
	}
}

// A chunked request whose trailers carry identity: declared, undeclared after
// a declared one, and the _ spelling.
func sendIdentityTrailers(t *testing.T, site, cookie, forged string) echoed {
	t.Helper()
	u, _ := url.Parse(site)
	conn, err := net.Dial("tcp", strings.Replace(u.Host, "localhost", "127.0.0.1", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /private HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nCookie: wechat_session=%s\r\nContent-Type: text/plain\r\n"+
		"Transfer-Encoding: chunked\r\nTrailer: X-WeChat-OpenID\r\nConnection: close\r\n\r\n"+
		"5\r\nhello\r\n0\r\nX-WeChat-OpenID: %[4]s\r\nX-WeChat-UnionID: %[4]s\r\nX_WeChat_OpenID: %[4]s\r\nRemote-User: %[4]s\r\n\r\n",
		u.Host, wechatUA, cookie, forged)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	var e echoed
	decodeBody(t, resp, &e)
	return e
}

func TestForwardAuthFrontsNeverTurnIdentityTrailersIntoHeaders(t *testing.T) {
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	upstream := startEchoUpstream(t)
	aliceID, bobID := sim.OpenID(wechattest.DefaultAppID, "alice"), sim.OpenID(wechattest.DefaultAppID, "bob")
	for _, f := range startFronts(t, sim, upstream.URL) {
		t.Run(f.name, func(t *testing.T) {
			_, session := signedIn(t, f)
			e := sendIdentityTrailers(t, f.site, session, bobID)
			wantIdentity(t, e, aliceID)
			wantNoForged(t, e, bobID)
			switch f.name {
			case "nginx":
				// nginx reads the body itself and sends none of the trailers on.
				if len(e.Trailers) != 0 {
					t.Errorf("nginx passed trailers to the app: %v", e.Trailers)
				}
			case "caddy":
				// Caddy's reverse_proxy forwards request trailers and no
				// Caddyfile directive or matcher sees them: they reach the app
				// as trailers only (SECURITY.md, the example's README), which
				// an app must never read identity from.
				t.Logf("trailers the app received through the Caddy front: %v", e.Trailers)
			}
		})
	}
}

// decodeBody reads an echo upstream's JSON answer.
func decodeBody(t *testing.T, resp *http.Response, e *echoed) {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Echo-Upstream") != "yes" {
		t.Fatalf("did not reach the upstream: %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(e); err != nil {
		t.Fatal(err)
	}
}

// The example gateways have no host name in their site address: with one,
// Caddy answers another Host with an empty 200, which nginx's auth_request
// reads as "allowed". Shown here with the nginx example's gateway given a
// host name, then checked on every example gateway as shipped.
func TestForwardAuthGatewayExamplesAreHostLess(t *testing.T) {
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples", "nginx", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	port := testnet.Port(t)
	hosted := replaceExactly(t, string(src), "http://:{$GATEWAY_PORT:9091} {", "http://gateway.internal:{$GATEWAY_PORT:9091} {")
	startCaddy(t, "hosted-gateway", writeFile(t, t.TempDir(), "Caddyfile", hosted), gatewayEnv(t, sim, port), fmt.Sprintf("http://127.0.0.1:%d/", port))
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/wechat_auth/auth_request", port), nil)
	req.Host = "app.example.com"
	req.Header.Set("X-Original-URL", "http://app.example.com/private")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a gateway with a host name answered another host %d; this test shows the empty 200 it gives", resp.StatusCode)
	}

	addr := regexp.MustCompile(`(?m)^([^\s#{].*?)[ \t]*\{[ \t]*$`)
	for _, f := range []string{"examples/nginx/Caddyfile", "examples/caddy-forward-auth/gateway.Caddyfile"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		sites := addr.FindAllStringSubmatch(string(b), -1)
		if len(sites) == 0 {
			t.Fatalf("%s: no site address found", f)
		}
		for _, m := range sites {
			if a := strings.TrimSpace(m[1]); !strings.HasPrefix(a, "http://:") {
				t.Errorf("%s: site address %q has a host name: keep the gateway host-less", f, a)
			}
		}
	}
}
