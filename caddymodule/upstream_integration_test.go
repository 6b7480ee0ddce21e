package wechatauth_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// What crosses to the upstream on an authenticated in-path request, and what
// the placeholders say after the handler: only the identity the session has
// (no empty headers: the client's copies are already gone), only the site's
// own cookies, and {http.auth.user.*} for every later directive and the
// access log.

// TestUpstreamGetsTheIdentityAndTheSiteCookiesOnly: a silent (snsapi_base)
// session forwards OpenID, Scope and Source, each set, and nothing else under
// the prefix, even when the client sent copies of the others; the Cookie
// header keeps the site's own cookies wherever ours stood among them.
func TestUpstreamGetsTheIdentityAndTheSiteCookiesOnly(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	b := newBrowser("alice")
	g.login(t, b, "/start")
	for _, sent := range []string{"", "app=1", "app=1; theme=dark"} {
		hdr := forgedHeaders("X-WeChat-")
		if sent != "" {
			hdr.Set("Cookie", sent) // the client adds the jar's cookies after it
		}
		if resp, body := b.do(t, http.MethodGet, g.URL+"/page", hdr); resp.StatusCode != http.StatusOK {
			t.Fatalf("cookie %q: %d %.200s", sent, resp.StatusCode, body)
		}
		got := g.up.last(t)
		var names []string
		for k, v := range got.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-wechat-") || strings.EqualFold(k, "remote-user") ||
				strings.HasPrefix(strings.ToLower(k), "x.wechat.") {
				names = append(names, k)
				if len(v) != 1 || v[0] == "" || v[0] == "forged" {
					t.Errorf("cookie %q: upstream got %s: %q", sent, k, v)
				}
			}
		}
		if len(names) != 3 || got.Header.Get("X-WeChat-OpenID") == "" || got.Header.Get("X-WeChat-Scope") != "snsapi_base" ||
			got.Header.Get("X-WeChat-Source") != "mp" {
			t.Errorf("cookie %q: identity headers upstream %v, want OpenID, Scope snsapi_base and Source mp only", sent, names)
		}
		if c := got.Header.Values("Cookie"); (sent == "" && len(c) != 0) || (sent != "" && (len(c) != 1 || c[0] != sent)) {
			t.Errorf("Cookie upstream %q, want %q", c, sent)
		}
	}
}

// TestPlaceholdersAnswerLaterDirectivesAndTheAccessLog: {http.auth.user.*}
// resolve in a directive after wechat_auth (known even when empty), and the
// access log's user_id is the openid.
func TestPlaceholdersAnswerLaterDirectivesAndTheAccessLog(t *testing.T) {
	g := startGateway(t, gatewayConfig{site: `%[1]s
	reverse_proxy %[2]s {
		header_up X-Ph-Id {http.auth.user.id}
		header_up X-Ph-Scope {http.auth.user.scope}
		header_up X-Ph-Source {http.auth.user.source}
		header_up X-Ph-Union "[{http.auth.user.unionid}]"
	}`})
	b := newBrowser("alice")
	got := g.login(t, b, "/start")
	openID := got.Header.Get("X-WeChat-OpenID")
	for k, want := range map[string]string{"X-Ph-Id": openID, "X-Ph-Scope": "snsapi_base", "X-Ph-Source": "mp", "X-Ph-Union": "[]"} {
		if v := got.Header.Get(k); v != want || openID == "" {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	logs, err := os.ReadFile(g.logFile + ".access")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(string(logs), "\n") {
		var entry struct {
			UserID  string `json:"user_id"`
			Request struct {
				URI string `json:"uri"`
			} `json:"request"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Request.URI == "/start" && entry.UserID == openID {
			found = true
		}
	}
	if !found {
		t.Errorf("no access log line for /start with user_id %q:\n%.2000s", openID, logs)
	}
}

// TestTheIdentityOverridesAnEarlierUserID: something earlier in the route
// (here vars; basic_auth likewise) set {http.auth.user.id}: wechat_auth's
// verified openid is what later directives see, as before the placeholders
// were served by the identity itself.
func TestTheIdentityOverridesAnEarlierUserID(t *testing.T) {
	g := startGateway(t, gatewayConfig{site: `route {
		vars http.auth.user.id preset
		%[1]s
		reverse_proxy %[2]s {
			header_up X-Ph-Id {http.auth.user.id}
		}
	}`})
	b := newBrowser("alice")
	got := g.login(t, b, "/start")
	if v, openID := got.Header.Get("X-Ph-Id"), got.Header.Get("X-WeChat-OpenID"); v != openID || v == "" {
		t.Errorf("{http.auth.user.id} after wechat_auth = %q, want the openid %q", v, openID)
	}
}

// TestAFollowersUnionIDReachesThePlaceholder: subscriber_info adds the
// unionid user/info gives to a snsapi_base session for one request (a copy of
// the remembered identity); the placeholder says it too, not the session's
// empty one.
func TestAFollowersUnionIDReachesThePlaceholder(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "subscriber_info",
		simOpts: []wechattest.Option{wechattest.WithBoundApp(testAppID, wechattest.DefaultAppSecret, "op")},
		site: `%[1]s
	reverse_proxy %[2]s {
		header_up X-Ph-Union {http.auth.user.unionid}
	}`})
	got := g.login(t, newBrowser("alice"), "/a") // alice follows
	if u, want := got.Header.Get("X-Ph-Union"), g.sim.UnionID(testAppID, "alice"); u != want || want == "" {
		t.Errorf("{http.auth.user.unionid} = %q, want the follower's unionid %q (X-WeChat-UnionID %q)", u, want, got.Header.Get("X-WeChat-UnionID"))
	}
}
