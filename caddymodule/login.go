package wechatauth

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// The shared part of every login, whatever the flow (signin.go): a new
// state sealed in a flow cookie of its own, the browser sent where the flow
// begins, and at the end (callback.go, or a flow's own endpoint) one place,
// finish, that turns how it went into a session or a page.

const (
	// stateLen is the nonce sent as WeChat's state: [A-Za-z0-9] only, far
	// under WeChat's 128-byte limit, ~190 bits.
	stateLen = 32
	// flowIDLen is how much of the state names the flow cookie.
	flowIDLen = 10
	// callbackTimeout bounds the WeChat calls of one callback (code exchange
	// and userinfo), whatever the client's own per-call deadline.
	callbackTimeout = 15 * time.Second
	// flowTTL bounds a login in progress: WeChat codes live 5 minutes, and a
	// consent page left open longer is better restarted.
	flowTTL = 10 * time.Minute
	// doneFlowTTL keeps a finished flow long enough to recognise a refresh
	// or back button on the callback URL.
	doneFlowTTL = 2 * time.Minute
	// maxFlows caps concurrent logins (tabs) per browser.
	maxFlows = 4
	// upgradeBackoff holds back a scope upgrade after userinfo failed.
	upgradeBackoff = 10 * time.Minute
)

// ending is how a login ended. A relay seals it into the hand-back, so the
// client shows the visitor the page a single site would: the values are
// part of that wire format and never change.
type ending byte

const (
	endSession       ending = iota + 1 // loginEnd.sess says who signed in
	endDeclined                        // the visitor declined consent
	endSnapshot                        // a snapshot-page (virtual) user: no session
	endUnavailable                     // WeChat failed or could not be reached
	endMisconfigured                   // WeChat refused the site's credentials
	endCodeFailed                      // the code was used or invalid even after a silent retry
)

func (e ending) valid() bool { return e >= endSession && e <= endCodeFailed }

// loginEnd is how one login ended: a session to issue, or an ending
// without one.
type loginEnd struct {
	ending ending
	sess   Session // endSession: who; Issued and Expires are set by finish
	ref    string  // a short reference for the page (errcode N), never a secret
}

// logins runs the shared part of every login for a handler.
type logins struct {
	flows        []signInFlow // the handler's, the one that serves most requests first
	cookies      *flowCookies
	sessions     *sessions
	claims       codeClaims
	links        *links
	pages        *visitorPages
	keepFragment bool
	now          func() time.Time
	logger       *zap.Logger
}

// flowFor is the flow that signs in the visitor of r, nil when none does
// (then non_wechat decides).
func (l *logins) flowFor(r *http.Request) signInFlow {
	for _, fl := range l.flows {
		if fl.serves(r) {
			return fl
		}
	}
	return nil
}

// flowOf is the flow that started f, nil when this handler has none of its
// kind (any more).
func (l *logins) flowOf(f flowState) signInFlow {
	for _, fl := range l.flows {
		if fl.kind() == f.Kind {
			return fl
		}
	}
	return nil
}

// start starts a new login of fl that returns to ret; trigger says what
// started it (metrics.go).
func (l *logins) start(w http.ResponseWriter, r *http.Request, site origin, fl signInFlow, ret, scope string, trigger loginTrigger) error {
	return l.startFlow(w, r, site, fl, flowState{Return: l.links.returnURL(ret, site), Scope: fl.loginScope(scope)}, trigger)
}

// startFlow seals f, with a new state, in its own flow cookie and sends the
// browser where fl begins.
func (l *logins) startFlow(w http.ResponseWriter, r *http.Request, site origin, fl signInFlow, f flowState, trigger loginTrigger) error {
	f.State = randomAlnum(stateLen)
	f.Created = l.now().Unix()
	f.Done = false
	f.Kind = fl.kind()
	l.cookies.capAt(w, r, site)
	if err := l.cookies.set(w, site, f, flowTTL); err != nil {
		if ce := l.logger.Check(zap.ErrorLevel, "sealing the flow cookie failed"); ce != nil {
			ce.Write(zap.Error(err))
		}
		l.pages.show(w, r, pageInternal, pageValues{})
		return nil
	}
	target, err := fl.begin(site, f)
	if err != nil {
		if ce := l.logger.Check(zap.ErrorLevel, "starting the login failed"); ce != nil {
			ce.Write(zap.Error(err))
		}
		l.pages.show(w, r, pageInternal, pageValues{})
		return nil
	}
	// Only a login sent to WeChat counts as started: a flow of its own
	// ends elsewhere (a relay client's, whose relay counts it).
	if _, ok := fl.(codeFlow); ok {
		procMetrics.loginStarted(f.Scope, trigger)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// restart starts f over after a used or invalid code: a second failure
// shows a page instead of looping. The flow keeps what it carries (a relay
// flow the client it signs in for).
func (l *logins) restart(w http.ResponseWriter, r *http.Request, site origin, fl signInFlow, f flowState) error {
	procMetrics.loginCompleted(f.Scope, loginRetried)
	l.cookies.expire(w, site, f.State)
	f.Retry = true
	return l.startFlow(w, r, site, fl, f, triggerRetry)
}

// signIn renders the signIn verdict for a page navigation: the login
// starts at once, or with keep_fragment through the page that first adds
// the #fragment the server never saw. pageStatus is that page's status: a
// forward-auth caller lets any 2xx through, so /auth gives it as 401.
func (l *logins) signIn(w http.ResponseWriter, r *http.Request, site origin, fl signInFlow, ret string, pageStatus int) error {
	if l.keepFragment {
		// /login picks the flow again from the request.
		writeFragmentPage(w, pageStatus, fragmentLoginURL(l.links.pathPrefix, safeReturnURL(ret, site, l.links.rules), l.links.scope, l.links.scope))
		return nil
	}
	trigger := triggerPage
	if pageStatus != http.StatusOK {
		trigger = triggerForwardAuth // /auth answers its pages as 401
	}
	return l.start(w, r, site, fl, ret, l.links.scope, trigger)
}

// resumable reports whether a repeat of f's finished login (a refresh, the
// back button) may simply continue with the browser's session: only when
// the flow issues its sessions here, and the session is enough for it.
func (l *logins) resumable(r *http.Request, fl signInFlow, f flowState) bool {
	if fin, handsBack := fl.(finisher); handsBack {
		// A finisher that issues its sessions here (wecom_flow.go renders
		// only its own pages) resumes like any flow.
		if local, ok := fin.(localFinisher); !ok || !local.issuesHere() {
			return false
		}
	}
	id := l.sessions.identityFrom(r)
	return id != nil && satisfies(&id.sess, f.Scope, l.now)
}

// finish ends a login. A flow that ends its logins itself (the relay hands
// them back) does; everywhere else the login ends here, into a session or
// the page for how it went, so a visitor sees the same pages and gets the
// same session through a relay as on one site.
func (l *logins) finish(w http.ResponseWriter, r *http.Request, site origin, fl signInFlow, f flowState, end loginEnd) error {
	if fin, ok := fl.(finisher); ok {
		return fin.finish(w, r, site, f, end)
	}
	result := completionOf(end)
	retry := l.links.loginURL(site, f.Return, f.Scope)
	if end.ending != endSession {
		l.cookies.expire(w, site, f.State)
		// Every other ending ends here with a page: count it once.
		procMetrics.loginCompleted(f.Scope, result)
	}
	switch end.ending {
	case endSession:
		now := l.now()
		s := end.sess
		s.Issued, s.Expires = now.Unix(), now.Add(l.sessions.ttl).Unix()
		s.IssuedMilli = now.UnixMilli()
		if s.ID == "" { // a hand-back from a relay of an older version
			s.ID = randomAlnum(sessionIDLen)
		}
		if err := l.sessions.issue(w, site, s); err != nil {
			if ce := l.logger.Check(zap.ErrorLevel, "sealing the session cookie failed"); ce != nil {
				ce.Write(zap.Error(err))
			}
			procMetrics.loginCompleted(f.Scope, loginInternalError)
			l.pages.show(w, r, pageInternal, pageValues{})
			return nil
		}
		procMetrics.loginCompleted(f.Scope, result)
		f.Done = true
		if err := l.cookies.set(w, site, f, doneFlowTTL); err != nil {
			l.cookies.expire(w, site, f.State)
		}
		redirect(w, r, f.Return)
	case endDeclined:
		// One who pressed 完善资料 while signed in silently keeps that
		// session: a short note, then back to the page, rather than a page
		// that asks to authorize again.
		if f.Scope == wechat.ScopeUserInfo && l.sessions.identityFrom(r) != nil {
			l.pages.show(w, r, pageDeclinedKept, pageValues{ActionURL: f.Return})
		} else {
			l.pages.show(w, r, pageDeclined, pageValues{ActionURL: retry, UserInfo: f.Scope == wechat.ScopeUserInfo})
		}
	case endSnapshot:
		l.pages.show(w, r, pageSnapshot, pageValues{ActionURL: retry})
	case endCodeFailed:
		l.pages.show(w, r, pageCodeFailed, pageValues{ActionURL: retry, Ref: end.ref})
	case endMisconfigured:
		l.pages.show(w, r, pageMisconfigured, pageValues{ActionURL: retry, Ref: end.ref})
	default:
		l.pages.show(w, r, pageWeChatDown, pageValues{ActionURL: retry})
	}
	return nil
}

// completionOf labels how a login ended for metrics; a session whose
// profile could not be fetched (NoUpgradeUntil set) is "degraded".
func completionOf(end loginEnd) loginCompletion {
	switch end.ending {
	case endSession:
		if end.sess.NoUpgradeUntil != 0 {
			return loginDegraded
		}
		return loginSuccess
	case endDeclined:
		return loginDeclined
	case endSnapshot:
		return loginSnapshot
	case endCodeFailed:
		return loginCodeRejected
	case endMisconfigured:
		return loginConfigError
	}
	return loginWeChatError
}

// writeFlowLost answers a callback or hand-back whose login this browser
// did not start, or no longer holds.
func (l *logins) writeFlowLost(w http.ResponseWriter, r *http.Request, site origin) error {
	l.pages.show(w, r, pageFlowLost, pageValues{ActionURL: l.links.loginURL(site, "/", l.links.scope)})
	return nil
}

const stateAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomAlnum(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on supported platforms
	for i := range b {
		// 62 does not divide 256: the bias is < 2^-2 per char on 190 bits
		// of entropy and irrelevant for an unguessable nonce, but reject
		// sampling costs nothing here, so do it right.
		for b[i] >= 248 {
			var one [1]byte
			_, _ = rand.Read(one[:])
			b[i] = one[0]
		}
		b[i] = stateAlphabet[b[i]%62]
	}
	return string(b)
}

func validState(s string) bool {
	if len(s) != stateLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func redirect(w http.ResponseWriter, r *http.Request, to string) {
	w.Header().Set("Cache-Control", "no-store")
	// Several redirects leave a URL that carried a code (the callback) or a
	// return URL: the next page must not receive it as its Referer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, to, http.StatusFound)
}

// validWeChatID admits the identifiers WeChat issues (openid, unionid):
// short, URL- and header-safe.
func validWeChatID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// links builds the URLs a handler sends browsers to: its own endpoints, and
// return URLs checked against redirect_domains (redirect.go).
type links struct {
	pathPrefix string
	scope      string       // the scope protected routes need
	rules      []domainRule // redirect_domains
}

// loginURL is where a visitor (or an API client) goes to sign in and then
// come back to ret.
func (lk *links) loginURL(site origin, ret, scope string) string {
	q := url.Values{"rd": {ret}}
	if scope != lk.scope {
		q.Set("scope", scope)
	}
	return site.String() + lk.pathPrefix + "/login?" + q.Encode()
}

// endpoint is the absolute URL of one of the handler's endpoints.
func (lk *links) endpoint(site origin, name string) string {
	return site.String() + lk.pathPrefix + "/" + name
}

// returnURL is the return URL for raw request data (a request URI, rd, a
// forwarded URI, a Referer): shortened to fit a flow cookie, then checked.
func (lk *links) returnURL(raw string, site origin) string {
	return safeReturnURL(shortenReturnURL(raw), site, lk.rules)
}
