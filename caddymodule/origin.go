package wechatauth

import (
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// origin is a site's scheme and host[:port] as the browser sees it.
type origin struct {
	Scheme string // "http" or "https"
	Host   string // lower-case host, with port only when not the scheme's default
}

func (o origin) String() string { return o.Scheme + "://" + o.Host }

// absolute makes a return URL relative to the site absolute.
func (o origin) absolute(ret string) string {
	if strings.HasPrefix(ret, "/") {
		return o.String() + ret
	}
	return ret
}

// siteCheck gives the origin of a request that builds a URL (a
// redirect_uri, a login or return link), once, in the dispatcher. When the
// host is not a valid host name it answers the request with a page saying
// so and reports false; so does a flow that signs in on some origins only
// (a relay client: its relay_key origins), for any other.
type siteCheck struct {
	guard siteGuard // nil: every valid origin
}

func (sc siteCheck) of(w http.ResponseWriter, r *http.Request) (origin, bool) {
	o, err := siteOrigin(r)
	if err != nil {
		writeBadHost(w)
		return origin{}, false
	}
	if sc.guard != nil && sc.guard.refuseSite(w, o) {
		return origin{}, false
	}
	return o, true
}

// siteOrigin is this site's scheme and host as the browser sees them. The
// X-Forwarded-Proto/Host headers count only when Caddy's trusted_proxies
// trusts the client; otherwise anyone could steer redirect_uri and the
// return URL to a host of their choosing.
func siteOrigin(r *http.Request) (origin, error) {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if isTrustedProxy(r) {
		if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if fh := firstValue(r.Header.Get("X-Forwarded-Host")); fh != "" {
			host = fh
		}
	}
	return makeOrigin(scheme, host)
}

// isTrustedProxy reports whether Caddy's trusted_proxies trusts the client,
// the only case where forwarded headers may say where the request came from.
func isTrustedProxy(r *http.Request) bool {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	return trusted
}

func makeOrigin(scheme, hostport string) (origin, error) {
	hostport = strings.ToLower(hostport)
	host, port := splitHostPort(hostport, scheme)
	if host == "" || !validHostname(host) || (port != "" && !isPort(port)) {
		return origin{}, errors.New("invalid host")
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return origin{Scheme: scheme, Host: host}, nil
}

func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// splitHostPort lower-cases nothing; it drops the scheme's default port so
// "https://a:443/" and "https://a/" compare equal.
func splitHostPort(hostport, scheme string) (host, port string) {
	host, port = hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	// IPv6 literals compare without brackets, whether a port was split off
	// ("[::1]:8443" → "::1") or not ("[::1]").
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(host, "."), port
}

// validHostname admits ASCII host names and IP literals only. A Unicode (IDN)
// host is refused rather than guessed at: browsers map it to punycode and
// homographs make a visual comparison meaningless.
func validHostname(h string) bool {
	if strings.Contains(h, ":") || strings.HasPrefix(h, "[") {
		return net.ParseIP(strings.Trim(h, "[]")) != nil
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func isPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}
