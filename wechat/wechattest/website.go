package wechattest

import (
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/qrsvg"
)

// Desktop login with an Open Platform website application (网站应用微信登录,
// docs/wechat.md §10). The desktop browser opens /connect/qrconnect and sees a QR
// code; the person scans it with WeChat, which opens /connect/confirm?uuid=… on
// the phone, and confirms or cancels there; the desktop page learns the answer
// by polling /connect/qrconnect/poll and goes on to redirect_uri?code&state (or
// redirect_uri?state when the person cancelled, as the consent page's 拒绝
// does). The code is redeemed at the same sns/oauth2/access_token with the
// website app's AppID and secret. WeChat's own long-poll protocol and page
// texts are not documented; these paths and texts are the simulator's choice.

const (
	// scopeLogin is the website application's only scope.
	scopeLogin = "snsapi_login"
	// QRTTL is how long a qrconnect QR code can be scanned and confirmed;
	// after it the desktop page shows 二维码已失效 and the phone page refuses.
	QRTTL = 5 * time.Minute
)

// qrconnect page error codes; the texts are the simulator's.
var qrconnectErrors = map[int]string{
	10003: "redirect_uri 参数错误：域名与网站应用的授权回调域不一致",
	10005: "Scope 参数错误或没有 Scope 权限",
	10011: "redirect_uri 参数错误",
	10012: "appid 参数错误",
	10013: "state 参数错误",
	40013: "appid 无效，请检查 appid 参数",
}

// qrStatus is where a QR code is in its life.
type qrStatus int

const (
	qrWaiting   qrStatus = iota // shown, not scanned
	qrScanned                   // scanned; the phone asks 确认登录
	qrConfirmed                 // confirmed: code issued
	qrDeclined                  // cancelled on the phone
)

// qrTicket is one QR code of the qrconnect page (its uuid is the map key).
type qrTicket struct {
	app, redirectURI, state string
	status                  qrStatus
	user                    string
	expires                 time.Time
}

// WithWebsiteApp adds an Open Platform website application (网站应用) for
// desktop login, with its own callback domain settings (授权回调域, each as
// ParseDomain reads it; none means the loopback hosts). openPlatform names
// the Open Platform account it belongs to: the same value as an Official
// Account's WithBoundApp makes the two see one unionid per person; "" makes
// an app that returns no unionid, as one created under another account.
// Like WithDomains it panics on a setting WeChat's console would refuse.
func WithWebsiteApp(appID, secret, openPlatform string, domains ...string) Option {
	return func(s *Simulator) {
		if len(domains) == 0 {
			domains = []string{"localhost", "127.0.0.1", "[::1]"}
		}
		a := newAppState(App{ID: appID, Secret: secret, OpenPlatform: openPlatform, Website: true})
		for _, v := range domains {
			d, err := ParseDomain(v)
			if err != nil {
				panic(fmt.Sprintf("wechattest.WithWebsiteApp: %v", err))
			}
			a.domains = append(a.domains, d)
			a.Domains = append(a.Domains, d.String())
		}
		s.apps = append(s.apps, a)
	}
}

// handleQRConnect is the desktop page: it checks the request as WeChat does,
// then shows a fresh QR code that waits for a phone.
func (s *Simulator) handleQRConnect(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appID, redirectURI, state := q.Get("appid"), q.Get("redirect_uri"), q.Get("state")
	a := s.app(appID)
	code := 0
	switch {
	case appID == "":
		code = 10012
	case a == nil:
		code = 40013
	case !a.Website || q.Get("scope") != scopeLogin:
		// An Official Account's AppID has no snsapi_login, nor has any app another scope here.
		code = 10005
	case redirectURI == "":
		code = 10011
	case s.checkRedirectIn(a.domains, redirectURI) != 0:
		code = s.checkRedirectIn(a.domains, redirectURI)
	case !q.Has("state"):
		code = 10013
	}
	if code != 0 {
		msg := qrconnectErrors[code]
		if msg == "" {
			msg = authorizeErrors[code]
		}
		s.authorizeErrorMsg(w, code, msg)
		return
	}
	uuid := randomID(16)
	s.mu.Lock()
	s.qrs[uuid] = &qrTicket{app: a.ID, redirectURI: redirectURI, state: state, expires: s.now().Add(QRTTL)}
	s.mu.Unlock()
	s.renderQRPage(w, r, uuid, qrWaiting, "")
}

// renderQRPage shows the QR code for uuid in its current state; the page
// refreshes itself (meta refresh, so it works without JavaScript) through the
// poll URL until the phone answers.
func (s *Simulator) renderQRPage(w http.ResponseWriter, r *http.Request, uuid string, st qrStatus, nickname string) {
	scan := absURL(r, "/connect/confirm?uuid="+uuid)
	s.renderPage(w, http.StatusOK, "qrconnect", map[string]any{
		"UUID": uuid, "ScanURL": scan, "QR": template.HTML(qrsvg.SVG(scan)), // numbers only
		"Scanned": st == qrScanned, "Nickname": nickname,
		"Poll": "/connect/qrconnect/poll?uuid=" + uuid,
	})
}

// handleQRPoll is where the desktop page looks for the phone's answer: the
// same page while waiting, a 302 to redirect_uri once answered (a uuid is
// answered once), 二维码已失效 when the code expired or is unknown.
func (s *Simulator) handleQRPoll(w http.ResponseWriter, r *http.Request) {
	uuid := r.URL.Query().Get("uuid")
	s.mu.Lock()
	t, ok := s.qrs[uuid]
	if !ok || !s.now().Before(t.expires) {
		delete(s.qrs, uuid)
		s.mu.Unlock()
		s.renderPage(w, http.StatusOK, "qr-expired", nil)
		return
	}
	cp := *t
	if cp.status == qrConfirmed || cp.status == qrDeclined {
		delete(s.qrs, uuid)
	}
	s.mu.Unlock()
	switch cp.status {
	case qrConfirmed:
		s.redirectWithCode(w, r, cp.app, cp.user, scopeLogin, cp.redirectURI, cp.state, false, "")
	case qrDeclined:
		http.Redirect(w, r, withQuery(cp.redirectURI, url.Values{"state": {cp.state}}), http.StatusFound)
	default:
		nickname := ""
		if u, ok := s.user(cp.user); ok {
			nickname = u.Nickname
		}
		s.renderQRPage(w, r, uuid, cp.status, nickname)
	}
}

// handleScan plays the phone that scanned the QR code: GET shows 确认登录 for
// the current test user (UserHeader or the picker's cookie), or the list of
// test users to scan as; POST answers with action=allow or deny. With both
// UserHeader and ConsentHeader a GET answers at once, so tests need no form.
// Picking a user here sets the picker's cookie too: the phone that scanned is
// signed in to WeChat as that person, so the same browser opening a page
// "in WeChat" afterwards is that person, as on a real phone.
func (s *Simulator) handleScan(w http.ResponseWriter, r *http.Request) {
	uuid := r.FormValue("uuid")
	name := r.Header.Get(UserHeader)
	if name == "" {
		name = r.PostFormValue("user")
		if _, ok := s.user(name); ok {
			http.SetCookie(w, &http.Cookie{Name: UserCookie, Value: name, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
	}
	if name == "" {
		if c, err := r.Cookie(UserCookie); err == nil {
			name = c.Value
		}
	}
	answer := r.Header.Get(ConsentHeader)
	if r.Method == http.MethodPost {
		answer = r.PostFormValue("action")
	}
	s.mu.Lock()
	t, ok := s.qrs[uuid]
	live := ok && s.now().Before(t.expires) && (t.status == qrWaiting || t.status == qrScanned)
	s.mu.Unlock()
	if !live {
		s.renderPage(w, http.StatusOK, "scan", map[string]any{"Expired": true})
		return
	}
	u, known := s.user(name)
	if !known {
		s.renderPage(w, http.StatusOK, "scan", map[string]any{"UUID": uuid, "Users": s.users, "AppID": t.app})
		return
	}
	st := qrScanned
	switch answer {
	case "allow":
		st = qrConfirmed
	case "deny":
		st = qrDeclined
	}
	s.mu.Lock()
	if t, ok := s.qrs[uuid]; ok && (t.status == qrWaiting || t.status == qrScanned) {
		t.status, t.user = st, u.Name
	}
	s.mu.Unlock()
	s.renderPage(w, http.StatusOK, "scan", map[string]any{"UUID": uuid, "User": u, "AppID": t.app,
		"Avatar": s.avatarURL(r, u, false), "Confirmed": st == qrConfirmed, "Declined": st == qrDeclined})
}

// QRCodes returns, in no particular order, the uuids of the QR codes shown
// and neither answered nor expired; a test that opened one page scans it
// without reading HTML.
func (s *Simulator) QRCodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, t := range s.qrs {
		if s.now().Before(t.expires) && (t.status == qrWaiting || t.status == qrScanned) {
			out = append(out, id)
		}
	}
	return out
}

// absURL is path on the host the request came to.
func absURL(r *http.Request, path string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// DesktopUA is a desktop Chrome on Windows: not the WeChat client, so a
// gateway offers it scan-to-login (docs/wechat.md §7).
const DesktopUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// NewDesktopBrowser returns a desktop browser: DesktopUA, a cookie jar, no
// test-user headers (a person at a computer is known only once their phone
// scans). Scan the QR code with NewBrowser(user).Get(page.ScanURL()).
func NewDesktopBrowser() *Browser {
	b := NewBrowser("")
	b.UserAgent, b.Consent = DesktopUA, ""
	return b
}

// scanLink finds the qrconnect page's link to the phone's scan page.
var scanLink = regexp.MustCompile(`id="scan" href="([^"]+)"`)

// ScanURL is the URL the QR code on a qrconnect page encodes (what a phone
// opens when it scans), or "" when the page shows no QR code.
func (p *Page) ScanURL() string {
	m := scanLink.FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}
