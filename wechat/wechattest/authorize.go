package wechattest

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Headers and cookie that say who the simulated browser is and how it answers.
const (
	// UserHeader names the test user, bypassing the picker.
	UserHeader = "X-WeChat-Mock-User"
	// ConsentHeader answers the snsapi_userinfo consent page: allow or deny.
	ConsentHeader = "X-WeChat-Mock-Consent"
	// UserCookie holds the user chosen in the picker.
	UserCookie = "wechat_mock_user"
)

// consentTicket is a pending snsapi_userinfo consent page.
type consentTicket struct {
	app, user, scope, redirectURI, state string
	component                            string // the platform's AppID, "" for the account itself
	snapshot                             bool
	expires                              time.Time
}

// authorize page error codes (HTML pages, not JSON).
var authorizeErrors = map[int]string{
	10003: "redirect_uri域名与后台配置不一致",
	10039: "redirect_uri协议与后台配置不一致",
	10005: "此公众号并没有这些scope的权限",
	10010: "scope不能为空",
	10011: "redirect_uri不能为空",
	10012: "appid不能为空",
	10013: "state不能为空",
	10015: "公众号未授权第三方平台，请检查授权情况",
	10016: "不支持的AppID：网站应用请使用 /connect/qrconnect",
	40013: "appid无效，请检查appid参数",
}

// isWeChatUA tells the WeChat client from other browsers; WeCom (wxwork) also
// says MicroMessenger but is not the Official Account client.
func isWeChatUA(ua string) bool {
	return strings.Contains(ua, "MicroMessenger") && !strings.Contains(ua, "wxwork")
}

func (s *Simulator) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if s.wecomAuthorize(w, r) { // appid is a WeCom corp ID
		return
	}
	if !s.anyBrowser && !isWeChatUA(r.UserAgent()) {
		s.renderPage(w, http.StatusOK, "browser", nil)
		return
	}
	// The parameters are read by name: WeChat documents one order (and the
	// wechat client emits it), but SDKs that send connect_redirect first or
	// scope before response_type work on WeChat, so they work here too.
	q := r.URL.Query()
	appID, redirectURI, scope, state := q.Get("appid"), q.Get("redirect_uri"), q.Get("scope"), q.Get("state")
	a := s.app(appID)
	switch {
	case appID == "":
		s.authorizeError(w, 10012)
	case a == nil:
		s.authorizeError(w, 40013)
	case a.Website:
		s.authorizeError(w, 10016)
	case redirectURI == "":
		s.authorizeError(w, 10011)
	case scope == "":
		s.authorizeError(w, 10010)
	case scope != "snsapi_base" && scope != "snsapi_userinfo":
		s.authorizeError(w, 10005)
	case q.Has("component_appid") && s.componentAuthorizeError(appID, q.Get("component_appid")) != 0:
		s.authorizeError(w, s.componentAuthorizeError(appID, q.Get("component_appid")))
	case s.checkRedirectIn(s.authorizeDomains(appID, q), redirectURI) != 0:
		s.redirectError(w, s.checkRedirectIn(s.authorizeDomains(appID, q), redirectURI), redirectURI, domainNames(s.authorizeDomains(appID, q)))
	case !q.Has("state"):
		s.authorizeError(w, 10013)
	default:
		s.authorizeUser(w, r, a, redirectURI, scope, state, q)
	}
}

// authorizeDomains are the settings redirect_uri is checked against: the
// platform's 公众号开发域名 when a third-party platform authorizes on the
// account's behalf (the account's own 网页授权域名 do not apply), else the
// account's.
func (s *Simulator) authorizeDomains(appID string, q url.Values) []Domain {
	if cs := s.componentFor(q.Get("component_appid")); cs != nil {
		return cs.componentDomains(appID)
	}
	return s.domains
}

// domainNames renders settings for an error page.
func domainNames(ds []Domain) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

// authorizeUser continues once the request is valid: who is it, do they consent.
func (s *Simulator) authorizeUser(w http.ResponseWriter, r *http.Request, a *appState, redirectURI, scope, state string, q url.Values) {
	name := r.Header.Get(UserHeader)
	if name == "" {
		if c, err := r.Cookie(UserCookie); err == nil {
			name = c.Value
		}
	}
	if name == "" {
		http.Redirect(w, r, "/mock/users?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return
	}
	u, ok := s.user(name)
	if !ok {
		s.renderPage(w, http.StatusBadRequest, "unknown-user", map[string]any{"Name": name, "Users": s.users})
		return
	}
	snapshot := u.Snapshot || q.Get("forceSnapShot") == "true"
	component := q.Get("component_appid")
	if scope == "snsapi_base" || snapshot {
		// Base scope is silent; the snapshot page hands out its virtual identity without consent.
		s.redirectWithCode(w, r, a.ID, u.Name, scope, redirectURI, state, snapshot, component)
		return
	}
	s.mu.Lock()
	already := s.consented[a.ID+"\x00"+u.Name]
	_, follows := s.subscribedSince(a, u)
	s.mu.Unlock()
	switch answer := r.Header.Get(ConsentHeader); {
	case follows && fromAccount(r.Header.Get(EntryHeader)):
		// The guide's special case: a follower coming from the account's chat
		// or menu is not asked, even with forcePopup=true.
		s.redirectWithCode(w, r, a.ID, u.Name, scope, redirectURI, state, false, component)
	case already && q.Get("forcePopup") != "true":
		// Once allowed, WeChat does not ask again unless forcePopup=true.
		s.redirectWithCode(w, r, a.ID, u.Name, scope, redirectURI, state, false, component)
	case answer == "allow":
		s.allow(a.ID, u.Name)
		s.redirectWithCode(w, r, a.ID, u.Name, scope, redirectURI, state, false, component)
	case answer == "deny":
		http.Redirect(w, r, withQuery(redirectURI, url.Values{"state": {state}}), http.StatusFound)
	default:
		ticket := randomID(24)
		s.mu.Lock()
		s.consents[ticket] = &consentTicket{app: a.ID, user: u.Name, scope: scope, redirectURI: redirectURI,
			state: state, component: component, expires: s.now().Add(codeTTL)}
		s.mu.Unlock()
		s.renderPage(w, http.StatusOK, "consent", map[string]any{"Ticket": ticket, "User": u, "AppID": a.ID,
			"Avatar": s.avatarURL(r, u, false)})
	}
}

func (s *Simulator) allow(app, user string) {
	s.mu.Lock()
	s.consented[app+"\x00"+user] = true
	s.mu.Unlock()
}

// handleConfirm receives the consent page's 允许 / 拒绝.
func (s *Simulator) handleConfirm(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST the consent form", http.StatusMethodNotAllowed)
		return
	}
	ticket := r.PostFormValue("ticket")
	s.mu.Lock()
	t, ok := s.consents[ticket]
	delete(s.consents, ticket)
	s.mu.Unlock()
	if !ok || !s.now().Before(t.expires) {
		s.authorizeErrorMsg(w, 0, "授权页面已过期，请重新打开链接")
		return
	}
	if r.PostFormValue("action") != "allow" {
		http.Redirect(w, r, withQuery(t.redirectURI, url.Values{"state": {t.state}}), http.StatusFound)
		return
	}
	s.allow(t.app, t.user)
	s.redirectWithCode(w, r, t.app, t.user, t.scope, t.redirectURI, t.state, t.snapshot, t.component)
}

func (s *Simulator) redirectWithCode(w http.ResponseWriter, r *http.Request, app, user, scope, redirectURI, state string, snapshot bool, component string) {
	code := s.issueCode(app, user, scope, snapshot, component)
	// WeChat puts code before state; on behalf of a platform it adds the
	// account's appid ("redirect_uri?code=CODE&state=STATE&appid=APPID").
	v := url.Values{"code": {code}, "state": {state}}
	if component != "" {
		v.Set("appid", app)
	}
	http.Redirect(w, r, withQuery(redirectURI, v), http.StatusFound)
}

// withQuery adds code and state to redirectURI as WeChat does: into the query,
// before any #fragment (single-page apps with hash routes rely on this).
func withQuery(redirectURI string, v url.Values) string {
	base, frag, hasFrag := strings.Cut(redirectURI, "#")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	var b strings.Builder
	b.WriteString(base)
	for _, k := range []string{"code", "state", "appid"} {
		if vals, ok := v[k]; ok {
			b.WriteString(sep)
			b.WriteString(k + "=" + url.QueryEscape(vals[0]))
			sep = "&"
		}
	}
	if hasFrag {
		b.WriteString("#" + frag)
	}
	return b.String()
}

func (s *Simulator) authorizeError(w http.ResponseWriter, code int) {
	s.authorizeErrorMsg(w, code, authorizeErrors[code])
}

// redirectError is a 10003 or 10039 page that says, in Chinese, which
// redirect_uri arrived and which callback domains it was checked against:
// what a developer needs to fix the setting.
func (s *Simulator) redirectError(w http.ResponseWriter, code int, redirectURI string, domains []string) {
	w.Header().Set("X-WeChat-Mock-Error", itoa(code))
	hint := "redirect_uri 的域名（含端口和路径）不在下面的网页授权域名之内：换成已登记的域名，或用 --domain 登记这个域名。"
	if code == errSchemeMismatch {
		hint = "redirect_uri 的协议（http 或 https）与登记的网页授权域名不一致：网站在负载均衡后面时，让网关信任它的 X-Forwarded-Proto。"
	}
	s.renderPage(w, http.StatusOK, "error", map[string]any{"Code": code, "Msg": authorizeErrors[code], "Hint": hint,
		"RedirectURI": redirectURI, "Domains": strings.Join(domains, "、")})
}

func (s *Simulator) authorizeErrorMsg(w http.ResponseWriter, code int, msg string) {
	// The code is also in a header so tests need not parse HTML.
	if code != 0 {
		w.Header().Set("X-WeChat-Mock-Error", itoa(code))
	}
	s.renderPage(w, http.StatusOK, "error", map[string]any{"Code": code, "Msg": msg})
}

// handlePicker lists the test users (GET) and remembers the chosen one in a cookie (POST).
func (s *Simulator) handlePicker(w http.ResponseWriter, r *http.Request) {
	next := r.FormValue("next")
	// Only authorize URLs are followed, so the picker is no open redirect.
	if !strings.HasPrefix(next, "/connect/oauth2/authorize?") {
		next = ""
	}
	if r.Method == http.MethodPost {
		name := r.PostFormValue("user")
		if _, ok := s.user(name); !ok && name != "" {
			http.Error(w, "unknown user", http.StatusBadRequest)
			return
		}
		c := &http.Cookie{Name: UserCookie, Value: name, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
		if name == "" {
			c.MaxAge = -1
		}
		http.SetCookie(w, c)
		if next == "" {
			next = "/mock/users"
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	current := ""
	if c, err := r.Cookie(UserCookie); err == nil {
		current = c.Value
	}
	type row struct {
		User    User
		Avatar  string
		Current bool
	}
	rows := make([]row, len(s.users))
	for i, u := range s.users {
		rows[i] = row{User: u, Avatar: s.avatarURL(r, u, false), Current: u.Name == current}
	}
	s.renderPage(w, http.StatusOK, "picker", map[string]any{"Users": rows, "Next": next, "Current": current})
}
