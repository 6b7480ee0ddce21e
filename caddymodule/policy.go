package wechatauth

import (
	"net/http"
	"net/url"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// The policy: what a request to a protected route gets. decide is the only
// place that weighs the session and its scope, non_wechat, the kind of
// request (API call, page, form POST) and the follower rules; the in-path
// handler (serveProtected), /auth and /auth_request (forwardauth.go) only
// render its answer in their own protocol, so every deployment shape keeps
// the same promises.

// outcome is what the policy gives a request.
type outcome uint8

const (
	// admit: a session good enough for the route (and a follower, when
	// require_subscribe asks): the identity goes upstream.
	admit outcome = iota
	// admitAnonymous: outside WeChat under non_wechat allow; the request
	// continues without identity.
	admitAnonymous
	// outsideWeChat: outside WeChat under non_wechat page or deny, or a
	// phone's browser under qrconnect: 403, as a page (the open-in-WeChat
	// page, except under deny) or JSON for API requests.
	outsideWeChat
	// signInAPI: no sufficient session and a redirect would be useless to
	// the caller (fetch/XHR, Accept: application/json): 401 JSON, login_url.
	signInAPI
	// signInForm: no sufficient session on a form POST: redirecting would
	// lose what the visitor typed, so a 401 page links to a fresh login.
	signInForm
	// signIn: no sufficient session on a page: authorize through WeChat.
	signIn
	// signInDesktop: no sufficient session on a page outside WeChat under
	// non_wechat qrconnect: scan-to-login with desktop_login (desktop.go).
	signInDesktop
	// notFollower: require_subscribe and the visitor does not follow the
	// account: a page asking them to (403 JSON for API requests).
	notFollower
	// followerUnknown: require_subscribe and WeChat could not say: 503.
	followerUnknown
	numOutcomes // the count of outcomes above (metrics.go labels each)
)

// follow is the follower status a decision forwards.
type follow uint8

const (
	followUnknown follow = iota // not looked up, or WeChat could not say
	followYes
	followNo
)

// decision is the policy's answer. It is a small value: deciding allocates
// nothing on the authenticated path.
type decision struct {
	outcome outcome
	id      *identity // the verified identity, when there is one
	follow  follow
}

// decide answers a request whose verified identity (nil without a session)
// is id; method is the original request's method (forward-auth callers say
// it in X-Forwarded-Method).
func (h *Handler) decide(r *http.Request, id *identity, method string) decision {
	d := h.decision(r, id, method)
	procMetrics.decided(d.outcome)
	return d
}

func (h *Handler) decision(r *http.Request, id *identity, method string) decision {
	if id != nil && h.scopeSatisfied(&id.sess, h.Scope) {
		if h.followers == nil || !followerRulesApply(&id.sess) {
			return decision{outcome: admit, id: id}
		}
		return h.decideFollower(r, id)
	}
	if !isWeChat(r) {
		if o, ok := h.outsideWeChatOutcome(r); ok {
			return decision{outcome: o, id: id}
		}
	}
	switch {
	case isAPIRequest(r):
		return decision{outcome: signInAPI, id: id}
	case method != http.MethodGet && method != http.MethodHead:
		return decision{outcome: signInForm, id: id}
	case h.desktopFor(r):
		return decision{outcome: signInDesktop, id: id}
	}
	return decision{outcome: signIn, id: id}
}

// outsideWeChatOutcome is non_wechat for a visitor outside the WeChat
// client; false means "authorize anyway" (login, or qrconnect with the
// website app). Under qrconnect a phone's browser gets the open-in-WeChat
// page: WeChat's QR code on its own screen is a dead end, while the page
// tells the visitor to open the link in WeChat, where they sign in.
func (h *Handler) outsideWeChatOutcome(r *http.Request) (outcome, bool) {
	switch h.NonWeChat {
	case nonWeChatAllow:
		return admitAnonymous, true
	case nonWeChatDeny, nonWeChatPage:
		return outsideWeChat, true
	case nonWeChatQRConnect:
		if isPhone(r) {
			return outsideWeChat, true
		}
	}
	return 0, false
}

// decideFollower applies subscriber_info and require_subscribe to a visitor
// with a sufficient session. Without require_subscribe a failed lookup only
// leaves the status unknown.
func (h *Handler) decideFollower(r *http.Request, id *identity) decision {
	d := decision{outcome: admit, id: id}
	sub, unionID, err := h.followers.subscribed(r.Context(), id.sess.OpenID, false)
	switch {
	case err != nil:
		if h.RequireSubscribe {
			d.outcome = followerUnknown
		}
	case sub:
		d.follow = followYes
		if id.unionID == nil && unionID != nil {
			// A snsapi_base session has no unionid; a follower's comes from
			// user/info. The memoized identity is shared, so copy it.
			withUnion := *id
			withUnion.unionID, withUnion.phUnionID = unionID, unionID[0]
			withUnion.placeholders = withUnion.placeholder // answers from the copy
			d.id = &withUnion
		}
	default:
		d.follow = followNo
		if h.RequireSubscribe {
			d.outcome = notFollower
		}
	}
	return d
}

// scopeSatisfied reports whether a session is enough for a route needing
// scope. After a userinfo failure a base session is accepted for a while
// rather than sending the visitor round WeChat again and again.
func (h *Handler) scopeSatisfied(s *Session, scope string) bool {
	// A desktop session (snsapi_login) has the profile snsapi_userinfo gives.
	if scope != wechat.ScopeUserInfo || s.Scope == wechat.ScopeUserInfo || s.Scope == wechat.ScopeLogin {
		return true
	}
	return h.now().Unix() < s.NoUpgradeUntil
}

// serveProtected renders the decision for a request inside the route (the
// in-path handler): the identity goes upstream as request headers.
func (h *Handler) serveProtected(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, prior *identity) error {
	id := prior
	if id == nil || !h.ownSession(&id.sess) {
		id = h.identityFrom(r)
	}
	d := h.decide(r, id, r.Method)
	switch d.outcome {
	case admit:
		repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		h.names.apply(r.Header, repl, d.id)
		if h.followers != nil {
			h.names.applyFollow(r.Header, repl, d.follow)
		}
		if h.assert != nil {
			h.assertIdentity(r, r.Header, d.id)
		}
		caddyhttp.SetVar(r.Context(), identityVar, d.id)
		stripOurCookies(r.Header, h.CookieName, h.flowPrefix)
		return next.ServeHTTP(w, r)
	case admitAnonymous:
		if d.id != nil && prior == nil {
			caddyhttp.SetVar(r.Context(), identityVar, d.id)
		}
		stripOurCookies(r.Header, h.CookieName, h.flowPrefix)
		return next.ServeHTTP(w, r)
	}
	site, ok := h.site(w, r)
	if !ok {
		return nil
	}
	ret := h.returnURL(r.URL.RequestURI(), site)
	if d.outcome == signIn || d.outcome == signInDesktop {
		h.signIn(w, r, site, ret, h.loginScope(d.outcome), http.StatusOK)
		return nil
	}
	h.writeRefusal(w, r, d, site, ret)
	return nil
}

// signIn renders the signIn outcome for a page navigation: the login
// starts at once (to WeChat, or on a relay client to the relay: startFlow
// knows which), or with keep_fragment through the page that first adds the
// #fragment the server never saw. pageStatus is that page's status: a
// forward-auth caller lets any 2xx through, so /auth gives it as 401.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, site origin, ret, scope string, pageStatus int) {
	if h.KeepFragment {
		// /login picks the desktop flow again from the User-Agent.
		writeFragmentPage(w, pageStatus, fragmentLoginURL(h.PathPrefix, safeReturnURL(ret, site, h.rules), h.Scope, h.Scope))
		return
	}
	trigger := triggerPage
	if pageStatus != http.StatusOK {
		trigger = triggerForwardAuth // /auth answers its pages as 401
	}
	h.startLogin(w, r, site, ret, scope, trigger)
}

// writeRefusal renders the outcomes every protocol answers alike: refusals
// outside WeChat, 401 for API and form requests, the follower answers.
// ret is the original request's URL, already through safeReturnURL: every
// link and Location built from request data is.
func (h *Handler) writeRefusal(w http.ResponseWriter, r *http.Request, d decision, site origin, ret string) {
	switch d.outcome {
	case outsideWeChat:
		// 403 either way: forward-auth callers let any 2xx through.
		switch {
		case isAPIRequest(r):
			writeJSONError(w, http.StatusForbidden, "not_wechat", "open this page inside the WeChat client", "")
		case h.NonWeChat == nonWeChatDeny:
			writeDenied(w)
		default:
			h.writeOpenInWeChat(w, site.absolute(ret))
		}
	case signInAPI:
		h.writeSignInJSON(w, site, ret)
	case signInForm:
		back := h.returnURL(r.Header.Get("Referer"), site)
		writePage(w, http.StatusUnauthorized, "error", page{
			Heading:     "登录已过期",
			Lines:       []string{"你的登录已过期，这次提交没有保存。请先重新登录，再返回上一页重新提交；已填写的内容通常仍在页面上。"},
			ActionURL:   h.loginURL(site, back, h.Scope),
			ActionLabel: "重新登录",
		})
	case notFollower:
		if isAPIRequest(r) {
			writeJSONError(w, http.StatusForbidden, "not_subscribed", "follow the Official Account in WeChat, then retry", "")
			return
		}
		h.writeSitePage(w, http.StatusForbidden, "subscribe", page{
			Title:     "请先关注公众号",
			QRImage:   h.SubscribeQR,
			ActionURL: h.PathPrefix + "/subscribed?rd=" + url.QueryEscape(ret),
		})
	case followerUnknown:
		if isAPIRequest(r) {
			writeJSONError(w, http.StatusServiceUnavailable, "wechat_unavailable", "WeChat did not answer whether you follow the account; retry in a moment", "")
			return
		}
		writeWeChatDown(w, ret)
	}
}

// writeSignInJSON is the 401 an API client gets: where to sign in, and
// that it should retry after.
func (h *Handler) writeSignInJSON(w http.ResponseWriter, site origin, ret string) {
	writeJSONError(w, http.StatusUnauthorized, "unauthenticated", "sign in through WeChat at login_url, then retry", h.loginURL(site, ret, h.Scope))
}
