package wechattest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WeCom's JSON APIs (qyapi.weixin.qq.com). Errmsgs carry WeCom's tail
// ", hint: […], from ip: …, more info at https://open.work.weixin.qq.com/devtool/query?e=N".

var wecomErrMsgs = map[int]string{
	-1:    "system busy",
	40001: "invalid credential",
	40013: "invalid corpid",
	40014: "invalid access_token",
	40029: "invalid code",
	40056: "invalid agentid",
	41001: "access_token missing",
	41008: "missing code",
	42001: "access_token expired",
	48002: "api forbidden",
	50001: "redirect_uri unauthorized",
	60011: "no privilege to access/modify contact/party/agent",
	60020: "not allow to access from your ip",
	60021: "userid not in agent visible range",
	60111: "userid not found",
	60123: "invalid party id",
	84014: "invalid user ticket",
	// 301002's errmsg as developers quote it (docs/wechat.md §11).
	301002: "not allow operate another agent with this accesstoken.",
}

// wecomFail answers errcode code as WeCom writes it.
func (s *Simulator) wecomFail(w http.ResponseWriter, r *http.Request, code int) {
	msg := fmt.Sprintf("%s, hint: [%d_%s], from ip: %s, more info at https://open.work.weixin.qq.com/devtool/query?e=%d",
		wecomErrMsgs[code], s.now().Unix(), randomHex(12), callerIP(r), code)
	s.writeJSON(w, apiError{ErrCode: code, ErrMsg: msg})
}

func (s *Simulator) handleWeComToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c := s.wecom.corp(q.Get("corpid"))
	if c == nil {
		s.wecomFail(w, r, 40013)
		return
	}
	i := slices.IndexFunc(c.Apps, func(a CorpApp) bool { return a.Secret == q.Get("corpsecret") })
	if q.Get("corpsecret") == "" || i < 0 || c.Apps[i].Disabled {
		s.wecomFail(w, r, 40001)
		return
	}
	tok := randomID(48)
	s.wecom.mu.Lock()
	s.wecom.init()
	s.wecom.tokens[tok] = &wecomToken{corp: c.ID, agentID: c.Apps[i].AgentID, expires: s.now().Add(wecomTokenTTL)}
	s.wecom.mu.Unlock()
	s.writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "access_token": tok, "expires_in": int(wecomTokenTTL / time.Second)})
}

// wecomApp checks a data API's access_token, the caller's IP against the
// app's 企业可信IP and the app's permission for the path; nil means it answered.
func (s *Simulator) wecomApp(w http.ResponseWriter, r *http.Request) (*Corp, *CorpApp) {
	tok := r.URL.Query().Get("access_token")
	s.wecom.mu.Lock()
	s.wecom.init()
	t, ok := s.wecom.tokens[tok]
	s.wecom.mu.Unlock()
	switch {
	case tok == "":
		s.wecomFail(w, r, 41001)
	case !ok:
		s.wecomFail(w, r, 40014)
	case !s.now().Before(t.expires):
		s.wecomFail(w, r, 42001)
	default:
		c := s.wecom.corp(t.corp)
		a := c.app(t.agentID)
		switch {
		case a == nil: // EditCorp removed the app: its tokens die with it
			s.wecomFail(w, r, 40014)
		case len(a.TrustedIPs) > 0 && !slices.Contains(a.TrustedIPs, callerIP(r)):
			s.wecomFail(w, r, 60020)
		case slices.Contains(a.DeniedAPIs, r.URL.Path):
			s.wecomFail(w, r, 48002)
		default:
			return c, a
		}
	}
	return nil, nil
}

// redeem takes a code for the app: single use, 5 minutes, same corp, and
// its redirect host one of the app's 可信域名 (else 50001).
func (s *Simulator) redeem(w http.ResponseWriter, r *http.Request) (*Corp, *CorpApp, *wecomGrant) {
	c, a := s.wecomApp(w, r)
	if c == nil {
		return nil, nil, nil
	}
	code := r.URL.Query().Get("code")
	if code == "" {
		s.wecomFail(w, r, 41008)
		return nil, nil, nil
	}
	s.wecom.mu.Lock()
	g, ok := s.wecom.codes[code]
	valid := ok && !g.used && s.now().Before(g.expires) && g.corp == c.ID && (g.agentID == 0 || g.agentID == a.AgentID)
	trusted := valid && slices.Contains(a.TrustedDomains, g.redirect)
	if trusted {
		g.used = true
	}
	s.wecom.mu.Unlock()
	switch {
	case !valid:
		s.wecomFail(w, r, 40029)
	case !trusted:
		s.wecomFail(w, r, 50001)
	default:
		return c, a, g
	}
	return nil, nil, nil
}

// wecomIdentity is what getuserinfo answers for g: the userid (and, under
// privateinfo with consent, in the visible range, not desktop, not a
// 互联企业 member, a user_ticket) or the openid (and external_userid for a customer).
func (s *Simulator) wecomIdentity(c *Corp, a *CorpApp, g *wecomGrant) (userID, ticket, openID, external string) {
	if !g.member {
		openID = derive("wecom-openid", c.ID, g.user)
		if slices.Contains(c.Customers, g.user) {
			external = "wm" + derive("external", c.ID, g.user)
		}
		return "", "", openID, external
	}
	m := c.member(g.user)
	if g.scope == "snsapi_privateinfo" && g.ticketFor && !g.desktop && m != nil && c.sees(a, m) && !containsSlash(g.user) {
		ticket = randomID(64)
		s.wecom.mu.Lock()
		s.wecom.tickets[ticket] = &wecomGrant{corp: c.ID, agentID: a.AgentID, user: g.user, expires: s.now().Add(wecomTicketTTL)}
		s.wecom.mu.Unlock()
	}
	return g.user, ticket, "", ""
}

func containsSlash(s string) bool { return strings.Contains(s, "/") }

func (s *Simulator) handleWeComAuthUser(w http.ResponseWriter, r *http.Request) {
	c, a, g := s.redeem(w, r)
	if c == nil {
		return
	}
	userID, ticket, openID, external := s.wecomIdentity(c, a, g)
	out := map[string]any{"errcode": 0, "errmsg": "ok"}
	// No expires_in: the self-built app's answer states user_ticket's 1800 s in prose only.
	for k, v := range map[string]string{"userid": userID, "user_ticket": ticket, "openid": openID, "external_userid": external} {
		if v != "" {
			out[k] = v
		}
	}
	s.writeJSON(w, out)
}

// handleWeComOldUser is the older cgi-bin/user/getuserinfo: capitalised
// UserId/DeviceId/OpenId, external_userid lower-case, expires_in with a ticket.
func (s *Simulator) handleWeComOldUser(w http.ResponseWriter, r *http.Request) {
	c, a, g := s.redeem(w, r)
	if c == nil {
		return
	}
	userID, ticket, openID, external := s.wecomIdentity(c, a, g)
	out := map[string]any{"errcode": 0, "errmsg": "ok"}
	if userID != "" {
		out["UserId"], out["DeviceId"] = userID, derive("device", c.ID, userID)
	}
	if ticket != "" {
		out["user_ticket"], out["expires_in"] = ticket, int(wecomTicketTTL/time.Second)
	}
	if openID != "" {
		out["OpenId"] = openID
	}
	if external != "" {
		out["external_userid"] = external
	}
	s.writeJSON(w, out)
}

func (s *Simulator) handleWeComUserDetail(w http.ResponseWriter, r *http.Request) {
	c, a := s.wecomApp(w, r)
	if c == nil {
		return
	}
	var body struct {
		UserTicket string `json:"user_ticket"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	s.wecom.mu.Lock()
	g, ok := s.wecom.tickets[body.UserTicket]
	s.wecom.mu.Unlock()
	if !ok || !s.now().Before(g.expires) || g.corp != c.ID || g.agentID != a.AgentID {
		s.wecomFail(w, r, 84014)
		return
	}
	m := c.member(g.user)
	if m == nil || !c.sees(a, m) {
		s.wecomFail(w, r, 60021)
		return
	}
	gender := m.Gender
	if gender == "" {
		gender = "0"
	}
	s.writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "userid": m.UserID, "gender": gender,
		"avatar": "https://wework.qpic.cn/wwpic/mock/0", "qr_code": "https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=mock",
		"mobile": m.Mobile, "email": m.Email, "biz_mail": "", "address": ""})
}

// handleWeComUserGet is cgi-bin/user/get as an app created after
// 2022-06-20 sees it: no mobile, email, avatar, gender or address.
func (s *Simulator) handleWeComUserGet(w http.ResponseWriter, r *http.Request) {
	c, a := s.wecomApp(w, r)
	if c == nil {
		return
	}
	m := c.member(r.URL.Query().Get("userid"))
	switch {
	case m == nil:
		s.wecomFail(w, r, 60111)
	case !c.sees(a, m):
		s.wecomFail(w, r, 60011)
	default:
		main := int64(0)
		if len(m.Departments) > 0 {
			main = m.Departments[0]
		}
		s.writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "userid": m.UserID, "name": m.Name,
			"department": m.Departments, "main_department": main, "status": 1})
	}
}

// handleWeComDepartments is cgi-bin/department/simplelist: id and its
// sub-departments (all without id), as far as the app's visible range reaches.
func (s *Simulator) handleWeComDepartments(w http.ResponseWriter, r *http.Request) {
	c, a := s.wecomApp(w, r)
	if c == nil {
		return
	}
	var root int64
	if v := r.URL.Query().Get("id"); v != "" {
		var err error
		if root, err = strconv.ParseInt(v, 10, 64); err != nil || !slices.ContainsFunc(c.Departments, func(d Department) bool { return d.ID == root }) {
			s.wecomFail(w, r, 60123)
			return
		}
	}
	list := []map[string]int64{}
	for i, d := range c.Departments {
		visible := slices.ContainsFunc(a.VisibleDepartments, func(v int64) bool { return c.under(d.ID, v) })
		if visible && (root == 0 || c.under(d.ID, root)) {
			list = append(list, map[string]int64{"id": d.ID, "parentid": d.ParentID, "order": int64(100000000 - i)})
		}
	}
	s.writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "department_id": list})
}

// handleWeComAgent is cgi-bin/agent/get (path 90227) for the token's own
// app: its visible range, its 可信域名 (the first of TrustedDomains: WeCom
// keeps one redirect_domain; the simulator's other hosts are aliases of
// its own) and close 0. Another app's agentid answers 301002.
func (s *Simulator) handleWeComAgent(w http.ResponseWriter, r *http.Request) {
	c, a := s.wecomApp(w, r)
	if c == nil {
		return
	}
	id, err := strconv.ParseInt(r.URL.Query().Get("agentid"), 10, 64)
	switch {
	case err != nil || c.app(id) == nil:
		s.wecomFail(w, r, 40056)
		return
	case id != a.AgentID:
		s.wecomFail(w, r, 301002)
		return
	}
	users := []map[string]string{}
	for _, u := range a.VisibleUsers {
		users = append(users, map[string]string{"userid": u})
	}
	domain := ""
	if len(a.TrustedDomains) > 0 {
		domain = a.TrustedDomains[0]
	}
	s.writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "agentid": a.AgentID, "name": fmt.Sprintf("应用 %d", a.AgentID),
		"square_logo_url": "https://p.qlogo.cn/bizmail/mock/0", "description": "",
		"allow_userinfos": map[string]any{"user": users}, "allow_partys": map[string]any{"partyid": append([]int64{}, a.VisibleDepartments...)},
		"allow_tags": map[string]any{"tagid": []int64{}}, "close": 0, "redirect_domain": domain,
		"report_location_flag": 0, "isreportenter": 0, "home_url": ""})
}
