package wechatauth

import (
	"net/http"
	"net/url"

	"github.com/caddyserver/caddy/v2"
)

// Forward-auth lets another proxy ask whether a request may pass:
//
//	<path_prefix>/auth          Caddy forward_auth, Traefik ForwardAuth: the original
//	                            URL comes from X-Forwarded-Proto/Host/Uri; an
//	                            unauthenticated page request gets the same 302 to
//	                            WeChat (with its flow cookie) a protected page would.
//	<path_prefix>/auth_request  nginx auth_request, which understands only 2xx, 401
//	                            and 403: 401 with a Location header holding the login
//	                            URL; the original URL comes from X-Original-URL.
//
// Both render the same policy as the in-path handler (policy.go). With a
// valid session both answer 200 with the identity headers, for the proxy to
// copy onto the upstream request. The forwarded headers count only when
// Caddy's trusted_proxies trusts the caller: an untrusted caller could
// otherwise steer the return URL and redirect_uri wherever it liked.

func (g *gate) serveForwardAuth(w http.ResponseWriter, r *http.Request, site origin) error {
	ret, method := "/", r.Method
	if isTrustedProxy(r) {
		if u := r.Header.Get("X-Forwarded-Uri"); u != "" {
			ret = u
		}
		if m := r.Header.Get("X-Forwarded-Method"); m != "" {
			method = m
		}
	}
	ret = g.links.returnURL(ret, site)
	id, tv := g.consult(r)
	d := g.policy.decide(r, id, method)
	switch d.verdict {
	case admit, admitAnonymous:
		g.writeAllowed(w, r, d, tv)
		return nil
	case signIn:
		return g.logins.signIn(w, r, site, d.flow, ret, http.StatusUnauthorized)
	}
	return g.refuse(w, r, d, site, ret)
}

func (g *gate) serveAuthRequest(w http.ResponseWriter, r *http.Request, site origin) error {
	ret := "/"
	if isTrustedProxy(r) {
		if u, err := url.Parse(r.Header.Get("X-Original-URL")); err == nil && u.Host != "" {
			if o, err := makeOrigin(u.Scheme, u.Host); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
				site, ret = o, u.RequestURI()
			}
		}
	}
	ret = g.links.returnURL(ret, site)
	// auth_request's subrequest carries no method of its own worth trusting:
	// nginx turns every 401 into the login redirect anyway.
	id, tv := g.consult(r)
	d := g.policy.decide(r, id, http.MethodGet)
	switch d.verdict {
	case admit, admitAnonymous:
		g.writeAllowed(w, r, d, tv)
		return nil
	case signIn, signInForm, signInAPI:
		w.Header().Set("Location", g.links.loginURL(site, ret, g.links.scope))
		g.writeSignInJSON(w, site, ret)
		return nil
	}
	return g.refuse(w, r, d, site, ret)
}

// consult is the session of a forward-auth request, as the token keeper
// sees it (webtoken_gate.go).
func (g *gate) consult(r *http.Request) (*identity, webTokenView) {
	id := g.sessions.identityFrom(r)
	if g.tokens == nil {
		return id, webTokenView{}
	}
	return g.tokens.consult(r, id)
}

// writeAllowed is the 200 that lets a request through, with the identity
// headers for the front proxy to copy.
func (g *gate) writeAllowed(w http.ResponseWriter, r *http.Request, d decision, tv webTokenView) {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if g.tokens != nil {
		if d.verdict != admit || d.id == nil {
			tv = webTokenView{}
		} else {
			d.id = g.tokens.profiled(w, r, d.id, tv, false)
		}
	}
	a := g.names.answer(w.Header(), repl, d)
	if g.tokens != nil {
		g.tokens.pass(w.Header(), a, tv, true)
	}
	if g.assert != nil {
		// Present even when empty, so a front proxy copying it overwrites
		// a client's copy.
		a.set(w.Header(), g.assert.header, slotAssertion, "")
		if d.verdict == admit && d.id != nil {
			g.assert.assertIdentity(r, w.Header(), a)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
