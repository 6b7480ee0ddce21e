package wechattest

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/wxgate/caddy-wechat-auth/internal/qrsvg"
)

// WeCom sign-in pages: the in-client authorize (open.weixin.qq.com's
// /connect/oauth2/authorize with the corp ID as appid) and the desktop login
// (login.work.weixin.qq.com/wwlogin/sso/login), whose QR code the member scans
// with WeCom. The scan step and the page texts are the simulator's own.

// wecomRoutes are added to the simulator's routes.
func (s *Simulator) wecomRoutes() []route {
	return []route{
		{"/wwlogin/sso/login", "page", s.handleWeComLogin},
		{"/wwlogin/sso/poll", "", s.handleWeComPoll},
		{"/mock/wecom/scan", "mock", s.handleWeComScan},
		{"/mock/wecom/consent", "", s.handleWeComConsent},
		{"/cgi-bin/gettoken", "api", s.handleWeComToken},
		{"/cgi-bin/auth/getuserinfo", "api", s.handleWeComAuthUser},
		{"/cgi-bin/user/getuserinfo", "api", s.handleWeComOldUser},
		{"/cgi-bin/auth/getuserdetail", "api", s.handleWeComUserDetail},
		{"/cgi-bin/user/get", "api", s.handleWeComUserGet},
		{"/cgi-bin/department/simplelist", "api", s.handleWeComDepartments},
		{"/cgi-bin/agent/get", "api", s.handleWeComAgent},
	}
}

// wecomAuthorize answers /connect/oauth2/authorize when appid is a corp ID;
// it reports whether it did.
func (s *Simulator) wecomAuthorize(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	c := s.wecom.corp(q.Get("appid"))
	if c == nil {
		return false
	}
	if !s.anyBrowser && !isWeComUA(r.UserAgent()) {
		s.authorizeErrorMsg(w, 0, "请在企业微信客户端打开链接")
		return true
	}
	redirectURI, scope, state := q.Get("redirect_uri"), q.Get("scope"), q.Get("state")
	var app *CorpApp
	if v := q.Get("agentid"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if app = c.app(id); err != nil || app == nil {
			s.authorizeErrorMsg(w, 40056, "agentid 不合法：应用不存在或不是数字")
			return true
		}
	}
	switch {
	case redirectURI == "":
		s.authorizeError(w, 10011)
	case scope != "snsapi_base" && scope != "snsapi_privateinfo":
		s.authorizeError(w, 10005)
	case scope == "snsapi_privateinfo" && app == nil:
		s.authorizeErrorMsg(w, 40056, "scope 为 snsapi_privateinfo 时 agentid 必填")
	case app != nil && !app.trusts(redirectURI):
		s.authorizeErrorMsg(w, 50001, "redirect_uri需使用应用可信域名")
	default:
		s.wecomUser(w, r, c, app, redirectURI, scope, state)
	}
	return true
}

// wecomUser signs the person in: a member by userid, anyone else as a
// non-member; under privateinfo a member in the app's visible range
// consents first (remembered 30 days).
func (s *Simulator) wecomUser(w http.ResponseWriter, r *http.Request, c *Corp, app *CorpApp, redirectURI, scope, state string) {
	name := r.Header.Get(UserHeader)
	if name == "" {
		if ck, err := r.Cookie(UserCookie); err == nil {
			name = ck.Value
		}
	}
	m := c.member(name)
	if _, ok := s.user(name); m == nil && !ok {
		s.renderPage(w, http.StatusBadRequest, "wecom-scan", map[string]any{"Unknown": name, "Corp": c})
		return
	}
	g := &wecomGrant{corp: c.ID, user: name, member: m != nil, scope: scope, redirect: redirectHost(redirectURI)}
	if app != nil {
		g.agentID = app.AgentID
	}
	if scope == "snsapi_privateinfo" && m != nil && c.sees(app, m) {
		key := c.ID + "/" + strconv.FormatInt(app.AgentID, 10) + "/" + m.UserID
		s.wecom.mu.Lock()
		s.wecom.init()
		at, ok := s.wecom.consented[key]
		s.wecom.mu.Unlock()
		switch answer := r.Header.Get(ConsentHeader); {
		case ok && s.now().Before(at.Add(wecomConsentTTL)):
		case answer == "allow":
			s.wecomConsent(key)
		case answer == "deny":
			http.Redirect(w, r, withQuery(redirectURI, url.Values{"state": {state}}), http.StatusFound)
			return
		default:
			s.renderPage(w, http.StatusOK, "wecom-scan", map[string]any{"Consent": r.URL.RequestURI(), "Member": m, "Corp": c})
			return
		}
		g.ticketFor = true
	}
	s.wecomRedirect(w, r, g, redirectURI, state)
}

func (s *Simulator) wecomConsent(key string) {
	s.wecom.mu.Lock()
	s.wecom.consented[key] = s.now()
	s.wecom.mu.Unlock()
}

// handleWeComConsent is the consent form's answer: allow reopens the
// authorize URL (now remembered), deny goes to redirect_uri?state.
func (s *Simulator) handleWeComConsent(w http.ResponseWriter, r *http.Request) {
	next := r.PostFormValue("next")
	u, err := url.Parse(next)
	if r.Method != http.MethodPost || err != nil || u.Path != "/connect/oauth2/authorize" {
		http.Error(w, "POST the consent form", http.StatusBadRequest)
		return
	}
	q := u.Query()
	c := s.wecom.corp(q.Get("appid"))
	id, _ := strconv.ParseInt(q.Get("agentid"), 10, 64)
	if c == nil || c.app(id) == nil {
		http.Error(w, "unknown corp or app", http.StatusBadRequest)
		return
	}
	if r.PostFormValue("action") != "allow" {
		http.Redirect(w, r, withQuery(q.Get("redirect_uri"), url.Values{"state": {q.Get("state")}}), http.StatusFound)
		return
	}
	s.wecom.mu.Lock()
	s.wecom.init()
	s.wecom.mu.Unlock()
	s.wecomConsent(c.ID + "/" + strconv.FormatInt(id, 10) + "/" + r.PostFormValue("user"))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// wecomRedirect issues a code for g and sends the browser to redirect_uri?code&state.
func (s *Simulator) wecomRedirect(w http.ResponseWriter, r *http.Request, g *wecomGrant, redirectURI, state string) {
	code := randomID(43)
	g.expires = s.now().Add(codeTTL)
	s.wecom.mu.Lock()
	s.wecom.init()
	s.wecom.codes[code] = g
	s.wecom.mu.Unlock()
	http.Redirect(w, r, withQuery(redirectURI, url.Values{"code": {code}, "state": {state}}), http.StatusFound)
}

// IssueWeComCode issues a code as the authorize page would for userid (a
// member, or a test user's Name for a non-member) of corp's app agentID, for
// a redirect_uri on host (host[:port]); scope privateinfo implies consent.
func (s *Simulator) IssueWeComCode(corpID string, agentID int64, user, scope, host string) string {
	code := randomID(43)
	c := s.wecom.corp(corpID)
	g := &wecomGrant{corp: corpID, agentID: agentID, user: user, member: c != nil && c.member(user) != nil,
		scope: scope, redirect: host, ticketFor: true, expires: s.now().Add(codeTTL)}
	s.wecom.mu.Lock()
	s.wecom.init()
	s.wecom.codes[code] = g
	s.wecom.mu.Unlock()
	return code
}

// handleWeComLogin is the desktop page: checked as WeCom does, then a QR code
// the member scans with WeCom (/mock/wecom/scan plays the phone).
func (s *Simulator) handleWeComLogin(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c := s.wecom.corp(q.Get("appid"))
	id, err := strconv.ParseInt(q.Get("agentid"), 10, 64)
	switch {
	case q.Get("login_type") != "CorpApp":
		s.authorizeErrorMsg(w, 0, "login_type 参数错误：企业自建应用填 CorpApp")
	case c == nil:
		s.authorizeErrorMsg(w, 40013, "appid 参数错误：填企业的 CorpID")
	case err != nil || c.app(id) == nil:
		s.authorizeErrorMsg(w, 40056, "agentid 参数错误")
	case !c.app(id).trusts(q.Get("redirect_uri")):
		s.authorizeErrorMsg(w, 50001, "redirect_uri需使用应用可信域名")
	default:
		uuid := randomID(16)
		s.wecom.mu.Lock()
		s.wecom.init()
		s.wecom.logins[uuid] = &wecomLogin{corp: c.ID, agentID: id, redirectURI: q.Get("redirect_uri"),
			state: q.Get("state"), expires: s.now().Add(QRTTL)}
		s.wecom.mu.Unlock()
		s.renderWeComQR(w, r, uuid, "")
	}
}

func (s *Simulator) renderWeComQR(w http.ResponseWriter, r *http.Request, uuid, scanned string) {
	scan := absURL(r, "/mock/wecom/scan?uuid="+uuid)
	s.renderPage(w, http.StatusOK, "wecom-login", map[string]any{"ScanURL": scan, "QR": template.HTML(qrsvg.SVG(scan)),
		"Scanned": scanned, "Poll": "/wwlogin/sso/poll?uuid=" + uuid})
}

// handleWeComPoll is where the desktop page learns the answer: the page
// again while waiting, redirect_uri?code&state once confirmed,
// redirect_uri?state when cancelled, 二维码已失效 once expired or used.
func (s *Simulator) handleWeComPoll(w http.ResponseWriter, r *http.Request) {
	uuid := r.URL.Query().Get("uuid")
	s.wecom.mu.Lock()
	s.wecom.init()
	l, ok := s.wecom.logins[uuid]
	if ok && (l.confirmed || l.declined || !s.now().Before(l.expires)) {
		delete(s.wecom.logins, uuid)
	}
	var cp wecomLogin
	if ok {
		cp = *l
	}
	s.wecom.mu.Unlock()
	switch {
	case !ok || !s.now().Before(cp.expires):
		s.renderPage(w, http.StatusOK, "qr-expired", nil)
	case cp.confirmed:
		s.wecomRedirect(w, r, &wecomGrant{corp: cp.corp, agentID: cp.agentID, user: cp.user, member: true,
			scope: "snsapi_base", redirect: redirectHost(cp.redirectURI), desktop: true}, cp.redirectURI, cp.state)
	case cp.declined:
		http.Redirect(w, r, withQuery(cp.redirectURI, url.Values{"state": {cp.state}}), http.StatusFound)
	default:
		s.renderWeComQR(w, r, uuid, cp.user)
	}
}

// handleWeComScan plays WeCom on the member's phone: UserHeader (or the
// picker's cookie, or the form) names the member; ConsentHeader or the form
// answers allow/deny. A member outside the app's visible range is told 无权限
// and the code stays unanswered; a non-member cannot scan.
func (s *Simulator) handleWeComScan(w http.ResponseWriter, r *http.Request) {
	uuid := r.FormValue("uuid")
	name := r.Header.Get(UserHeader)
	if name == "" {
		name = r.PostFormValue("user")
	}
	if name == "" {
		if ck, err := r.Cookie(UserCookie); err == nil {
			name = ck.Value
		}
	}
	answer := r.Header.Get(ConsentHeader)
	if r.Method == http.MethodPost {
		answer = r.PostFormValue("action")
	}
	s.wecom.mu.Lock()
	s.wecom.init()
	l, ok := s.wecom.logins[uuid]
	live := ok && s.now().Before(l.expires) && !l.confirmed && !l.declined
	var corpID string
	var agentID int64
	if live {
		corpID, agentID = l.corp, l.agentID
	}
	s.wecom.mu.Unlock()
	if !live {
		s.renderPage(w, http.StatusOK, "wecom-scan", map[string]any{"Expired": true})
		return
	}
	c := s.wecom.corp(corpID)
	m := c.member(name)
	data := map[string]any{"UUID": uuid, "Corp": c, "Member": m}
	switch {
	case m == nil:
		data["Members"] = c.Members
	case !c.sees(c.app(agentID), m):
		w.Header().Set("X-WeChat-Mock-Error", "60011")
		data["NoPermission"] = true
	case answer == "allow" || answer == "deny":
		s.wecom.mu.Lock()
		if l, ok := s.wecom.logins[uuid]; ok {
			l.user, l.confirmed, l.declined = m.UserID, answer == "allow", answer == "deny"
		}
		s.wecom.mu.Unlock()
		data["Done"] = answer
	default:
		s.wecom.mu.Lock()
		l.user = m.UserID
		s.wecom.mu.Unlock()
	}
	s.renderPage(w, http.StatusOK, "wecom-scan", data)
}

// WeComLogins returns the uuids of desktop login QR codes neither answered
// nor expired, so a test scans one without reading HTML.
func (s *Simulator) WeComLogins() []string {
	s.wecom.mu.Lock()
	defer s.wecom.mu.Unlock()
	var out []string
	for id, l := range s.wecom.logins {
		if s.now().Before(l.expires) && !l.confirmed && !l.declined {
			out = append(out, id)
		}
	}
	return out
}
