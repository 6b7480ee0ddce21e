package wechatauth

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// What every request goes through first, once, in this order: the strip
// of whatever a client sent to pass for the gateway (stripIdentity,
// stripTrailers, stripEndpointReferer), the route table for the endpoints
// under path_prefix, and, for an endpoint that builds URLs, the request's
// origin (siteCheck). Then the gate (gate.go) or an endpoint takes over.

// ServeHTTP strips forged identity, answers the endpoints, and lets requests
// with a valid session through with their identity.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// A wechat_auth earlier in the chain (another directive of this site)
	// may have verified the identity already: its cookies are gone from the
	// request by now, so the identity travels in the request's vars, and
	// the headers it set survive the strip below (see stripIdentity).
	e := earlierOf(r)
	prior := e.id
	h.names.strip(r, e.set)

	if name, ok := endpointName(r.URL.Path, h.PathPrefix); ok {
		return serveRoute(w, r, h.routes, h.sites, name)
	}
	if h.assert != nil && h.assert.wellKnown && r.URL.Path == jwksPath {
		h.assert.serveJWKS(w, r)
		return nil
	}
	if len(h.protect) > 0 {
		match, err := h.protect.AnyMatchWithError(r)
		if err != nil {
			return caddyhttp.Error(http.StatusBadRequest, err)
		}
		if !match {
			// Not ours to protect, but a later directive's may be: hand the
			// verified identity on before our cookies leave the request, so
			// directive order never decides whether a visitor is known.
			if prior == nil {
				if id := h.sessions.identityFrom(r); id != nil {
					caddyhttp.SetVar(r.Context(), identityVar, id)
				}
			}
			stripOurCookies(r.Header, h.CookieName, h.gate.flowPrefix)
			return next.ServeHTTP(w, r)
		}
	}
	return h.gate.serveProtected(w, r, next, e)
}

// earlier is what a wechat_auth earlier in the request's chain left in its
// vars (identityVar): the identity it verified, and the headers it set from
// it when it admitted the request (an *admitted); an *identity alone when it
// only handed the identity on.
type earlier struct {
	id  *identity
	set *admitted
}

// earlierOf reads it from the request's vars.
func earlierOf(r *http.Request) earlier {
	switch v := caddyhttp.GetVar(r.Context(), identityVar).(type) {
	case *admitted:
		return earlier{id: v.id, set: v}
	case *identity:
		return earlier{id: v}
	}
	return earlier{}
}

// endpoint answers one endpoint. site is the request's origin, already
// checked (siteCheck) for the endpoints that build URLs. An error goes up
// Caddy's handler chain (handle_errors).
type endpoint func(w http.ResponseWriter, r *http.Request, site origin) error

// route is one entry of the table.
type route struct {
	serve endpoint
	site  bool // needs the request's origin (builds a URL from it)
}

// endpointName returns the name of the endpoint a path addresses under
// path_prefix.
func endpointName(path, prefix string) (string, bool) {
	if len(path) <= len(prefix)+1 || path[len(prefix)] != '/' || !strings.HasPrefix(path, prefix) {
		return "", false
	}
	return path[len(prefix)+1:], true
}

// serveRoute answers an endpoint: unknown names get the not-found page.
func serveRoute(w http.ResponseWriter, r *http.Request, routes map[string]route, sites siteCheck, name string) error {
	rt, ok := routes[name]
	if !ok {
		sites.pages.show(w, r, pageNotFound, pageValues{ActionURL: "/"})
		return nil
	}
	var site origin
	if rt.site {
		if site, ok = sites.of(w, r); !ok {
			return nil
		}
	}
	return rt.serve(w, r, site)
}

// isIdentityHeader reports whether a client-sent header could be taken for
// ours: any case, "_" or "." for "-", anything under our prefix, under
// X-WeCom- (wecom_session.go), and Remote-User (which php_fastcgi and CGI
// turn into REMOTE_USER). It does not allocate.
func (n *headerNames) isIdentityHeader(key string) bool {
	if len(key) >= len(n.prefix) && foldEqual(key[:len(n.prefix)], n.prefix) {
		return true
	}
	return (len(key) == len("remote-user") && foldEqual(key, "remote-user")) ||
		(n.extra != "" && foldEqual(key, n.extra)) ||
		(len(key) >= len(wecomHeaderFold) && foldEqual(key[:len(wecomHeaderFold)], wecomHeaderFold))
}

// foldEqual compares a header key with a normalized (lower case, "-") name,
// folding case and treating "_" and "." as "-".
func foldEqual(key, norm string) bool {
	if len(key) != len(norm) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' || c == '.' {
			c = '-'
		}
		if c != norm[i] {
			return false
		}
	}
	return true
}

// stripIdentity removes every client-sent header in our namespace. It runs
// on every request that reaches the handler, with or without a session, and
// whatever an earlier handler did, so an unprotected, anonymous or
// second-handler request cannot carry a forged identity upstream either.
// What an earlier wechat_auth handler of this request set (prior) stays:
// its values are held in that request's own array, which no client can
// produce, so "ours" is told apart from "the client's" by provenance, not by
// name.
func (n *headerNames) stripIdentity(h http.Header, prior *admitted) {
	for k, v := range h {
		if n.isIdentityHeader(k) && !prior.owns(v) {
			delete(h, k)
		}
	}
}

// strip removes from a request, in one place, everything a client could
// send to pass for the gateway: identity headers (stripIdentity), request
// trailers in our namespace (stripTrailers), and a Referer pointing at one
// of our endpoints (stripEndpointReferer). It runs first on every request
// the handler sees; prior is what an earlier wechat_auth set.
func (n *headerNames) strip(r *http.Request, prior *admitted) {
	n.stripIdentity(r.Header, prior)
	n.stripTrailers(r)
	stripEndpointReferer(r.Header, n.endpointPath)
}

// owns reports whether a header value is one a wechat_auth handler of this
// request set: held in its array, not merely equal text. No client can
// produce such a value.
func (a *admitted) owns(v []string) bool {
	if len(v) == 0 {
		return false
	}
	p := &v[0]
	for ; a != nil; a = a.prev {
		for i := range a.vals {
			if p == &a.vals[i] {
				return true
			}
		}
		if a.wecom.owns(p) {
			return true
		}
	}
	return false
}

// stripTrailers drops request trailers in our namespace: Caddy forwards
// request trailers to the upstream (reverse_proxy and php_fastcgi alike),
// and they arrive only once the body has been read, so the body is watched
// to strip them again at its end. Requests without trailers pay nothing.
func (n *headerNames) stripTrailers(r *http.Request) {
	if len(r.Trailer) == 0 || r.Body == nil {
		return
	}
	n.stripIdentity(r.Trailer, nil)
	r.Body = &trailerGuard{ReadCloser: r.Body, r: r, names: n}
}

type trailerGuard struct {
	io.ReadCloser
	r     *http.Request
	names *headerNames
}

func (g *trailerGuard) Read(p []byte) (int, error) {
	n, err := g.ReadCloser.Read(p)
	if err == io.EOF {
		g.names.stripIdentity(g.r.Trailer, nil)
	}
	return n, err
}

// stripEndpointReferer drops a Referer that points at one of our endpoints:
// the callback's query holds a WeChat code, a hand-back's a sealed identity,
// which the upstream has no business seeing. Browsers already omit it (those
// endpoints answer Referrer-Policy: no-referrer); this covers clients that
// do not.
func stripEndpointReferer(h http.Header, endpointPath string) {
	if ref := h["Referer"]; len(ref) > 0 && strings.Contains(ref[0], endpointPath) {
		delete(h, "Referer")
	}
}

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
	guard siteGuard     // nil: every valid origin
	pages *visitorPages // the handler's
}

func (sc siteCheck) of(w http.ResponseWriter, r *http.Request) (origin, bool) {
	o, err := siteOrigin(r)
	if err != nil {
		sc.pages.show(w, r, pageBadHost, pageValues{})
		return origin{}, false
	}
	if sc.guard != nil && sc.guard.refuseSite(w, r, o) {
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

// parseOrigin reads an Origin header: scheme://host[:port], nothing else.
func parseOrigin(v string) (origin, bool) {
	scheme, hostport, ok := strings.Cut(v, "://")
	if !ok || (scheme != "http" && scheme != "https") || hostport == "" || strings.ContainsAny(hostport, "/?#@\\") {
		return origin{}, false
	}
	o, err := makeOrigin(scheme, hostport)
	return o, err == nil
}
