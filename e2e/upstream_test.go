//go:build linux

package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// echoed is what the protected upstream saw: the request URI and its headers
// with names normalised (lower case, "_" → "-"), every value kept, so a
// header that slipped through in another spelling shows up as a second value.
type echoed struct {
	URI     string              `json:"uri"`
	Headers map[string][]string `json:"headers"`
	// Trailers are the request's trailers (names normalised), read after
	// the whole body: where a chunked request's trailer fields arrive.
	Trailers map[string][]string `json:"trailers"`
}

func (e echoed) values(name string) []string {
	return e.Headers[normalizeHeader(name)]
}

func normalizeHeader(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// startEchoUpstream is the app behind the proxies: it answers every request
// with what it received, as JSON.
func startEchoUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := echoed{URI: r.RequestURI, Headers: map[string][]string{}, Trailers: map[string][]string{}}
		for k, vs := range r.Header {
			n := normalizeHeader(k)
			e.Headers[n] = append(e.Headers[n], vs...)
		}
		_, _ = io.Copy(io.Discard, r.Body) // trailers arrive after the body
		for k, vs := range r.Trailer {
			n := normalizeHeader(k)
			e.Trailers[n] = append(e.Trailers[n], vs...)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo-Upstream", "yes")
		_ = json.NewEncoder(w).Encode(e)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// parseEcho decodes an upstream page, failing when the page is not the upstream's.
func parseEcho(t *testing.T, b *wechattest.Browser, p *wechattest.Page) echoed {
	t.Helper()
	var e echoed
	if p.Status != http.StatusOK || p.Header.Get("X-Echo-Upstream") != "yes" {
		t.Fatalf("did not reach the upstream: %d %s\nhops:\n  %s\n%s", p.Status, p.URL, b.HopsString(), p.Body)
	}
	if err := json.Unmarshal([]byte(p.Body), &e); err != nil {
		t.Fatalf("upstream answer: %v\n%s", err, p.Body)
	}
	return e
}

// wantIdentity checks the upstream saw exactly one X-WeChat-OpenID (in any
// spelling) and that it is openid.
func wantIdentity(t *testing.T, e echoed, openid string) {
	t.Helper()
	if got := e.values("X-WeChat-OpenID"); len(got) != 1 || got[0] != openid {
		t.Fatalf("upstream X-WeChat-OpenID = %q, want exactly [%q]; headers: %v", got, openid, e.Headers)
	}
}

// forgedIdentityHeaders are the client-sent identity headers the forward-auth
// examples must keep from the app: the gateway's own names, one it never
// sets (X-WeChat-Foo) and the Remote-User family.
var forgedIdentityHeaders = []string{"X-WeChat-OpenID", "X_WeChat_OpenID", "X-WeChat-UnionID", "X-WeChat-Subscribed",
	"X-WeChat-Foo", "X.WeChat.OpenID", "Remote-User", "Remote_User"}

// wantNoForged fails when any header the upstream saw carries the forged
// value, or when the gateway's session cookie reached the app.
func wantNoForged(t *testing.T, e echoed, forged string) {
	t.Helper()
	for k, vs := range e.Headers {
		for _, v := range vs {
			if strings.Contains(v, forged) {
				t.Errorf("upstream %s = %q: a client-sent identity header reached the app", k, v)
			}
			if normalizeHeader(k) != normalizeHeader("Cookie") {
				continue
			}
			for _, c := range strings.Split(v, ";") {
				if strings.HasPrefix(strings.TrimSpace(c), "wechat_session=") {
					t.Errorf("upstream Cookie = %q: the gateway's session cookie reached the app", v)
				}
			}
		}
	}
}
