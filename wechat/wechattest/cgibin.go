package wechattest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

type basicTokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// handleToken is cgi-bin/token: every call issues a new token, and the previous one
// keeps working only for a short overlap (tokenOverlap), as WeChat documents.
func (s *Simulator) handleToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("grant_type") != "client_credential" {
		s.fail(w, 40002)
		return
	}
	// cgi-bin/token answers a wrong secret with 40001.
	a := s.checkAppSecret(w, q.Get("appid"), q.Get("secret"), 40001)
	if a == nil {
		return
	}
	s.mu.Lock()
	now := s.now()
	for tok, bt := range s.basic {
		if bt.app != a.ID || tok == a.stableToken {
			continue
		}
		if tok == a.cgiToken {
			// After the overlap it is "not latest": 40001, not 42001.
			bt.revokeAt = now.Add(tokenOverlap)
		} else {
			delete(s.basic, tok)
		}
	}
	tok := randomID(136)
	s.basic[tok] = &basicToken{app: a.ID, expires: now.Add(basicTokenTTL)}
	a.cgiToken = tok
	s.mu.Unlock()
	s.writeJSON(w, basicTokenResponse{AccessToken: tok, ExpiresIn: int(basicTokenTTL.Seconds())})
}

// handleStableToken is cgi-bin/stable_token: the same token for every caller until
// its last tokenOverlap, when a call renews it; force_refresh renews it at once and
// invalidates the old one. It is isolated from cgi-bin/token.
func (s *Simulator) handleStableToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.fail(w, 43002)
		return
	}
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.fail(w, 47001)
		return
	}
	if req.GrantType != "client_credential" {
		s.fail(w, 40002)
		return
	}
	a := s.checkAppSecret(w, req.AppID, req.Secret, 40125)
	if a == nil {
		return
	}
	s.mu.Lock()
	now := s.now()
	cur := s.basic[a.stableToken]
	if req.ForceRefresh && cur != nil {
		delete(s.basic, a.stableToken)
		cur = nil
	}
	if cur == nil || !now.Before(cur.expires.Add(-tokenOverlap)) {
		// The renewed-away token stays valid until its own expiry.
		a.stableToken = randomID(136)
		cur = &basicToken{app: a.ID, expires: now.Add(basicTokenTTL)}
		s.basic[a.stableToken] = cur
	}
	res := basicTokenResponse{AccessToken: a.stableToken, ExpiresIn: int(cur.expires.Sub(now).Seconds())}
	s.mu.Unlock()
	s.writeJSON(w, res)
}

// basicApp checks a basic access_token; it answers the error itself and returns nil on failure.
func (s *Simulator) basicApp(w http.ResponseWriter, r *http.Request) *appState {
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		s.fail(w, 41001)
		return nil
	}
	s.mu.Lock()
	bt, ok := s.basic[tok]
	var app string
	expired := false
	if ok {
		now := s.now()
		app, expired = bt.app, !now.Before(bt.expires)
		ok = bt.revokeAt.IsZero() || now.Before(bt.revokeAt)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		s.fail(w, 40001)
	case expired:
		s.fail(w, 42001)
	default:
		return s.app(app)
	}
	return nil
}

// followerResponse is cgi-bin/user/info for a follower (WECHAT.md §4).
type followerResponse struct {
	Subscribe      int    `json:"subscribe"`
	OpenID         string `json:"openid"`
	Language       string `json:"language"`
	SubscribeTime  int64  `json:"subscribe_time"`
	UnionID        string `json:"unionid,omitempty"`
	Remark         string `json:"remark"`
	GroupID        int    `json:"groupid"`
	TagIDList      []int  `json:"tagid_list"`
	SubscribeScene string `json:"subscribe_scene"`
	QRScene        int    `json:"qr_scene"`
	QRSceneStr     string `json:"qr_scene_str"`
}

// nonFollowerResponse is cgi-bin/user/info for someone who does not follow.
type nonFollowerResponse struct {
	Subscribe int    `json:"subscribe"`
	OpenID    string `json:"openid"`
	UnionID   string `json:"unionid,omitempty"`
	TagIDList []int  `json:"tagid_list"`
}

func (s *Simulator) handleFollower(w http.ResponseWriter, r *http.Request) {
	a := s.basicApp(w, r)
	if a == nil {
		return
	}
	q := r.URL.Query()
	openID := q.Get("openid")
	if openID == "" {
		s.fail(w, 41009)
		return
	}
	lang := q.Get("lang")
	if lang == "" {
		lang = "zh_CN"
	}
	if !langs[lang] {
		s.fail(w, 40097)
		return
	}
	u, ok := s.userByOpenID(a.ID, openID)
	if !ok {
		s.fail(w, 40003)
		return
	}
	s.mu.Lock()
	since, sub := s.subscribedSince(a, u)
	s.mu.Unlock()
	unionID := s.UnionID(a.ID, u.Name)
	if !sub {
		s.writeJSON(w, nonFollowerResponse{OpenID: openID, UnionID: unionID, TagIDList: []int{}})
		return
	}
	s.writeJSON(w, followerResponse{Subscribe: 1, OpenID: openID, Language: lang, SubscribeTime: since.Unix(),
		UnionID: unionID, TagIDList: []int{}, SubscribeScene: "ADD_SCENE_QR_CODE"})
}

func (s *Simulator) handleMenuCreate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.fail(w, 43002)
		return
	}
	a := s.basicApp(w, r)
	if a == nil {
		return
	}
	body, _ := io.ReadAll(r.Body)
	// WeChat refuses \u escapes outright (encoders escaping & < > as \u0026 …).
	if bytes.Contains(body, []byte(`\u00`)) {
		s.fail(w, 40033)
		return
	}
	var m wechat.Menu
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		s.fail(w, 47001)
		return
	}
	m.MenuID = 0
	if probs := wechat.ValidateMenu(&m); len(probs) > 0 {
		s.writeJSON(w, errBody(probs[0].Code, probs[0].String()))
		return
	}
	s.mu.Lock()
	s.nextMenuID++
	m.MenuID = s.nextMenuID
	a.menu = &m
	s.mu.Unlock()
	s.writeJSON(w, apiError{ErrCode: 0, ErrMsg: "ok"})
}

func (s *Simulator) handleMenuGet(w http.ResponseWriter, r *http.Request) {
	a := s.basicApp(w, r)
	if a == nil {
		return
	}
	m := s.Menu(a.ID)
	if m == nil {
		s.fail(w, 46003)
		return
	}
	buttons := make([]map[string]any, len(m.Button))
	for i, b := range m.Button {
		buttons[i] = buttonJSON(b, false)
	}
	s.writeJSON(w, map[string]any{"menu": map[string]any{"button": buttons, "menuid": m.MenuID}})
}

// buttonJSON renders b as menu/get does: "sub_button":[] on every button, or, for
// get_current_selfmenu_info (self), sub-buttons wrapped as {"list":[…]}.
func buttonJSON(b wechat.Button, self bool) map[string]any {
	var raw map[string]any
	data, _ := json.Marshal(b)
	_ = json.Unmarshal(data, &raw)
	subs := make([]map[string]any, len(b.SubButton))
	for i, sb := range b.SubButton {
		subs[i] = buttonJSON(sb, self)
	}
	switch {
	case self && len(subs) > 0:
		raw["sub_button"] = map[string]any{"list": subs}
	case self:
		delete(raw, "sub_button")
	default:
		raw["sub_button"] = subs
	}
	return raw
}

func (s *Simulator) handleMenuDelete(w http.ResponseWriter, r *http.Request) {
	a := s.basicApp(w, r)
	if a == nil {
		return
	}
	s.mu.Lock()
	a.menu = nil
	s.mu.Unlock()
	s.writeJSON(w, apiError{ErrCode: 0, ErrMsg: "ok"})
}

func (s *Simulator) handleSelfMenu(w http.ResponseWriter, r *http.Request) {
	a := s.basicApp(w, r)
	if a == nil {
		return
	}
	m := s.Menu(a.ID)
	if m == nil {
		s.writeJSON(w, map[string]any{"is_menu_open": 0})
		return
	}
	buttons := make([]map[string]any, len(m.Button))
	for i, b := range m.Button {
		buttons[i] = buttonJSON(b, true)
	}
	s.writeJSON(w, map[string]any{"is_menu_open": 1, "selfmenu_info": map[string]any{"button": buttons}})
}
