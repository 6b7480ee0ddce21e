package wechattest

import (
	"net/http"
	"net/url"
	"strings"
)

// tokenResponse is sns/oauth2/access_token's (and refresh_token's) success body.
type tokenResponse struct {
	AccessToken    string `json:"access_token"`
	ExpiresIn      int    `json:"expires_in"`
	RefreshToken   string `json:"refresh_token"`
	OpenID         string `json:"openid"`
	Scope          string `json:"scope"`
	IsSnapshotUser int    `json:"is_snapshotuser,omitempty"`
	UnionID        string `json:"unionid,omitempty"`
}

// userInfoResponse is sns/userinfo's body; since late 2021 sex is 0 and the region empty.
// It deliberately does not reuse wechat.UserInfo: the simulator states WeChat's
// shapes on its own (from docs/wechat.md), so a wrong field in the client cannot make
// the simulator agree with it.
type userInfoResponse struct {
	OpenID     string   `json:"openid"`
	Nickname   string   `json:"nickname"`
	Sex        int      `json:"sex"`
	Province   string   `json:"province"`
	City       string   `json:"city"`
	Country    string   `json:"country"`
	HeadImgURL string   `json:"headimgurl"`
	Privilege  []string `json:"privilege"`
	UnionID    string   `json:"unionid,omitempty"`
}

// checkAppSecret validates appid and secret as the sns and stable_token APIs do; it
// answers the error itself and returns nil on failure.
func (s *Simulator) checkAppSecret(w http.ResponseWriter, r *http.Request, appID, secret string, wrongSecret int) *appState {
	switch a := s.app(appID); {
	case appID == "":
		s.fail(w, r, 41002)
	case a == nil:
		s.fail(w, r, 40013)
	case secret == "":
		s.fail(w, r, 41004)
	case secret != a.Secret:
		s.fail(w, r, wrongSecret)
	default:
		return a
	}
	return nil
}

func (s *Simulator) handleCodeToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a := s.checkAppSecret(w, r, q.Get("appid"), q.Get("secret"), 40125)
	if a == nil {
		return
	}
	if q.Get("grant_type") != "authorization_code" {
		s.fail(w, r, 40002)
		return
	}
	code := q.Get("code")
	if code == "" {
		s.fail(w, r, 41008)
		return
	}
	s.mu.Lock()
	g, fail := s.redeemCodeLocked(code, a.ID, "")
	if fail != 0 {
		s.mu.Unlock()
		s.fail(w, r, fail)
		return
	}
	res := s.issueWebTokenLocked(g, randomRefreshToken())
	s.mu.Unlock()
	s.writeJSON(w, res)
}

// redeemCodeLocked takes code for app, asked for by the platform component
// ("" for the account itself), and marks it used; the errcode is 0 when it
// is good. A code is bound to the app that issued it (and a platform's code
// to the platform): for any other caller it does not exist. Callers hold s.mu.
func (s *Simulator) redeemCodeLocked(code, app, component string) (*grant, int) {
	g, ok := s.codes[code]
	switch {
	case !ok || g.app != app || g.component != component:
		return nil, 40029
	case g.used:
		return nil, 40163
	case !s.now().Before(g.expires):
		return nil, 40029
	}
	g.used = true
	return g, 0
}

// refreshGrantLocked checks a refresh_token as redeemCodeLocked checks a
// code. Callers hold s.mu.
func (s *Simulator) refreshGrantLocked(rt, app, component string) (*grant, int) {
	g, ok := s.refreshes[rt]
	switch {
	case !ok || g.app != app || g.component != component || g.withdrawn:
		return nil, 40030
	case s.expired(g.expires):
		return nil, 42002
	}
	return g, 0
}

func randomRefreshToken() string { return randomID(86) }

// issueWebTokenLocked issues a web access_token for g; callers hold s.mu.
func (s *Simulator) issueWebTokenLocked(g *grant, refresh string) tokenResponse {
	at := randomID(86)
	now := s.now()
	s.webTokens[at] = &grant{app: g.app, user: g.user, scope: g.scope, snapshot: g.snapshot, expires: now.Add(webTokenTTL),
		component: g.component}
	if _, ok := s.refreshes[refresh]; !ok {
		s.refreshes[refresh] = &grant{app: g.app, user: g.user, scope: g.scope, snapshot: g.snapshot,
			expires: now.Add(refreshTokenTTL), component: g.component}
	}
	openID, unionID := s.identity(g)
	res := tokenResponse{AccessToken: at, ExpiresIn: int(webTokenTTL.Seconds()), RefreshToken: refresh,
		OpenID: openID, Scope: g.scope}
	if g.snapshot {
		res.IsSnapshotUser = 1
	}
	// WeChat sends unionid here only to bound apps, and only for snsapi_userinfo
	// ("只有当scope为snsapi_userinfo时返回"); a base-scope follower's unionid
	// comes from cgi-bin/user/info.
	// A website app's snsapi_login grant carries it too (docs/wechat.md §10).
	if g.scope == "snsapi_userinfo" || g.scope == scopeLogin {
		res.UnionID = unionID
	}
	return res
}

func (s *Simulator) handleRefreshToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appID := q.Get("appid")
	a := s.app(appID)
	switch {
	case appID == "":
		s.fail(w, r, 41002)
		return
	case a == nil:
		s.fail(w, r, 40013)
		return
	case q.Get("grant_type") != "refresh_token":
		s.fail(w, r, 40002)
		return
	case q.Get("refresh_token") == "":
		s.fail(w, r, 41003)
		return
	}
	rt := q.Get("refresh_token")
	s.mu.Lock()
	g, fail := s.refreshGrantLocked(rt, a.ID, "")
	if fail != 0 {
		s.mu.Unlock()
		s.fail(w, r, fail)
		return
	}
	if s.rotateRefresh {
		rt = s.rotateLocked(rt, g)
	}
	res := s.issueWebTokenLocked(g, rt)
	s.mu.Unlock()
	s.writeJSON(w, res)
}

// webGrant checks a web access_token and openid as sns/userinfo and sns/auth do; it
// answers the error itself and returns nil on failure.
func (s *Simulator) webGrant(w http.ResponseWriter, r *http.Request) *grant {
	q := r.URL.Query()
	at, openID := q.Get("access_token"), q.Get("openid")
	if at == "" {
		s.fail(w, r, 41001)
		return nil
	}
	if openID == "" {
		s.fail(w, r, 41009)
		return nil
	}
	s.mu.Lock()
	g, ok := s.webTokens[at]
	var cp grant
	if ok {
		cp = *g
	}
	s.mu.Unlock()
	switch {
	case !ok:
		s.fail(w, r, 40014)
	case cp.withdrawn: // the simulator's choice: WeChat documents none
		s.fail(w, r, 40003)
	case !s.now().Before(cp.expires):
		s.fail(w, r, 42001)
	default:
		if id, _ := s.identity(&cp); id != openID {
			s.fail(w, r, 40003)
			return nil
		}
		return &cp
	}
	return nil
}

var langs = map[string]bool{"zh_CN": true, "zh_TW": true, "en": true}

func (s *Simulator) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	g := s.webGrant(w, r)
	if g == nil {
		return
	}
	if g.scope != "snsapi_userinfo" && g.scope != scopeLogin {
		s.fail(w, r, 48001)
		return
	}
	if lang := q.Get("lang"); lang != "" && !langs[lang] {
		s.fail(w, r, 40097)
		return
	}
	openID, unionID := s.identity(g)
	u, _ := s.user(g.user)
	u = s.withProfile(u)
	res := userInfoResponse{OpenID: openID, Nickname: u.Nickname, HeadImgURL: s.avatarURL(r, u, g.snapshot),
		Privilege: []string{}, UnionID: unionID}
	if g.snapshot {
		res.Nickname = snapshotNickname
	}
	s.writeJSON(w, res)
}

// avatarURL is u's avatar; the simulator draws one when the user has none, at a
// URL ending in the size segment as WeChat's do.
func (s *Simulator) avatarURL(r *http.Request, u User, snapshot bool) string {
	if u.HeadImgURL != "" && !snapshot {
		return u.HeadImgURL
	}
	name := u.Name
	if snapshot {
		name = "_snapshot"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/mock/avatar/" + url.PathEscape(name) + "/132"
}

func (s *Simulator) handleAuth(w http.ResponseWriter, r *http.Request) {
	if s.webGrant(w, r) == nil {
		return
	}
	s.writeJSON(w, okBody)
}

// handleAvatar draws a round-cornered square with the nickname's first character.
func (s *Simulator) handleAvatar(w http.ResponseWriter, r *http.Request) {
	name, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/mock/avatar/"), "/")
	letter, color := "微", "#9e9e9e"
	if u, ok := s.user(name); ok && u.Nickname != "" {
		letter = string([]rune(u.Nickname)[:1])
		colors := []string{"#07c160", "#10aeff", "#fa9d3b", "#fa5151", "#6467f0"}
		color = colors[len(u.Name)%len(colors)]
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "max-age=86400")
	_ = avatarTmpl.Execute(w, map[string]string{"Letter": letter, "Color": color})
}
