package wechatauth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	whatwg "github.com/nlnwa/whatwg-url/url"
)

// The fuzz targets run their seeds (and testdata/fuzz/<Name>/) under plain
// `go test`; `go test -run=^$ -fuzz=FuzzX -fuzztime=2m ./caddymodule/` explores.

// FuzzSessionCookie feeds arbitrary cookie values, and arbitrary payloads
// sealed with the real keys, through Handler.verify: it never panics, and
// whatever it accepts belongs to this app, is unexpired and round-trips.
func FuzzSessionCookie(f *testing.F) {
	h, _ := newTestHandler(f, testPair(1))
	good := validSession()
	f.Add(sealSession(f, h, good), marshalSession(good))
	base := good
	base.Scope, base.Nickname, base.Avatar, base.UnionID = "snsapi_base", "", "", ""
	f.Add(sealSession(f, h, base), marshalSession(base))
	other := good
	other.AppID = "wxffffffffffffffff"
	f.Add(sealSession(f, h, other), marshalSession(other))
	expired := good
	expired.Expires = 1
	f.Add("", marshalSession(expired))
	f.Add("garbage|1|x", []byte{sessionVersion})
	f.Add(strings.Repeat("A", maxCookieLen+1), []byte{})

	f.Fuzz(func(t *testing.T, value string, payload []byte) {
		h, _ := newTestHandler(t, testPair(1))
		check := func(what string, id *identity) {
			if id == nil {
				return
			}
			s := id.sess
			if s.AppID != testAppID || s.OpenID == "" || s.Expires <= fixedNow.Unix() {
				t.Fatalf("%s: accepted an invalid session %+v", what, s)
			}
			var again Session
			if err := again.unmarshal(s.marshal()); err != nil || again != s {
				t.Fatalf("%s: accepted session does not round-trip: %+v vs %+v (%v)", what, s, again, err)
			}
		}
		check("raw value", h.sessions.verify(value))
		check("cookie header", h.sessions.identityFrom(requestWithCookies(defaultCookieName+"="+value)))

		// The same payload sealed with the real keys exercises the decoder
		// and the checks behind the MAC.
		sealed, err := h.sessions.codec.encode(h.CookieName, append([]byte(nil), payload...))
		if err != nil {
			return // too long to be a cookie
		}
		id := h.sessions.verify(sealed)
		check("sealed payload", id)
		var direct Session
		if direct.unmarshal(payload) != nil && id != nil {
			t.Fatalf("verify accepted a payload unmarshal refuses: %q", payload)
		}
	})
}

// FuzzFlowState unmarshals arbitrary bytes as a flow and runs the callback's
// state check with arbitrary states: no panic, and readFlow accepts only a
// flow whose sealed state equals the callback's state and is recent.
func FuzzFlowState(f *testing.F) {
	state := strings.Repeat("Ab1", 11)[:stateLen]
	fresh := flowState{State: state, Return: "/x?y=1", Scope: "snsapi_base", Created: fixedNow.Unix()}
	f.Add(fresh.marshal(), state, "")
	done := fresh
	done.Done, done.Retry = true, true
	f.Add(done.marshal(), state, "")
	f.Add(fresh.marshal(), strings.Repeat("Z", stateLen), "")
	f.Add(fresh.marshal(), state[:stateLen-1]+"!", "")
	f.Add([]byte{flowVersion}, "", "wechat_session_flow_Ab1Ab1Ab1A=x")
	f.Add([]byte{}, strings.Repeat("a", 200), "a=b; wechat_session_flow_=")

	f.Fuzz(func(t *testing.T, data []byte, state, rawCookie string) {
		var fs flowState
		if fs.unmarshal(data) == nil {
			var again flowState
			if err := again.unmarshal(fs.marshal()); err != nil || again != fs {
				t.Fatalf("flow does not round-trip: %+v vs %+v", fs, again)
			}
		}
		valid := validState(state)
		if valid != (len(state) == stateLen && strings.Trim(state, stateAlphabet) == "") {
			t.Fatalf("validState(%q) = %v", state, valid)
		}
		if !valid {
			return // serveCallback stops here, before any cookie is read
		}
		h, _ := newTestHandler(t, testPair(1))
		name := h.logins.cookies.name(state)
		sealed, err := h.logins.cookies.codec.encode(name, append([]byte(nil), data...))
		if err != nil {
			return
		}
		for _, r := range []*http.Request{
			requestWithCookies(name + "=" + sealed),
			requestWithCookies(rawCookie),
			requestWithCookies(rawCookie, name+"="+sealed),
		} {
			got, ok := h.logins.cookies.read(r, state)
			if !ok {
				continue
			}
			if got.State != state || got.Created <= fixedNow.Add(-flowTTL).Unix() {
				t.Fatalf("readFlow accepted %+v for state %q", got, state)
			}
		}
	})
}

// redirectFuzzRules are the redirect_domains the return-URL fuzzer allows.
var redirectFuzzRules = []string{"exact.example", ".suffix.example", "*.star.example", "port.example:8080", "any.example:*"}

// allowedByOracle decides, independently of safeReturnURL, whether a browser
// at site would land on an allowed origin: it resolves the Location header
// net/http writes with a WHATWG (browser) URL parser.
func allowedByOracle(t *testing.T, site origin, rules []string, accepted string) (string, bool) {
	t.Helper()
	rec := httptest.NewRecorder()
	http.Redirect(rec, httptest.NewRequest(http.MethodGet, site.String()+"/some/page", nil), accepted, http.StatusFound)
	loc := rec.Header().Get("Location")
	u, err := whatwg.ParseRef(site.String()+"/some/page", loc)
	if err != nil {
		return loc, false
	}
	scheme := strings.TrimSuffix(u.Protocol(), ":")
	// Compare IPv6 literals without brackets, as splitHostPort does.
	host, port := strings.Trim(strings.TrimSuffix(u.Hostname(), "."), "[]"), u.Port()
	if scheme != "http" && scheme != "https" || u.Username() != "" || u.Password() != "" {
		return loc, false
	}
	siteHost, sitePort := splitHostPort(site.Host, site.Scheme)
	if scheme == site.Scheme && host == siteHost && port == sitePort {
		return loc, true
	}
	for _, raw := range rules {
		r, err := parseDomainRule(raw)
		if err != nil {
			t.Fatalf("rule %q: %v", raw, err)
		}
		if r.allows(scheme, host, port) {
			return loc, true
		}
	}
	return loc, false
}

// FuzzSafeReturnURL: never panics; the result is "/" or the input; an
// accepted relative URL starts with one "/" and has no backslash; an accepted
// absolute URL is http(s) on an allowed host; and a browser following the
// redirect net/http writes for it lands on an allowed origin.
func FuzzSafeReturnURL(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b?c=d#e", "/a?next=//evil.com", "https://allowed.com/x", "https://ALLOWED.com:443/x",
		"http://allowed.com/", "//evil.com", "/\\evil.com", "\\/evil.com", "/%09/evil.com", "/%2F/evil.com",
		"https:evil.com", "http:/evil.com", "javascript:alert(1)", "data:text/html,<b>x</b>",
		"http://allowed.com@evil.com", "http://evil.com/allowed.com", "http://allowed.com.evil.tld/",
		"http://evil?.allowed.com", "http://evil#.allowed.com", "http://аllowed.com/", "https://allowed.com./",
		"http://[::1]/", "https://x.suffix.example/", "http://port.example:8080/", "https://any.example:9/",
		"https://xsuffix.example/", "/.//evil.com", "/a/..//evil.com", "https://allowed.com\t/",
		"/中文/页面?q=微信", "/\u00a0/evil.com", "//中文.com/", "/\xff\xfe",
	} {
		f.Add(s)
	}
	rules := make([]domainRule, 0, len(redirectFuzzRules))
	for _, raw := range redirectFuzzRules {
		r, err := parseDomainRule(raw)
		if err != nil {
			f.Fatal(err)
		}
		rules = append(rules, r)
	}
	site := origin{Scheme: "https", Host: "allowed.com"}

	f.Fuzz(func(t *testing.T, raw string) {
		got := safeReturnURL(raw, site, rules)
		if got == "/" {
			return
		}
		if got != raw && (got != encodeNonASCII(raw) || !strings.HasPrefix(raw, "/")) {
			t.Fatalf("safeReturnURL(%q) = %q: neither the input, its percent-encoded form (relative UTF-8) nor /", raw, got)
		}
		if strings.ContainsRune(got, '\\') {
			t.Fatalf("accepted a backslash: %q", got)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("accepted an unparsable URL %q: %v", got, err)
		}
		if u.Scheme == "" {
			if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || u.Host != "" {
				t.Fatalf("accepted relative URL %q does not start with a single /", got)
			}
		} else {
			if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil {
				t.Fatalf("accepted absolute URL %q is not plain http(s)", got)
			}
		}
		if loc, ok := allowedByOracle(t, site, redirectFuzzRules, got); !ok {
			t.Fatalf("accepted %q, but a browser following Location %q leaves the allowed origins", got, loc)
		}
	})
}

// fuzzCaddyfileSeeds are wechat_auth block bodies.
var fuzzCaddyfileSeeds = []string{
	"app_id wx0123456789abcdef\napp_secret {env.WECHAT_APP_SECRET}",
	"app_id wx1\nscope snsapi_userinfo\nsession_keys a b\nsession_keys c\ncookie_name s\ncookie_domain .x.com\nsession_ttl 1h\npath_prefix /auth\nredirect_domains a.com .b.com *.c.com d.com:8080 e.com:*\nnon_wechat login\nheader_prefix X-U-\napi_base http://127.0.0.1:1\nopen_base http://127.0.0.1:2",
	"app_id",
	"bogus 1",
	"session_ttl 7d",
	"redirect_domains a/b",
	"app_id \"wx 1\"\n}\n}\nexample.org {\nwechat_auth /x {\napp_id y",
	"app_id `wx`",
	"app_id {\n}",
}

// FuzzCaddyfile runs arbitrary text inside `wechat_auth { … }` through
// UnmarshalCaddyfile and the whole caddyfile adapter: errors are fine,
// panics are not, and a config that adapts carries the handler.
func FuzzCaddyfile(f *testing.F) {
	for _, s := range fuzzCaddyfileSeeds {
		f.Add(s)
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	f.Fuzz(func(t *testing.T, body string) {
		// import reads files and globs: not this parser's business.
		if strings.Contains(body, "import") || len(body) > 2048 {
			return
		}
		block := "wechat_auth {\n" + body + "\n}\n"
		if tokens, err := caddyfile.Tokenize([]byte(block), "Caddyfile"); err == nil {
			var h Handler
			_ = h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens))
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _, _ = adapter.Adapt([]byte("example.com {\n"+block+"}\n"), nil)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("adapting took over 10s: %q", body)
		}
	})
}
