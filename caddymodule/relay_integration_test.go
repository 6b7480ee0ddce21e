package wechatauth_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The relay tests run one Caddy with the relay (wx.example.test), two client
// sites (shop.example.test, m.example.test) and a client the relay does not
// serve (evil.example.test), all on one loopback port. The browser names the
// hosts without a port, as visitors do, and a dialer sends every *.test host
// to that port: the Host header, the redirect_uri and the cookies are what
// they would be on port 80, so the simulator's strict domain check (no port
// for real host names) applies, and the cookie jar keeps each host's cookies
// apart as a browser does.

const (
	relayHost = "wx.example.test"
	shopHost  = "shop.example.test"
	mHost     = "m.example.test"
	evilHost  = "evil.example.test"
)

type relayOptions struct {
	shopAddr    string // shop's site address, a format with the port's %d (default http://shop.example.test:%d)
	relayFor    string // extra relay_for entries
	relayPrefix string // the relay's path_prefix (default /wechat_auth)
	relayURL    string // what clients write after relay (default http://wx.example.test)
	simDomains  []string
	mSettings   string // extra settings of m.example.test
	global      string // extra global options
}

type relayEnv struct {
	port    int
	sim     *wechattest.Server
	relay   *upstream
	shop    *upstream
	m       *upstream
	evil    *upstream
	logFile string
	traffic *traffic
	prefix  string
}

func startRelayEnv(t *testing.T, o relayOptions) *relayEnv {
	t.Helper()
	if o.relayPrefix == "" {
		o.relayPrefix = "/wechat_auth"
	}
	if o.relayURL == "" {
		o.relayURL = "http://" + relayHost
	}
	if o.simDomains == nil {
		o.simDomains = []string{relayHost}
	}
	e := &relayEnv{
		port:    testnet.Port(t),
		sim:     wechattest.NewServer(wechattest.WithDomains(o.simDomains...)),
		relay:   newUpstream(t),
		shop:    newUpstream(t),
		m:       newUpstream(t),
		evil:    newUpstream(t),
		logFile: filepath.Join(t.TempDir(), "caddy.log"),
		traffic: &traffic{},
		prefix:  o.relayPrefix,
	}
	t.Cleanup(e.sim.Close)
	if o.shopAddr == "" {
		o.shopAddr = "http://" + shopHost + ":%d"
	}
	setRelayEnv(t)
	client := func(addr, host string, up *upstream, extra string) string {
		return fmt.Sprintf(`%s {
	log {
		output file %s
		format filter {
			request>uri query {
				delete hb
			}
		}
	}
	wechat_auth {
		app_id %s
		%s
		relay %s
		%s
		%s
	}
	reverse_proxy %s
}
`, fmt.Sprintf(addr, e.port), e.logFile+".access", testAppID, siteKeys(host), o.relayURL, relayKeyLine(host), extra, strings.TrimPrefix(up.URL, "http://"))
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
http://%s:%d {
	log {
		output file %s
		format filter {
			request>uri query {
				delete code
			}
		}
	}
	wechat_auth {
		app_id %s
		app_secret {env.TEST_WECHAT_SECRET}
		%s
		api_base %s
		open_base %s
		path_prefix %s
		relay_for %s %s %s
		relay_secret {env.TEST_RELAY_SECRET}
	}
	reverse_proxy %s
}
`, e.logFile, o.global, relayHost, e.port, e.logFile+".access", testAppID, siteKeys(relayHost), e.sim.URL, e.sim.URL, o.relayPrefix,
		shopHost, mHost, o.relayFor, strings.TrimPrefix(e.relay.URL, "http://"))
	cfg += client(o.shopAddr, shopHost, e.shop, "")
	cfg += client("http://"+mHost+":%d", mHost, e.m, "scope snsapi_userinfo\n\t\t"+o.mSettings)
	cfg += client("http://"+evilHost+":%d", evilHost, e.evil, "")
	loadCaddyfile(t, cfg)
	waitListening(t, e.port)
	return e
}

// testRelaySecret is the relay's relay_secret in these tests.
var testRelaySecret = base64.StdEncoding.EncodeToString([]byte("relay-secret-0123456789abcdefghij"))

// siteEnv turns a host into the part of an environment variable's name.
func siteEnv(host string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(host))
}

// setRelayEnv sets, as {env.*} placeholders read them, the relay's secret,
// each site's own session keys and each client's relay key (derived from
// the relay's secret for http://<host>, as caddy wechat-relay-key does).
func setRelayEnv(t *testing.T) {
	t.Helper()
	t.Setenv("TEST_RELAY_SECRET", testRelaySecret)
	for i, host := range []string{relayHost, shopHost, mHost, evilHost} {
		t.Setenv("TEST_"+siteEnv(host)+"_HASH_KEY", base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%032d", 10+i))))
		t.Setenv("TEST_"+siteEnv(host)+"_BLOCK_KEY", base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%032d", 20+i))))
		t.Setenv("TEST_"+siteEnv(host)+"_RELAY_KEY", relayKeyOf(t, "http://"+host))
	}
}

// relayKeyOf is the key the relay derives for a client origin.
func relayKeyOf(t *testing.T, client string) string {
	t.Helper()
	_, key, err := wechatauth.RelayClientKey(testRelaySecret, client)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// siteKeys is host's own session_keys line.
func siteKeys(host string) string {
	return fmt.Sprintf("session_keys {env.TEST_%s_HASH_KEY} {env.TEST_%s_BLOCK_KEY}", siteEnv(host), siteEnv(host))
}

// relayKeyLine is the relay_key line of the client at http://<host>.
func relayKeyLine(host string) string {
	return fmt.Sprintf("relay_key http://%s {env.TEST_%s_RELAY_KEY}", host, siteEnv(host))
}

// traffic records every URL a browser requested and every Location it was
// sent to, to prove what crossed which host.
type traffic struct {
	mu        sync.Mutex
	urls      []string // requested URLs
	locations []string // Location headers, resolved
}

func (tr *traffic) all() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append(append([]string(nil), tr.urls...), tr.locations...)
}

// hostRouter sends requests for *.test hosts to the test Caddy, keeping the
// Host the browser asked for, and records the traffic.
type hostRouter struct {
	b       *browser
	port    int
	traffic *traffic
}

func (h hostRouter) RoundTrip(r *http.Request) (*http.Response, error) {
	orig := r
	if strings.HasSuffix(r.URL.Hostname(), ".test") {
		r = r.Clone(r.Context())
		r.Host = orig.URL.Host
		r.URL.Host = fmt.Sprintf("127.0.0.1:%d", h.port)
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if resp != nil {
		resp.Request = orig
		h.traffic.mu.Lock()
		h.traffic.urls = append(h.traffic.urls, orig.URL.String())
		if loc := resp.Header.Get("Location"); loc != "" {
			if u, err := orig.URL.Parse(loc); err == nil {
				loc = u.String()
			}
			h.traffic.locations = append(h.traffic.locations, loc)
		}
		h.traffic.mu.Unlock()
	}
	return resp, err
}

// browser is a WeChat browser of user on the relay's hosts, with one cookie
// jar that keeps each host's cookies apart.
func (e *relayEnv) browser(user string) *browser {
	b := newBrowser(user)
	b.Base = hostRouter{b: b, port: e.port, traffic: e.traffic}
	return b
}

func (e *relayEnv) openID(user string) string { return e.sim.OpenID(testAppID, user) }

// lastRelayCallback is the last URL by which WeChat returned to the relay's
// callback with a code.
func (e *relayEnv) lastRelayCallback(t *testing.T) string {
	t.Helper()
	var callback string
	for _, u := range e.traffic.all() {
		if strings.HasPrefix(u, "http://"+relayHost+"/wechat_auth/callback?code=") {
			callback = u
		}
	}
	if callback == "" {
		t.Fatal("no relay callback in the traffic")
	}
	return callback
}

// handBackURL starts a login at u and returns the hand-back URL the relay
// sends the browser to, without delivering it.
func (e *relayEnv) handBackURL(t *testing.T, b *browser, u string) string {
	t.Helper()
	saved := b.StopAt
	b.StopAt = "/wechat_auth/handback?"
	defer func() { b.StopAt = saved }()
	resp, body := b.get(t, u)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(loc, "/wechat_auth/handback?hb=") {
		t.Fatalf("login at %s did not reach a hand-back: %d %q %.300s", u, resp.StatusCode, loc, body)
	}
	return loc
}

// assertNoSession fails if host set a session cookie in b, or if the last
// response set one.
func assertNoSession(t *testing.T, b *browser, host string, resp *http.Response) {
	t.Helper()
	if v := b.cookie("http://"+host+"/", "wechat_session"); v != "" {
		t.Fatalf("%s holds a session cookie", host)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "wechat_session" && c.Value != "" {
			t.Fatalf("the response set a session cookie on %s", resp.Request.URL.Host)
		}
	}
}

// copyFlowCookies gives to a browser the flow cookies from's jar holds for
// fromHost, as cookies of toHost: an attacker who copied them.
func copyFlowCookies(from, to *browser, fromHost, toHost string) int {
	src, _ := url.Parse("http://" + fromHost + "/")
	dst, _ := url.Parse("http://" + toHost + "/")
	var cs []*http.Cookie
	for _, c := range from.Jar.Cookies(src) {
		if strings.HasPrefix(c.Name, "wechat_session_flow_") {
			cs = append(cs, &http.Cookie{Name: c.Name, Value: c.Value, Path: "/"})
		}
	}
	to.Jar.SetCookies(dst, cs)
	return len(cs)
}

func TestRelayLogsInTwoClientHostsAndLandsOnTheStartingPage(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})

	// shop: snsapi_base, silent.
	alice := e.browser("alice")
	resp, body := alice.get(t, "http://"+shopHost+"/orders?id=7&q=a%20b")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != "http://"+shopHost+"/orders?id=7&q=a%20b" {
		t.Fatalf("login through the relay ended at %d %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	got := e.shop.last(t)
	if got.Header.Get("X-Wechat-Openid") != e.openID("alice") || got.Header.Get("X-Wechat-Scope") != "snsapi_base" {
		t.Fatalf("shop's upstream got %v", got.Header)
	}
	if got.URL.RequestURI() != "/orders?id=7&q=a%20b" {
		t.Fatalf("shop's upstream got %s", got.URL.RequestURI())
	}
	if alice.cookie("http://"+relayHost+"/", "wechat_session") != "" {
		t.Fatal("the relay set a session of its own")
	}
	if e.sim.CallCount("/sns/oauth2/access_token") != 1 {
		t.Fatalf("%d code exchanges, want 1", e.sim.CallCount("/sns/oauth2/access_token"))
	}

	// m: snsapi_userinfo with the consent page, same browser, another host.
	resp, body = alice.get(t, "http://"+mHost+"/profile?tab=1")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != "http://"+mHost+"/profile?tab=1" {
		t.Fatalf("second host: %d %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	got = e.m.last(t)
	if got.Header.Get("X-Wechat-Openid") != e.openID("alice") || got.Header.Get("X-Wechat-Scope") != "snsapi_userinfo" ||
		got.Header.Get("X-Wechat-Nickname") != url.PathEscape("张三") {
		t.Fatalf("m's upstream got %v", got.Header)
	}

	// Each host has its own session now: no more trips to the relay.
	before := len(e.traffic.all())
	before2 := e.shop.count()
	if resp, _ := alice.get(t, "http://"+shopHost+"/again"); resp.StatusCode != http.StatusOK || e.shop.count() != before2+1 {
		t.Fatal("the shop session did not hold")
	}
	if n := len(e.traffic.all()) - before; n != 1 {
		t.Fatalf("a request with a session took %d hops", n)
	}

	// Another user on the other client host, starting there.
	bob := e.browser("bob")
	resp, _ = bob.get(t, "http://"+mHost+"/")
	if resp.StatusCode != http.StatusOK || e.m.last(t).Header.Get("X-Wechat-Openid") != e.openID("bob") {
		t.Fatalf("bob on m: %d", resp.StatusCode)
	}
}

func TestRelayDeclinedConsentIsShownOnTheClientWithARetry(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})
	b := e.browser("carol")
	b.Consent = "deny"
	before := e.m.count()
	resp, body := b.get(t, "http://"+mHost+"/profile?tab=2")
	if resp.Request.URL.Host != mHost || e.m.count() != before {
		t.Fatalf("declined consent ended at %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	if !strings.Contains(body, "/wechat_auth/login?") || !strings.Contains(body, url.QueryEscape("/profile?tab=2")) {
		t.Fatalf("the declined page has no retry to the starting page: %.500s", body)
	}
	assertNoSession(t, b, mHost, resp)
	if e.sim.CallCount("/sns/oauth2/access_token") != 0 {
		t.Fatal("a declined consent redeemed a code")
	}
	// The retry link works once consent is given.
	b.Consent = "allow"
	retry := regexp.MustCompile(`href="(http://` + regexp.QuoteMeta(mHost) + `/wechat_auth/login\?[^"]+)"`).FindStringSubmatch(body)
	if retry == nil {
		t.Fatalf("no retry link to m's login: %.500s", body)
	}
	resp, _ = b.get(t, strings.ReplaceAll(retry[1], "&amp;", "&"))
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != "http://"+mHost+"/profile?tab=2" {
		t.Fatalf("retry ended at %d %s", resp.StatusCode, resp.Request.URL)
	}
}

func TestRelaySnapshotUserGetsThePageOnTheClientAndNoSession(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})
	b := e.browser("snap")
	before := e.m.count()
	resp, body := b.get(t, "http://"+mHost+"/profile")
	if resp.Request.URL.Host != mHost || e.m.count() != before || !strings.Contains(body, "使用完整服务") {
		t.Fatalf("snapshot user ended at %s (%d): %.300s", resp.Request.URL, resp.StatusCode, body)
	}
	assertNoSession(t, b, mHost, resp)
}

func TestRelayWeChatErrorIsShownOnTheClientWithARetry(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})
	e.sim.Fail("/sns/oauth2/access_token", 1, wechattest.FaultBusy)
	b := e.browser("alice")
	resp, body := b.get(t, "http://"+shopHost+"/orders")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Request.URL.Host != shopHost ||
		!strings.Contains(body, url.QueryEscape("/orders")) {
		t.Fatalf("a WeChat error ended at %s (%d): %.300s", resp.Request.URL, resp.StatusCode, body)
	}
	assertNoSession(t, b, shopHost, resp)
}

func TestRelayKeepFragmentReturnsToTheHashRoute(t *testing.T) {
	e := startRelayEnv(t, relayOptions{mSettings: "keep_fragment"})
	b := e.browser("alice")
	b.Consent = "allow"
	// The browser is at /app?x=1#/orders/7; it sends no fragment.
	resp, body := b.get(t, "http://"+mHost+"/app?x=1")
	link := regexp.MustCompile(`<a id="login" href="([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode == http.StatusFound || link == nil || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'sha256-") {
		t.Fatalf("keep_fragment did not answer with the capture page: %d %.300s", resp.StatusCode, body)
	}
	// What the page's script does: append encodeURIComponent(location.hash).
	next := "http://" + mHost + strings.ReplaceAll(link[1], "&amp;", "&") + url.QueryEscape("#/orders/7")
	resp, body = b.get(t, next)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != "http://"+mHost+"/app?x=1#/orders/7" {
		t.Fatalf("keep_fragment login ended at %d %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	// Without the option, shop redirects at once (no page).
	b.StopAt = relayHost
	if resp, _ := b.get(t, "http://"+shopHost+"/app"); resp.StatusCode != http.StatusFound {
		t.Fatalf("without keep_fragment: %d", resp.StatusCode)
	}
}

func TestRelayPathStyleSettingPassesTheStrictSimulator(t *testing.T) {
	e := startRelayEnv(t, relayOptions{relayPrefix: "/mp/wechat_auth", relayURL: "http://" + relayHost + "/mp",
		simDomains: []string{relayHost + "/mp"}})
	b := e.browser("alice")
	resp, body := b.get(t, "http://"+shopHost+"/p?q=1")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != "http://"+shopHost+"/p?q=1" {
		t.Fatalf("path-style login ended at %d %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	found := false
	for _, u := range e.traffic.all() {
		if strings.HasPrefix(u, "http://"+relayHost+"/mp/wechat_auth/callback?code=") {
			found = true
		}
	}
	if !found {
		t.Fatal("the callback was not under /mp")
	}

	// The strictness is real: a setting for another path refuses the same relay.
	e2 := startRelayEnv(t, relayOptions{relayPrefix: "/mp/wechat_auth", relayURL: "http://" + relayHost + "/mp",
		simDomains: []string{relayHost + "/other"}})
	b2 := e2.browser("alice")
	resp, _ = b2.get(t, "http://"+shopHost+"/p")
	if resp.Header.Get("X-WeChat-Mock-Error") != "10003" {
		t.Fatalf("a callback outside the registered path was not refused with 10003: %d %s", resp.StatusCode, resp.Request.URL)
	}
}

func TestRelayRefusesAClientHostOutsideRelayFor(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})
	b := e.browser("alice")
	resp, body := b.get(t, "http://"+evilHost+"/x")
	if resp.StatusCode != http.StatusForbidden || resp.Request.URL.Host != relayHost {
		t.Fatalf("a client outside relay_for got %d at %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	if e.sim.CallCount("/connect/oauth2/authorize") != 0 || e.evil.count() != 0 {
		t.Fatal("the relay authorized for a host outside relay_for")
	}
	assertNoSession(t, b, evilHost, resp)
	log, _ := os.ReadFile(e.logFile)
	if !strings.Contains(string(log), "relay_for") || !strings.Contains(string(log), evilHost) {
		t.Fatalf("the relay's log does not name the host and relay_for:\n%s", log)
	}
}

func TestRelayRefusesAForgedOrAlteredRequest(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})
	b := e.browser("alice")
	b.StopAt = e.prefix + "/relay?"
	resp, _ := b.get(t, "http://"+shopHost+"/x")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	req := loc.Query().Get("req")
	if req == "" {
		t.Fatalf("no relay request in %s", loc)
	}
	b.StopAt = ""
	for name, bad := range map[string]string{
		"altered":  req[:len(req)/2] + flip(req[len(req)/2]) + req[len(req)/2+1:],
		"missing":  "",
		"garbage":  "hello",
		"appended": req + "AAAA",
	} {
		resp, body := b.get(t, "http://"+relayHost+e.prefix+"/relay?client="+url.QueryEscape("http://"+shopHost)+"&req="+url.QueryEscape(bad))
		if resp.StatusCode != http.StatusBadRequest || resp.Request.URL.Host != relayHost {
			t.Errorf("%s request: %d at %s: %.200s", name, resp.StatusCode, resp.Request.URL, body)
		}
	}
	if e.sim.CallCount("/connect/oauth2/authorize") != 0 {
		t.Fatal("a bad request reached WeChat")
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestRelayHandBackIsUselessAnywhereButItsOwnBrowserOnceOnItsOwnHost(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})
	for _, host := range []string{shopHost, mHost} {
		t.Run(host, func(t *testing.T) {
			other := mHost
			if host == mHost {
				other = shopHost
			}
			start := "http://" + host + "/start?n=1"

			// In a fresh browser: no flow cookie, no session.
			victim := e.browser("alice")
			hb := e.handBackURL(t, victim, start)
			fresh := e.browser("")
			resp, body := fresh.get(t, hb)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("fresh browser: %d %.200s", resp.StatusCode, body)
			}
			assertNoSession(t, fresh, host, resp)
			// ... and it was spent there: even its own browser cannot use it now.
			resp, _ = victim.get(t, hb)
			assertNoSession(t, victim, host, resp)

			// Delivered to the other client host, with the flow cookie copied
			// there too: only the host binding stands in the way.
			victim = e.browser("alice")
			hb = e.handBackURL(t, victim, start)
			thief := e.browser("")
			if copyFlowCookies(victim, thief, host, other) == 0 {
				t.Fatal("no flow cookie to copy")
			}
			resp, body = thief.get(t, strings.Replace(hb, "//"+host+"/", "//"+other+"/", 1))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("other host: %d %.200s", resp.StatusCode, body)
			}
			assertNoSession(t, thief, other, resp)

			// Twice: the rightful browser uses it; a copy of that browser's
			// flow cookie with the same hand-back gets nothing.
			victim = e.browser("alice")
			hb = e.handBackURL(t, victim, start)
			thief = e.browser("")
			copyFlowCookies(victim, thief, host, host)
			resp, _ = victim.get(t, hb)
			if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != start {
				t.Fatalf("the rightful browser: %d %s", resp.StatusCode, resp.Request.URL)
			}
			resp, body = thief.get(t, hb)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("second use: %d %.200s", resp.StatusCode, body)
			}
			assertNoSession(t, thief, host, resp)
			// The rightful browser refreshing it just continues, with no new session.
			before := victim.cookie("http://"+host+"/", "wechat_session")
			resp, _ = victim.get(t, hb)
			if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != start || victim.cookie("http://"+host+"/", "wechat_session") != before {
				t.Fatalf("refresh in the rightful browser: %d %s", resp.StatusCode, resp.Request.URL)
			}

			// Altered, or carrying another browser's login state.
			victim = e.browser("alice")
			hb = e.handBackURL(t, victim, start)
			u, _ := url.Parse(hb)
			v := u.Query().Get("hb")
			altered := "http://" + host + "/wechat_auth/handback?hb=" + url.QueryEscape(v[:10]+flip(v[10])+v[11:])
			resp, _ = victim.get(t, altered)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("altered hand-back: %d", resp.StatusCode)
			}
			assertNoSession(t, victim, host, resp)
			// The browser's own flow cookie, altered: the state it seals no
			// longer opens, so the hand-back has no login to finish.
			victim = e.browser("alice")
			hb = e.handBackURL(t, victim, start)
			hostURL, _ := url.Parse("http://" + host + "/")
			altered = ""
			for _, c := range victim.Jar.Cookies(hostURL) {
				if strings.HasPrefix(c.Name, "wechat_session_flow_") {
					mid := len(c.Value) / 2
					c.Value = c.Value[:mid] + flip(c.Value[mid]) + c.Value[mid+1:]
					victim.Jar.SetCookies(hostURL, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
					altered = c.Name
				}
			}
			if altered == "" {
				t.Fatal("no flow cookie to alter")
			}
			resp, _ = victim.get(t, hb)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("altered flow cookie: %d", resp.StatusCode)
			}
			assertNoSession(t, victim, host, resp)

			other2 := e.browser("bob")
			_ = e.handBackURL(t, other2, start) // bob's browser holds a flow of its own
			resp, _ = other2.get(t, hb)         // alice's hand-back, bob's state
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("another browser's state: %d", resp.StatusCode)
			}
			assertNoSession(t, other2, host, resp)
		})
	}
}

func TestRelayLeaksNoCodeTokenOrSecretOutsideTheRelay(t *testing.T) {
	e := startRelayEnv(t, relayOptions{mSettings: "keep_fragment"})
	for _, u := range []string{"alice", "bob"} {
		b := e.browser(u)
		e.sim.ResetCalls()
		if resp, _ := b.get(t, "http://"+shopHost+"/a?b=c"); resp.StatusCode != http.StatusOK {
			t.Fatalf("shop login: %d", resp.StatusCode)
		}
		if resp, _ := b.get(t, "http://"+mHost+"/wechat_auth/login?rd=%2Fm"); resp.StatusCode != http.StatusOK {
			t.Fatalf("m login: %d", resp.StatusCode)
		}
	}
	// Collect every code (from the callbacks) and access token (from the
	// relay's calls to WeChat) and the secrets.
	var secrets []string
	for _, u := range e.traffic.all() {
		pu, _ := url.Parse(u)
		if c := pu.Query().Get("code"); c != "" {
			secrets = append(secrets, c)
		}
	}
	codes := len(secrets)
	for _, c := range e.sim.Calls() {
		if at := c.Query.Get("access_token"); at != "" {
			secrets = append(secrets, at)
		}
	}
	if codes < 2 || len(secrets) == codes {
		t.Fatalf("captured %d codes and %d tokens: the test would prove nothing", codes, len(secrets)-codes)
	}
	secrets = append(secrets, wechattest.DefaultAppSecret, testRelaySecret)
	for _, host := range []string{relayHost, shopHost, mHost, evilHost} {
		for _, k := range []string{"HASH_KEY", "BLOCK_KEY", "RELAY_KEY"} {
			secrets = append(secrets, os.Getenv("TEST_"+siteEnv(host)+"_"+k))
		}
	}

	for _, u := range e.traffic.all() {
		pu, _ := url.Parse(u)
		if pu.Hostname() == relayHost || pu.Host == strings.TrimPrefix(e.sim.URL, "http://") {
			continue
		}
		for _, s := range secrets {
			if strings.Contains(u, s) || strings.Contains(u, url.QueryEscape(s)) {
				t.Errorf("a secret (%.6s…) appears in %s", s, u)
			}
		}
	}
	for _, f := range []string{e.logFile, e.logFile + ".access"} {
		log, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(string(log), s) {
				t.Errorf("a secret (%.6s…) appears in %s", s, filepath.Base(f))
			}
		}
	}
	for _, up := range []*upstream{e.shop, e.m, e.relay, e.evil} {
		up.mu.Lock()
		for _, r := range up.reqs {
			seen := r.URL.String() + fmt.Sprint(r.Header)
			for _, s := range append(secrets, "hb=", "req=") {
				if strings.Contains(seen, s) {
					t.Errorf("an upstream received %.6s…: %s", s, seen)
				}
			}
		}
		up.mu.Unlock()
	}
}

func TestRelayClientKeepsNonWeChatPolicyOnItsOwnSite(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})
	b := e.browser("alice")
	b.UserAgent = desktopUA
	resp, body := b.get(t, "http://"+shopHost+"/x")
	if resp.StatusCode != http.StatusForbidden || resp.Request.URL.Host != shopHost || !strings.Contains(body, "<svg") {
		t.Fatalf("outside WeChat: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	for _, u := range e.traffic.all() {
		if strings.Contains(u, relayHost) {
			t.Fatalf("a visitor outside WeChat was sent to the relay: %s", u)
		}
	}
}

// examples/relay/Caddyfile runs as written, with only its host names, its
// upstreams and WeChat's address swapped for the test's: if the example
// drifts from what the module accepts, this fails.
func TestRelayExampleCaddyfileLogsInForBothSites(t *testing.T) {
	raw, err := os.ReadFile("../examples/relay/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	e := &relayEnv{port: testnet.Port(t), sim: wechattest.NewServer(wechattest.WithDomains(relayHost)), shop: newUpstream(t),
		m: newUpstream(t), traffic: &traffic{}, prefix: "/wechat_auth"}
	t.Cleanup(e.sim.Close)
	t.Setenv("WECHAT_APP_ID", testAppID)
	t.Setenv("WECHAT_APP_SECRET", wechattest.DefaultAppSecret)
	t.Setenv("WECHAT_RELAY_SECRET", testRelaySecret)
	t.Setenv("SHOP_RELAY_KEY", relayKeyOf(t, "http://"+shopHost))
	t.Setenv("M_RELAY_KEY", relayKeyOf(t, "http://"+mHost))
	for i, site := range []string{"WX", "SHOP", "M"} {
		t.Setenv(site+"_SESSION_HASH_KEY", base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%032d", 30+i))))
		t.Setenv(site+"_SESSION_BLOCK_KEY", base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%032d", 40+i))))
	}
	cfg := string(raw)
	for _, r := range [][2]string{
		{"\n{\n", "\n{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n"},
		{"\nwx.example.com {", fmt.Sprintf("\nhttp://%s:%d {", relayHost, e.port)},
		{"\nshop.example.com {", fmt.Sprintf("\nhttp://%s:%d {", shopHost, e.port)},
		{"\nm.example.com {", fmt.Sprintf("\nhttp://%s:%d {", mHost, e.port)},
		{"relay_for shop.example.com m.example.com", "relay_for " + shopHost + " " + mHost},
		{"relay https://wx.example.com", "relay http://" + relayHost},
		{"relay_key https://shop.example.com", "relay_key http://" + shopHost},
		{"relay_key https://m.example.com", "relay_key http://" + mHost},
		{"app_secret {env.WECHAT_APP_SECRET}", "app_secret {env.WECHAT_APP_SECRET}\n\t\t\tapi_base " + e.sim.URL + "\n\t\t\topen_base " + e.sim.URL},
		{"reverse_proxy 127.0.0.1:8081", "reverse_proxy " + strings.TrimPrefix(e.shop.URL, "http://")},
		{"reverse_proxy 127.0.0.1:8082", "reverse_proxy " + strings.TrimPrefix(e.m.URL, "http://")},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("the example no longer contains %q", r[0])
		}
		cfg = strings.ReplaceAll(cfg, r[0], r[1])
	}
	loadCaddyfile(t, cfg)
	waitListening(t, e.port)

	b := e.browser("alice")
	if resp, body := b.get(t, "http://"+relayHost+"/MP_verify_AbCdEfGh12345678.txt"); resp.StatusCode != http.StatusOK || body != "AbCdEfGh12345678" {
		t.Fatalf("MP_verify: %d %q", resp.StatusCode, body)
	}
	resp, _ := b.get(t, "http://"+shopHost+"/orders?id=7")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != "http://"+shopHost+"/orders?id=7" ||
		e.shop.last(t).Header.Get("X-Wechat-Openid") != e.openID("alice") {
		t.Fatalf("shop: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp, body := b.get(t, "http://"+mHost+"/")
	link := regexp.MustCompile(`<a id="login" href="([^"]+)"`).FindStringSubmatch(body)
	if link == nil {
		t.Fatalf("m has no keep_fragment page: %d %.200s", resp.StatusCode, body)
	}
	resp, _ = b.get(t, "http://"+mHost+strings.ReplaceAll(link[1], "&amp;", "&")+url.QueryEscape("#/orders/7"))
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != "http://"+mHost+"/#/orders/7" ||
		e.m.last(t).Header.Get("X-Wechat-Openid") != e.openID("alice") {
		t.Fatalf("m: %d at %s", resp.StatusCode, resp.Request.URL)
	}
}

// With the shared store configured, the hand-back a client spends is a claim
// in Redis, where every replica of the client looks (single use across
// replicas; TestHandBackSpentOnOneReplicaIsRefusedOnAnother shows a second
// replica refusing it).
func TestRelayClientSpendsHandBacksInTheSharedStore(t *testing.T) {
	srv := redistest.Start(t)
	e := startRelayEnv(t, relayOptions{global: "wechat {\n\t\tstore " + srv.URL() + "\n\t}"})
	// The store connects in the background, and claims go to memory until
	// it has: log in until one lands in Redis (a few attempts at most).
	var keys string
	for i := 0; i < 50 && !strings.Contains(keys, "relay_handback:"); i++ {
		b := e.browser("alice")
		if resp, _ := b.get(t, "http://"+shopHost+"/x"); resp.StatusCode != http.StatusOK {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		keys, _ = srv.Do("KEYS", "*relay_handback*")
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(keys, "relay_handback:") {
		t.Fatalf("no hand-back claim in Redis: %q", keys)
	}
}

// A refresh (or WeChat's double call) of the relay's callback after the login
// finished: the relay authorizes again silently and hands back anew, and the
// client, whose login is done and whose session is valid, just continues.
func TestRelayCallbackRefreshAfterLoginContinuesOnTheClient(t *testing.T) {
	e := startRelayEnv(t, relayOptions{})
	b := e.browser("alice")
	start := "http://" + shopHost + "/orders?id=9"
	if resp, _ := b.get(t, start); resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	callback := e.lastRelayCallback(t)
	session := b.cookie("http://"+shopHost+"/", "wechat_session")
	resp, body := b.get(t, callback)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != start {
		t.Fatalf("refreshing the relay's callback ended at %d %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	if b.cookie("http://"+shopHost+"/", "wechat_session") != session {
		t.Fatal("the refresh replaced the session")
	}
}
