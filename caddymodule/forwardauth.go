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
// With a valid session both answer 200 with the identity headers, for the
// proxy to copy onto the upstream request. The forwarded headers count only
// when Caddy's trusted_proxies trusts the caller: an untrusted caller could
// otherwise steer the return URL and redirect_uri wherever it liked.

func (h *Handler) serveForwardAuth(w http.ResponseWriter, r *http.Request) {
	site, err := h.siteOrigin(r)
	if err != nil {
		writeBadHost(w)
		return
	}
	ret, method := "/", r.Method
	if isTrustedProxy(r) {
		if u := r.Header.Get("X-Forwarded-Uri"); u != "" {
			ret = u
		}
		if m := r.Header.Get("X-Forwarded-Method"); m != "" {
			method = m
		}
	}
	ret = safeReturnURL(ret, site, h.rules)
	if h.allowForward(w, r, site, ret) {
		return
	}
	if isAPIRequest(r) || (method != http.MethodGet && method != http.MethodHead) {
		writeJSONError(w, http.StatusUnauthorized, "unauthenticated", "sign in through WeChat at login_url, then retry", h.loginURL(site, ret, h.Scope))
		return
	}
	h.startLogin(w, r, site, ret, h.Scope, false)
}

func (h *Handler) serveAuthRequest(w http.ResponseWriter, r *http.Request) {
	site, err := h.siteOrigin(r)
	if err != nil {
		writeBadHost(w)
		return
	}
	ret := "/"
	if isTrustedProxy(r) {
		if u, err := url.Parse(r.Header.Get("X-Original-URL")); err == nil && u.Host != "" {
			if o, err := makeOrigin(u.Scheme, u.Host); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
				site, ret = o, u.RequestURI()
			}
		}
	}
	ret = safeReturnURL(ret, site, h.rules)
	if h.allowForward(w, r, site, ret) {
		return
	}
	login := h.loginURL(site, ret, h.Scope)
	w.Header().Set("Location", login)
	writeJSONError(w, http.StatusUnauthorized, "unauthenticated", "sign in through WeChat at login_url, then retry", login)
}

// allowForward answers the request when the outcome does not depend on the
// caller's protocol: a valid session (200 with identity), or a visitor
// outside WeChat under the non_wechat policy. It reports whether it answered.
func (h *Handler) allowForward(w http.ResponseWriter, r *http.Request, site origin, ret string) bool {
	if id := h.identityFrom(r); id != nil && h.scopeSatisfied(&id.sess, h.Scope) {
		repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		h.names.apply(w.Header(), repl, id)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return true
	}
	if isWeChat(r) {
		return false
	}
	switch h.NonWeChat {
	case nonWeChatAllow:
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return true
	case nonWeChatDeny, nonWeChatPage:
		h.refuseOutsideWeChat(w, r, absolute(site, ret))
		return true
	}
	return false
}
