package wechatauth_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// forgedHeaders are client-sent copies of identity headers in every
// spelling a CGI/PHP app or a lenient proxy folds into ours: dots,
// underscores, any case, invented names under a prefix, and Remote-User.
func forgedHeaders(prefixes ...string) http.Header {
	h := http.Header{"Remote-User": {"forged"}, "Remote.User": {"forged"}}
	for _, p := range prefixes {
		dotted := strings.ReplaceAll(p, "-", ".")
		for _, name := range []string{"OpenID", "UnionID", "Subscribed", "Nickname", "Source", "Foo"} {
			h[p+name] = []string{"forged"}
			h[dotted+name] = []string{"forged"}
			h[strings.ToLower(dotted)+strings.ToUpper(name)] = []string{"forged"}
		}
	}
	return h
}

// forgedThrough lists what of a forged header reached the upstream.
func forgedThrough(r *http.Request) []string {
	var got []string
	for _, hdr := range []http.Header{r.Header, r.Trailer} {
		for k, v := range hdr {
			for _, x := range v {
				if x == "forged" {
					got = append(got, k)
				}
			}
		}
	}
	return got
}

func wechatBlock(matcher, prefix, scope string) string {
	return fmt.Sprintf(`wechat_auth %s {
		app_id %s
		app_secret {env.TEST_WECHAT_SECRET}
		session_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}
		api_base SIM
		open_base SIM
		header_prefix %s
		scope %s
	}`, matcher, testAppID, prefix, scope)
}

// TestTwoDirectivesWorkInEitherOrder: a site-wide snsapi_base directive and
// a /profile* snsapi_userinfo one, written in both orders, with equal and
// different header prefixes. Every page logs in without a loop, an identity
// verified by one directive serves the other, each prefix carries only the
// gateway's values, and forged headers of every spelling sent on every
// request never reach the upstream.
func TestTwoDirectivesWorkInEitherOrder(t *testing.T) {
	for _, prefixes := range [][2]string{{"X-WeChat-", "X-WeChat-"}, {"X-WeChat-", "X-Inner-"}} {
		for _, siteWideFirst := range []bool{true, false} {
			name := fmt.Sprintf("prefixes %s %s, site-wide first %v", prefixes[0], prefixes[1], siteWideFirst)
			t.Run(name, func(t *testing.T) {
				siteWide := wechatBlock("", prefixes[0], "snsapi_base")
				profile := wechatBlock("/profile*", prefixes[1], "snsapi_userinfo")
				body := siteWide + "\n\t" + profile
				if !siteWideFirst {
					body = profile + "\n\t" + siteWide
				}
				sim := wechattest.NewServer()
				t.Cleanup(sim.Close)
				g := startGateway(t, gatewayConfig{sim: sim, site: strings.ReplaceAll(body, "SIM", sim.URL) + "\n\treverse_proxy %[2]s"})
				alice := newBrowser("alice")
				alice.Header = forgedHeaders(prefixes[0], prefixes[1])
				openID := sim.OpenID(testAppID, "alice")
				canon := func(p, name string) string { return http.CanonicalHeaderKey(p + name) }

				home := g.login(t, alice, "/home")
				if home.Header.Get(canon(prefixes[0], "OpenID")) != openID {
					t.Fatalf("/home: %sOpenID = %q", prefixes[0], home.Header.Get(canon(prefixes[0], "OpenID")))
				}
				if f := forgedThrough(home); f != nil {
					t.Errorf("/home: forged headers reached the upstream: %v", f)
				}
				prof := g.login(t, alice, "/profile")
				for _, p := range prefixes {
					if prof.Header.Get(canon(p, "OpenID")) != openID || prof.Header.Get(canon(p, "Scope")) != "snsapi_userinfo" {
						t.Errorf("/profile: %sOpenID %q %sScope %q, want alice with snsapi_userinfo", p, prof.Header.Get(canon(p, "OpenID")), p, prof.Header.Get(canon(p, "Scope")))
					}
					if v := prof.Header.Values(canon(p, "Source")); len(v) != 1 || v[0] != "mp" {
						t.Errorf("/profile: %sSource = %q, want [mp]", p, v)
					}
				}
				if prof.Header.Get(canon(prefixes[1], "Nickname")) == "" {
					t.Errorf("/profile: no %sNickname", prefixes[1])
				}
				if f := forgedThrough(prof); f != nil {
					t.Errorf("/profile: forged headers reached the upstream: %v", f)
				}
				again := g.login(t, alice, "/home?again=1")
				if f := forgedThrough(again); f != nil || again.Header.Get(canon(prefixes[0], "OpenID")) != openID {
					t.Errorf("/home again: openid %q forged %v", again.Header.Get(canon(prefixes[0], "OpenID")), f)
				}
				if n := sim.CallCount("/connect/oauth2/authorize"); n != 2 {
					t.Errorf("authorize visited %d times, want 2 (base for /home, the upgrade for /profile)", n)
				}
				if strings.Contains(again.Header.Get("Cookie"), "wechat_session") {
					t.Errorf("the session cookie reached the upstream: %q", again.Header.Get("Cookie"))
				}
			})
		}
	}
}

// TestTwoDirectivesWithoutSessionKeysShareTheProcessKeys: without
// session_keys every handler of the process uses the same generated keys,
// so a login by one directive is a login for the other (no loop).
func TestTwoDirectivesWithoutSessionKeysShareTheProcessKeys(t *testing.T) {
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	block := func(matcher, scope string) string {
		return fmt.Sprintf("wechat_auth %s {\n\t\tapp_id %s\n\t\tapp_secret {env.TEST_WECHAT_SECRET}\n\t\tapi_base %s\n\t\topen_base %s\n\t\tscope %s\n\t}", matcher, testAppID, sim.URL, sim.URL, scope)
	}
	g := startGateway(t, gatewayConfig{sim: sim, site: block("/profile*", "snsapi_userinfo") + "\n\t" + block("", "snsapi_base") + "\n\treverse_proxy %[2]s"})
	alice := newBrowser("alice")
	g.login(t, alice, "/home")
	if got := g.login(t, alice, "/profile"); got.Header.Get("X-Wechat-Scope") != "snsapi_userinfo" {
		t.Fatalf("/profile scope %q", got.Header.Get("X-Wechat-Scope"))
	}
	g.login(t, alice, "/home")
	if n := sim.CallCount("/connect/oauth2/authorize"); n != 2 {
		t.Errorf("authorize visited %d times, want 2", n)
	}
}

// TestIdentityTrailersNeverReachTheUpstream sends a chunked POST whose
// trailers are named like identity headers: Caddy forwards request
// trailers, so the handler must drop them.
func TestIdentityTrailersNeverReachTheUpstream(t *testing.T) {
	var mu sync.Mutex
	var trailers http.Header
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		trailers = r.Trailer.Clone()
		mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(app.Close)
	g := startGateway(t, gatewayConfig{settings: "non_wechat allow", site: "%[1]s\n\treverse_proxy " + strings.TrimPrefix(app.URL, "http://")})
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /form HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/8\r\nTransfer-Encoding: chunked\r\n"+
		"Trailer: X-WeChat-OpenID, X.WeChat.UnionID, Remote-User, X-Checksum\r\n\r\n"+
		"5\r\nhello\r\n0\r\nX-WeChat-OpenID: forged\r\nX.WeChat.UnionID: forged\r\nRemote-User: forged\r\nX-Checksum: kept\r\n\r\n", strings.TrimPrefix(g.URL, "http://"))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST with trailers: %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	for k, v := range trailers {
		if len(v) > 0 && v[0] == "forged" {
			t.Errorf("trailer %s reached the upstream", k)
		}
	}
	if trailers.Get("X-Checksum") != "kept" {
		t.Errorf("other trailers must pass: %v (the test would prove nothing otherwise)", trailers)
	}
}
