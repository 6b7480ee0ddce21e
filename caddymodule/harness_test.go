package wechatauth_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/wxgate/caddy-wechat-auth/caddymodule"
	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The integration tests run real Caddy in this process (caddy.Load with the
// admin endpoint off, so no fixed port), a real upstream and the simulator
// as a real server, all on 127.0.0.1, and walk the flow as a browser would.
// Caddy holds one running config per process, so these tests do not run in
// parallel with each other.

const (
	desktopUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
	testAppID = wechattest.DefaultAppID
)

var (
	testHashKey  = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	testBlockKey = base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
)

func init() {
	// Secrets reach Caddy the way the README says: {env.*} expanded at run time.
	os.Setenv("TEST_WECHAT_SECRET", wechattest.DefaultAppSecret)
	os.Setenv("TEST_HASH_KEY", testHashKey)
	os.Setenv("TEST_BLOCK_KEY", testBlockKey)
}

// upstream records what the protected app receives.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, r.Clone(r.Context()))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "upstream %s openid=%s", r.URL.RequestURI(), r.Header.Get("X-Wechat-Openid"))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func (u *upstream) last(t *testing.T) *http.Request {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// gateway is a running Caddy with wechat_auth in front of an upstream.
type gateway struct {
	URL     string // http://127.0.0.1:PORT
	sim     *wechattest.Server
	up      *upstream
	logFile string
	config  string // the Caddyfile loaded, for reload
}

type gatewayConfig struct {
	global   string // extra global options
	settings string // extra wechat_auth settings
	site     string // replaces the default site body (use %[1]s for the settings block, %[2]s for the upstream, %[3]s for this site's host:port)
	simOpts  []wechattest.Option
	sim      *wechattest.Server
	// secretEnv names the variable app_secret reads (default TEST_WECHAT_SECRET).
	secretEnv string
}

// startGateway loads a Caddyfile into the in-process Caddy.
func startGateway(t *testing.T, gc gatewayConfig) *gateway {
	t.Helper()
	g := &gateway{sim: gc.sim, up: newUpstream(t)}
	if g.sim == nil {
		g.sim = wechattest.NewServer(gc.simOpts...)
		t.Cleanup(g.sim.Close)
	}
	port := testnet.Port(t)
	g.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	g.logFile = filepath.Join(t.TempDir(), "caddy.log")
	if gc.secretEnv == "" {
		gc.secretEnv = "TEST_WECHAT_SECRET"
	}
	block := fmt.Sprintf(`wechat_auth {
		app_id %s
		app_secret {env.%s}
		session_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}
		api_base %s
		open_base %s
		%s
	}`, testAppID, gc.secretEnv, g.sim.URL, g.sim.URL, gc.settings)
	body := fmt.Sprintf("%s\n\treverse_proxy %s", block, strings.TrimPrefix(g.up.URL, "http://"))
	if gc.site != "" {
		body = fmt.Sprintf(gc.site, block, strings.TrimPrefix(g.up.URL, "http://"), fmt.Sprintf("127.0.0.1:%d", port))
	}
	cfg := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	log {
		output file %s
		level DEBUG
	}
	%s
}
http://127.0.0.1:%d {
	log {
		output file %s
		format filter {
			request>uri query {
				delete code
			}
		}
	}
	%s
}
`, g.logFile, gc.global, port, g.logFile+".access", body)
	g.config = cfg
	loadCaddyfile(t, cfg)
	waitListening(t, port)
	return g
}

// loadCaddyfile loads cfg into the in-process Caddy, failing the test if
// the adapter or Caddy refuses it; Caddy stops when the test ends.
func loadCaddyfile(t *testing.T, cfg string) {
	t.Helper()
	if err := tryCaddyfile(t, cfg); err != nil {
		t.Fatalf("%v\n%s", err, cfg)
	}
}

// tryCaddyfile adapts cfg as `caddy run` does (logging the adapter's
// warnings, formatting hints aside) and loads it into the in-process Caddy,
// which stops when the test ends; it returns what the adapter or Caddy
// refused, for tests of configurations that must not start.
func tryCaddyfile(t *testing.T, cfg string) error {
	t.Helper()
	adapted, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return fmt.Errorf("adapting the Caddyfile: %w", err)
	}
	for _, w := range warnings {
		if !strings.Contains(w.Message, "not formatted") {
			t.Logf("caddyfile warning: %s", w)
		}
	}
	if err := caddy.Load(adapted, true); err != nil {
		return fmt.Errorf("loading the config: %w", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return nil
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	for i := 0; i < 100; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d", port)
}

// browser is wechattest's WeChat in-app browser of one test user (cookie
// jar, User-Agent, the simulator's user and consent headers, Header on
// every request, StopAt), with the helpers these tests read responses by.
type browser struct {
	*wechattest.Browser
	// phone is the test user whose phone scans this desktop browser's QR
	// codes (loginFlow "desktop"); "" for a WeChat browser, whose user is
	// Browser.User.
	phone string
}

func newBrowser(user string) *browser {
	return &browser{Browser: wechattest.NewBrowser(user)}
}

// get fetches url and returns the final response and its body.
func (b *browser) get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	return b.do(t, http.MethodGet, u, nil)
}

func (b *browser) do(t *testing.T, method, u string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// cookie returns the value of a cookie the browser holds for u, or "".
func (b *browser) cookie(u, name string) string {
	pu, _ := url.Parse(u)
	for _, c := range b.Jar.Cookies(pu) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) cookieNames(u string) []string {
	pu, _ := url.Parse(u)
	var names []string
	for _, c := range b.Jar.Cookies(pu) {
		names = append(names, c.Name)
	}
	return names
}

// callbackURL starts a login at path and returns the callback URL WeChat
// sends the browser to (with code and state), without visiting it.
func (g *gateway) callbackURL(t *testing.T, b *browser, path string) string {
	t.Helper()
	saved := b.StopAt
	b.StopAt = "/wechat_auth/callback"
	defer func() { b.StopAt = saved }()
	resp, body := b.get(t, g.URL+path)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(loc, "/wechat_auth/callback?code=") {
		t.Fatalf("login at %s did not reach the callback: %d %q %.200s", path, resp.StatusCode, loc, body)
	}
	return loc
}

// login walks the whole flow for path and fails unless it ends at the upstream.
func (g *gateway) login(t *testing.T, b *browser, path string) *http.Request {
	t.Helper()
	before := g.up.count()
	resp, body := b.get(t, g.URL+path)
	if resp.StatusCode != http.StatusOK || g.up.count() != before+1 {
		t.Fatalf("login via %s ended with %d at %s, want the upstream: %.300s", path, resp.StatusCode, resp.Request.URL, body)
	}
	return g.up.last(t)
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not JSON: %v: %.300s", err, s)
	}
}
