package wechatauth

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// Regression tests for defects found by a review of the module (issue 7):
// each failed before its fix.

// Regression (found by review of redirect.go makeOrigin/splitHostPort/validHostname): an IPv6-literal
// host with a port is refused.
func TestRegressionIPv6LiteralWithPortIsAValidSite(t *testing.T) {
	for _, hp := range []string{"[::1]:8443", "[2001:db8::1]:8080", "[::1]:443"} {
		if _, err := makeOrigin("https", hp); err != nil {
			t.Errorf("makeOrigin(https, %q): %v", hp, err)
		}
	}
	if got := safeReturnURL("https://[::1]:8443/x", origin{"https", "[::1]:8443"}, nil); got != "https://[::1]:8443/x" {
		t.Errorf("same-site IPv6 URL with port: got %q", got)
	}
	if got := safeReturnURL("https://[::1]:443/x", origin{"https", "[::1]"}, nil); got != "https://[::1]:443/x" {
		t.Errorf("same-site IPv6 URL with default port: got %q", got)
	}
}

// Regression (found by review of redirect.go parseDomainRule/allows): a rule naming a scheme's
// default port never matches, because the URL's default port is dropped
// before comparing.
func TestRegressionRedirectDomainWithDefaultPortMatches(t *testing.T) {
	r80, _ := parseDomainRule("example.com:80")
	r443, _ := parseDomainRule("example.com:443")
	site := origin{"https", "allowed.com"}
	for _, c := range []struct {
		raw  string
		rule domainRule
	}{
		{"http://example.com/", r80}, {"http://example.com:80/", r80},
		{"https://example.com/", r443}, {"https://example.com:443/", r443},
	} {
		if got := safeReturnURL(c.raw, site, []domainRule{c.rule}); got != c.raw {
			t.Errorf("rule %s, %s: got %q", c.rule.original, c.raw, got)
		}
	}
}

// Regression (found by review of redirect.go parseDomainRule): entries that can never match are
// accepted silently.
func TestRegressionParseDomainRuleRefusesNonHostnames(t *testing.T) {
	for _, s := range []string{"例子.com", "a<b.com", "exa_mple.com", "foo..bar", "аllowed.com"} {
		if _, err := parseDomainRule(s); err == nil {
			t.Errorf("parseDomainRule(%q) accepted an entry that can never match", s)
		}
	}
}

// Regression (found by review of identity.go newIdentity, flow.go fillProfile): the avatar URL from
// WeChat is not checked for control characters; the upstream request then
// carries an invalid header value (Go's transport refuses it: 502 for the
// session's whole lifetime).
func TestRegressionAvatarHeaderValueIsAlwaysValid(t *testing.T) {
	n := newHeaderNames(defaultHeaderPrefix)
	s := Session{AppID: "wx1", OpenID: "o", Scope: "snsapi_userinfo", Avatar: "https://thirdwx.qlogo.cn/a\r\nX-Evil: 1"}
	h := http.Header{}
	n.apply(h, nil, newAdmitted(newIdentity(s, sourceMP), nil))
	for k, vs := range h {
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				t.Errorf("header %s = %q is not a valid header value", k, v)
			}
		}
	}
}

// Regression (found by review of session.go cookieCodec.encode): with a block key, encode encrypts
// the caller's payload slice in place (securecookie's NopEncoder hands it
// through). Callers today pass fresh slices, so this is latent.
func TestRegressionCookieCodecEncodeLeavesPayloadIntact(t *testing.T) {
	c := newCookieCodec([][]byte{make([]byte, 32), make([]byte, 32)}, 3600e9)
	p := []byte("payload")
	if _, err := c.encode("s", p); err != nil {
		t.Fatal(err)
	}
	if string(p) != "payload" {
		t.Errorf("encode changed its input to %q", p)
	}
}

// Regression (found by review of handler.go setDefaults/Validate): path_prefix "/" is trimmed to ""
// and then reported as `path_prefix "" must be a path starting with /`.
func TestRegressionPathPrefixSlashErrorNamesWhatWasWritten(t *testing.T) {
	h := Handler{AppID: "wx1", PathPrefix: "/"}
	h.setDefaults()
	err := h.Validate()
	if err == nil || !strings.Contains(err.Error(), `"/"`) {
		t.Errorf("Validate() = %v, want it to quote the \"/\" the operator wrote", err)
	}
}

// Regression (found by review of handler.go Validate, identity.go stripIdentity): header_prefix is
// only checked to be a token, so a short prefix makes stripIdentity delete
// unrelated request headers on every request: "X-" removes
// X-Forwarded-Proto/Host/For and X-Requested-With (before siteOrigin and
// isAPIRequest read them); "C" or "Co" removes Cookie, so no session is ever
// seen and every visit re-authorizes.
func TestRegressionShortHeaderPrefixIsRefused(t *testing.T) {
	for _, p := range []string{"X-", "X", "C", "Co", "Cookie", "x_"} {
		h := Handler{AppID: "wx1", HeaderPrefix: p}
		h.setDefaults()
		if err := h.Validate(); err == nil {
			n := newHeaderNames(p)
			hdr := http.Header{"Cookie": {"a=b"}, "X-Forwarded-Proto": {"https"}, "X-Requested-With": {"XMLHttpRequest"}}
			n.stripIdentity(hdr, nil)
			t.Errorf("header_prefix %q accepted; it strips these request headers: left %v", p, hdr)
		}
	}
}
