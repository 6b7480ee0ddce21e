package wechatauth

import (
	"net/http"
	"strings"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// The policy: what a request to a protected route gets. decide is the only
// place that weighs the session and its scope, which flow (if any) signs
// the visitor in, non_wechat, the kind of request (API call, page, form
// POST) and the follower rules; the in-path handler, /auth and
// /auth_request (gate.go, forwardauth.go) only render its answer in their
// own protocol, so every deployment shape keeps the same promises. A
// decision carries no visitor text: the pages say it.

// verdict is what the policy gives a request.
type verdict uint8

const (
	// admit: a session good enough for the route (and a follower, when
	// require_subscribe asks): the identity goes upstream.
	admit verdict = iota
	// admitAnonymous: no flow signs this visitor in and non_wechat is
	// allow; the request continues without identity.
	admitAnonymous
	// outsideWeChat: no flow signs this visitor in (a browser outside
	// WeChat under non_wechat page or deny, or a phone's browser under
	// qrconnect): 403, as a page (the open-in-WeChat page, except under
	// deny) or JSON for API requests.
	outsideWeChat
	// signInAPI: no sufficient session and a redirect would be useless to
	// the caller (fetch/XHR, Accept: application/json): 401 JSON, login_url.
	signInAPI
	// signInForm: no sufficient session on a form POST: redirecting would
	// lose what the visitor typed, so a 401 page links to a fresh login.
	signInForm
	// signIn: no sufficient session on a page: the decision's flow signs
	// the visitor in.
	signIn
	// notFollower: require_subscribe and the visitor does not follow the
	// account: a page asking them to (403 JSON for API requests).
	notFollower
	// followerUnknown: require_subscribe and WeChat could not say: 503.
	followerUnknown
	numVerdicts // the count of verdicts above (metrics.go labels each)
)

// followStatus is the follower status a decision forwards
// (X-WeChat-Subscribed).
type followStatus uint8

const (
	followUnknown followStatus = iota // not looked up, or WeChat could not say
	following
	notFollowing
)

// decision is the policy's answer. It is a small value: deciding allocates
// nothing on the authenticated path.
type decision struct {
	verdict verdict
	id      *identity // the verified identity, when there is one
	follow  followStatus
	flow    signInFlow // signIn: the flow that signs the visitor in
}

// policy holds what decide weighs besides the request.
type policy struct {
	scope            string // the scope protected routes need
	nonWeChat        string
	requireSubscribe bool
	followers        *followers // nil without subscriber_info/require_subscribe
	followersApp     string     // the account whose openids user/info answers for
	logins           *logins    // which flow signs a visitor in
	now              func() time.Time
}

// decide answers a request whose verified identity (nil without a session)
// is id; method is the original request's method (forward-auth callers say
// it in X-Forwarded-Method).
func (p *policy) decide(r *http.Request, id *identity, method string) decision {
	d := p.decision(r, id, method)
	procMetrics.decided(d.verdict, d.flow)
	return d
}

func (p *policy) decision(r *http.Request, id *identity, method string) decision {
	if id != nil && satisfies(&id.sess, p.scope, p.now) {
		if p.followers == nil || id.sess.AppID != p.followersApp {
			return decision{verdict: admit, id: id}
		}
		return p.decideFollower(r, id)
	}
	fl := p.logins.flowFor(r)
	switch {
	case fl == nil:
		return decision{verdict: p.nobodySignsIn(), id: id}
	case isAPIRequest(r):
		return decision{verdict: signInAPI, id: id}
	case method != http.MethodGet && method != http.MethodHead:
		return decision{verdict: signInForm, id: id}
	}
	return decision{verdict: signIn, id: id, flow: fl}
}

// nobodySignsIn is the verdict for a visitor no flow signs in: non_wechat
// allow lets them through anonymously, page and deny refuse them.
func (p *policy) nobodySignsIn() verdict {
	if p.nonWeChat == nonWeChatAllow {
		return admitAnonymous
	}
	return outsideWeChat
}

// decideFollower applies subscriber_info and require_subscribe to a visitor
// with a sufficient session. Without require_subscribe a failed lookup only
// leaves the status unknown.
func (p *policy) decideFollower(r *http.Request, id *identity) decision {
	d := decision{verdict: admit, id: id}
	sub, unionID, err := p.followers.subscribed(r.Context(), id.sess.OpenID, false)
	switch {
	case err != nil:
		if p.requireSubscribe {
			d.verdict = followerUnknown
		}
	case sub:
		d.follow = following
		if id.unionID == "" && len(unionID) > 0 {
			// A snsapi_base session has no unionid; a follower's comes from
			// user/info. The memoized identity is shared, so copy it.
			withUnion := *id
			withUnion.unionID, withUnion.phUnionID = unionID[0], unionID[0]
			withUnion.placeholders = withUnion.placeholder // answers from the copy
			d.id = &withUnion
		}
	default:
		d.follow = notFollowing
		if p.requireSubscribe {
			d.verdict = notFollower
		}
	}
	return d
}

// satisfies reports whether a session is enough for a route needing
// scope: a route needing a profile (snsapi_userinfo) takes a session of
// any scope that has one (snsapi_userinfo; a website app's snsapi_login).
// After a userinfo failure a snsapi_base session is accepted for a while
// rather than sending the visitor round WeChat again and again.
func satisfies(s *Session, scope string, now func() time.Time) bool {
	if scope != wechat.ScopeUserInfo || s.Scope != wechat.ScopeBase {
		return true
	}
	return now().Unix() < s.NoUpgradeUntil
}

// The kind of visitor and request the policy weighs, from the request alone.

// isWeChat reports whether the request comes from the WeChat client that can
// complete Official Account authorization: its in-app browser on phones and
// desktop. WeCom (企业微信) also says MicroMessenger but is not that client,
// so it is tested first (docs/wechat.md §7).
func isWeChat(r *http.Request) bool {
	ua := r.Header.Get("User-Agent")
	if strings.Contains(ua, "wxwork/") {
		return false
	}
	return strings.Contains(ua, "MicroMessenger/")
}

// isPhone reports whether the browser runs on a phone: "Mobi" in the
// User-Agent, the usual test (iPhone Safari, Android phones' browsers;
// tablets leave it out). Outside WeChat a phone cannot use desktop_login:
// the website app's QR code would be on the screen of the phone that has to
// scan it.
func isPhone(r *http.Request) bool {
	return strings.Contains(r.Header.Get("User-Agent"), "Mobi")
}

// isAPIRequest reports whether a redirect would be useless to the caller:
// fetch/XHR calls and clients asking for JSON get a 401 with login_url.
func isAPIRequest(r *http.Request) bool {
	if strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") {
		return true
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// isNavigation reports whether the request may be answered with a redirect
// without losing anything: a form POST redirected to WeChat would come back
// as a GET and lose what the visitor typed.
func isNavigation(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Method == http.MethodHead
}
