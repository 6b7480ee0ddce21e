package wechatauth_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// A gateway on a real host name behind a TLS-terminating proxy, checked by the
// strict simulator, which (like WeChat) refuses a redirect_uri with a port, on
// another host, or with another scheme than the registered one. The browser
// opens https://wx.example.com/…; a "proxy" transport carries those requests
// to the gateway on loopback as a TLS-terminating proxy does: plain HTTP, the
// original Host, X-Forwarded-Proto: https.

const strictHost = "wx.example.com"

// proxyTransport sends requests for strictHost to the gateway at addr as a
// TLS-terminating reverse proxy would, and everything else (the simulator)
// straight on.
type proxyTransport struct {
	addr string
	base http.RoundTripper
}

func (p proxyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Hostname() != strictHost {
		return p.base.RoundTrip(r)
	}
	fwd := r.Clone(r.Context())
	fwd.Host = strictHost
	fwd.URL.Scheme, fwd.URL.Host = "http", p.addr
	fwd.Header.Set("X-Forwarded-Proto", "https")
	fwd.Header.Set("X-Forwarded-Host", strictHost)
	resp, err := p.base.RoundTrip(fwd)
	if resp != nil {
		resp.Request = r // the browser sees the URL it asked for
	}
	return resp, err
}

// startStrictGateway runs wechat_auth for http://wx.example.com:PORT with the
// given global options, against a simulator registering only
// https://wx.example.com, and returns a browser whose requests to
// https://wx.example.com go through the proxy.
func startStrictGateway(t *testing.T, global string) (*wechattest.Server, *upstream, *wechattest.Browser) {
	t.Helper()
	sim := wechattest.NewServer(wechattest.WithDomains("https://" + strictHost))
	t.Cleanup(sim.Close)
	up := newUpstream(t)
	port := testnet.Port(t)
	loadCaddyfile(t, fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	%s
}
http://%s:%d {
	wechat_auth {
		app_id %s
		app_secret {env.TEST_WECHAT_SECRET}
		session_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}
		api_base %s
		open_base %s
	}
	reverse_proxy %s
}
`, global, strictHost, port, testAppID, sim.URL, sim.URL, strings.TrimPrefix(up.URL, "http://")))
	waitListening(t, port)
	b := wechattest.NewBrowser("alice")
	b.Base = proxyTransport{addr: fmt.Sprintf("127.0.0.1:%d", port), base: b.Base}
	return sim, up, b
}

// authorizeRedirectURI is the redirect_uri of the authorize request in the
// browser's last navigation.
func authorizeRedirectURI(t *testing.T, b *wechattest.Browser) string {
	t.Helper()
	for _, h := range b.Hops {
		if _, raw, ok := strings.Cut(h, " "); ok && strings.Contains(raw, "/connect/oauth2/authorize?") {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			return u.Query().Get("redirect_uri")
		}
	}
	t.Fatalf("no authorize request among\n  %s", b.HopsString())
	return ""
}

func TestGatewayOnARealHostBehindATrustedTLSProxyPassesTheStrictDomainCheck(t *testing.T) {
	sim, up, b := startStrictGateway(t, "servers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}")
	p := b.Get(t, "https://"+strictHost+"/account?tab=1")
	if got, want := authorizeRedirectURI(t, b), "https://"+strictHost+"/wechat_auth/callback"; got != want {
		t.Fatalf("redirect_uri = %q, want %q (https, no port)", got, want)
	}
	if p.Status != http.StatusOK || p.URL.String() != "https://"+strictHost+"/account?tab=1" || up.count() != 1 {
		t.Fatalf("login ended on %d %s (error page %q), want the upstream:\n  %s\n%.300s",
			p.Status, p.URL, p.Header.Get("X-WeChat-Mock-Error"), b.HopsString(), p.Body)
	}
	if got := up.last(t).Header.Get("X-Wechat-Openid"); got != sim.OpenID(testAppID, "alice") {
		t.Errorf("upstream openid %q, want alice's", got)
	}
	if b.Cookie("https://"+strictHost+"/", "wechat_session") == "" {
		t.Error("no session cookie for https://" + strictHost)
	}
}

func TestGatewayBehindAnUntrustedProxyGets10039FromTheStrictSimulator(t *testing.T) {
	_, up, b := startStrictGateway(t, "")
	p := b.Get(t, "https://"+strictHost+"/account")
	// The proxy's X-Forwarded-Proto is not trusted, so the gateway sees plain
	// http, and WeChat refuses the scheme: the operator must set trusted_proxies.
	if got, want := authorizeRedirectURI(t, b), "http://"+strictHost+"/wechat_auth/callback"; got != want {
		t.Fatalf("redirect_uri = %q, want %q", got, want)
	}
	if code := p.Header.Get("X-WeChat-Mock-Error"); code != "10039" || !strings.Contains(p.Body, "redirect_uri协议与后台配置不一致") {
		t.Errorf("authorize answered %d, error page %q, want 10039:\n%.300s", p.Status, code, p.Body)
	}
	if up.count() != 0 {
		t.Error("the upstream was reached without a login")
	}
}
