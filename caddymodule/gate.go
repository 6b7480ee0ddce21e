package wechatauth

import (
	"net/http"
	"net/url"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// gate renders the policy's decisions (policy.go) in each of the ways a
// request can ask: inside the route (serveProtected), through another
// proxy's forward-auth (forwardauth.go), and through the endpoints a
// visitor uses to sign in and out.
type gate struct {
	policy      *policy
	logins      *logins
	sessions    *sessions
	links       *links
	names       *headerNames
	followers   *followers       // nil without subscriber_info/require_subscribe
	assert      *assertionSigner // nil without assertion
	tokens      *webTokenUse     // nil without pass_access_token, verify_interval, profile_ttl
	sites       *siteCheck       // the handler's (the dispatcher's)
	pages       *visitorPages
	flowPrefix  string
	nonWeChat   string
	subscribeQR string
	wecom       bool // a WeCom site: its outsiders are told to open WeCom
}

// serveProtected renders the decision for a request inside the route (the
// in-path handler): the identity goes upstream as request headers.
func (g *gate) serveProtected(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, e earlier) error {
	prior := e.id
	id := prior
	if id == nil {
		id = g.sessions.identityFrom(r)
	} else if _, ok := g.sessions.owner(&id.sess); !ok {
		id = g.sessions.identityFrom(r)
	}
	var tv webTokenView
	if g.tokens != nil {
		id, tv = g.tokens.consult(r, id)
	}
	d := g.policy.decide(r, id, r.Method)
	switch d.verdict {
	case admit:
		repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		if g.tokens != nil {
			d.id = g.tokens.profiled(w, r, d.id, tv, true)
		}
		a := newAdmitted(d.id, e.set) // the one allocation of an admitted request
		g.names.apply(r.Header, repl, a)
		if g.tokens != nil {
			g.tokens.pass(r.Header, a, tv, false)
		}
		if g.followers != nil {
			g.names.applyFollow(r.Header, repl, a, d.follow)
		}
		if g.assert != nil {
			g.assert.assertIdentity(r, r.Header, a)
		}
		caddyhttp.SetVar(r.Context(), identityVar, a)
		stripOurCookies(r.Header, g.sessions.name, g.flowPrefix)
		return next.ServeHTTP(w, r)
	case admitAnonymous:
		if d.id != nil && prior == nil {
			caddyhttp.SetVar(r.Context(), identityVar, d.id)
		}
		stripOurCookies(r.Header, g.sessions.name, g.flowPrefix)
		return next.ServeHTTP(w, r)
	}
	site, ok := g.sites.of(w, r)
	if !ok {
		return nil
	}
	ret := g.links.returnURL(r.URL.RequestURI(), site)
	if d.verdict == signIn {
		return g.logins.signIn(w, r, site, d.flow, ret, http.StatusOK)
	}
	return g.refuse(w, r, d, site, ret)
}

// refuse renders the verdicts every protocol answers alike: refusals
// outside WeChat, 401 for API and form requests, the follower answers.
// ret is the original request's URL, already through safeReturnURL: every
// link and Location built from request data is.
func (g *gate) refuse(w http.ResponseWriter, r *http.Request, d decision, site origin, ret string) error {
	// Every refusal is 403 or more: forward-auth callers let any 2xx through.
	switch d.verdict {
	case outsideWeChat:
		switch {
		case g.wecom && g.nonWeChat != nonWeChatDeny:
			g.pages.show(w, r, pageOpenInWeCom, pageValues{}) // a WeCom site (wecom_flow.go)
		case g.nonWeChat == nonWeChatDeny:
			g.pages.show(w, r, pageDenied, pageValues{})
		default:
			g.pages.show(w, r, pageOpenInWeChat, pageValues{PageURL: site.absolute(ret)})
		}
	case signInAPI:
		g.writeSignInJSON(w, site, ret)
	case signInForm:
		back := g.links.returnURL(r.Header.Get("Referer"), site)
		g.pages.show(w, r, pageFormExpired, pageValues{ActionURL: g.links.loginURL(site, back, g.links.scope)})
	case notFollower:
		g.pages.show(w, r, pageSubscribe, pageValues{QRImage: g.subscribeQR,
			ActionURL: g.links.pathPrefix + "/subscribed?rd=" + url.QueryEscape(ret)})
	case followerUnknown:
		g.pages.show(w, r, pageFollowerUnknown, pageValues{ActionURL: ret})
	}
	return nil
}

// writeSignInJSON is the 401 an API client gets: where to sign in, and
// that it should retry after.
func (g *gate) writeSignInJSON(w http.ResponseWriter, site origin, ret string) {
	writePageJSON(w, pageSignIn, pageValues{ActionURL: g.links.loginURL(site, ret, g.links.scope)})
}

// serveLogin starts authorization explicitly: GET <path_prefix>/login?rd=URL
// [&scope=snsapi_userinfo]. It authorizes afresh even over a valid session:
// the callback then replaces whatever session cookie the browser held, so a
// cookie planted by someone else (session fixation) does not survive a login.
func (g *gate) serveLogin(w http.ResponseWriter, r *http.Request, site origin) error {
	q := r.URL.Query()
	ret := g.links.returnURL(q.Get("rd"), site)
	scope := g.links.scope
	if q.Get("scope") == wechat.ScopeUserInfo {
		scope = wechat.ScopeUserInfo
	}
	fl := g.logins.flowFor(r)
	if fl == nil {
		if v := g.policy.nobodySignsIn(); v == admitAnonymous {
			redirect(w, r, ret)
			return nil
		}
		return g.refuse(w, r, decision{verdict: outsideWeChat}, site, ret)
	}
	return g.logins.start(w, r, site, fl, ret, scope, triggerLogin)
}

// serveLogout ends the session: GET <path_prefix>/logout?rd=URL works from a
// plain link in a menu or page. rd is validated like every return URL.
func (g *gate) serveLogout(w http.ResponseWriter, r *http.Request, site origin) error {
	if id := g.sessions.identityFrom(r); id != nil {
		// Ends this session on every replica, not only in this browser: a
		// copied cookie stops working too.
		g.sessions.revoke(r.Context(), &id.sess)
		if g.tokens != nil {
			g.tokens.keeper.forget(r.Context(), id.sess.ID)
		}
	}
	g.sessions.clear(w, r, site)
	redirect(w, r, g.links.returnURL(r.URL.Query().Get("rd"), site))
	return nil
}

// serveSubscribed is the "我已关注" button: it checks again with WeChat,
// bypassing the cache, and returns to the page.
func (g *gate) serveSubscribed(w http.ResponseWriter, r *http.Request, site origin) error {
	ret := g.links.returnURL(r.URL.Query().Get("rd"), site)
	id := g.sessions.identityFrom(r)
	if id == nil || g.followers == nil || id.sess.AppID != g.policy.followersApp {
		redirect(w, r, ret)
		return nil
	}
	if _, _, err := g.followers.subscribed(r.Context(), id.sess.OpenID, true); err != nil {
		g.pages.show(w, r, pageFollowerUnknown, pageValues{ActionURL: g.links.pathPrefix + "/subscribed?rd=" + url.QueryEscape(ret)})
		return nil
	}
	redirect(w, r, ret)
	return nil
}
