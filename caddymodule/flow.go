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

// loginURL is where a visitor (or an API client) goes to sign in and then
// come back to ret.
func (h *Handler) loginURL(site origin, ret, scope string) string {
	q := url.Values{"rd": {ret}}
	if scope != h.Scope {
		q.Set("scope", scope)
	}
	return site.String() + h.PathPrefix + "/login?" + q.Encode()
}

// startLogin starts a new login that returns to ret; trigger says what
// started it (metrics.go).
func (h *Handler) startLogin(w http.ResponseWriter, r *http.Request, site origin, ret, scope string, trigger loginTrigger) {
	h.startFlow(w, r, site, flowState{Return: h.returnURL(ret, site), Scope: scope}, trigger)
}

// startFlow seals f, with a new state, in its own flow cookie and sends the
// browser to WeChat's authorize page, or, on a relay client, to the relay.
// Only a flow sent to WeChat counts as a login started: through a relay,
// the relay's own flow is the one that does.
func (h *Handler) startFlow(w http.ResponseWriter, r *http.Request, site origin, f flowState, trigger loginTrigger) {
	f.State = randomAlnum(stateLen)
	f.Created = h.now().Unix()
	f.Done = false
	f.ViaRelay = h.relay != nil && h.relay.endpoint != ""
	h.capFlows(w, r, site)
	if err := h.setFlow(w, site, f, flowTTL); err != nil {
		if ce := h.logger.Check(zap.ErrorLevel, "sealing the flow cookie failed"); ce != nil {
			ce.Write(zap.Error(err))
		}
		writeInternal(w)
		return
	}
	var target string
	if f.ViaRelay {
		var err error
		if target, err = h.relayRequestURL(site, f); err != nil {
			if ce := h.logger.Check(zap.ErrorLevel, "sealing the relay request failed"); ce != nil {
				ce.Write(zap.Error(err))
			}
			writeInternal(w)
			return
		}
	} else if redirectURI := site.String() + h.PathPrefix + "/callback"; f.Scope == wechat.ScopeLogin {
		target = h.desktop.QRConnectURL(redirectURI, f.State)
	} else {
		target = h.client.AuthorizeURL(redirectURI, f.Scope, f.State, wechat.AuthorizeOptions{})
	}
	if !f.ViaRelay {
		procMetrics.loginStarted(f.Scope, trigger)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
}

// retried is f started over after a failed code: a second failure shows a
// page instead of looping. A relay flow keeps the client it signs in for.
func (f flowState) retried() flowState {
	f.Retry = true
	return f
}

// serveLogin starts authorization explicitly: GET <path_prefix>/login?rd=URL
// [&scope=snsapi_userinfo]. It authorizes afresh even over a valid session:
// the callback then replaces whatever session cookie the browser held, so a
// cookie planted by someone else (session fixation) does not survive a login.
func (h *Handler) serveLogin(w http.ResponseWriter, r *http.Request) {
	site, ok := h.site(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	ret := h.returnURL(q.Get("rd"), site)
	scope := h.Scope
	if q.Get("scope") == wechat.ScopeUserInfo {
		scope = wechat.ScopeUserInfo
	}
	if h.desktopFor(r) {
		scope = wechat.ScopeLogin
	}
	if !isWeChat(r) {
		if o, ok := h.outsideWeChatOutcome(r); ok {
			if o == admitAnonymous {
				redirect(w, r, ret)
				return
			}
			h.writeRefusal(w, r, decision{outcome: o}, site, ret)
			return
		}
	}
	h.startLogin(w, r, site, ret, scope, triggerLogin)
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

func (h *Handler) writeFlowLost(w http.ResponseWriter, site origin) {
	writePage(w, http.StatusBadRequest, "error", page{
		Heading: "登录链接已失效",
		Lines: []string{
			"这个登录链接不是在当前浏览器中发起的，或已超过 10 分钟，所以无法使用。",
			"请点击下方按钮重新登录。如果反复出现，请确认微信没有禁用 Cookie，并从公众号菜单重新打开页面。",
		},
		ActionURL:   h.loginURL(site, "/", h.Scope),
		ActionLabel: "重新登录",
	})
}
