package wechattest

import (
	"encoding/json"
	"net/http"
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
		s.fail(w, r, 40002)
		return
	}
	// cgi-bin/token answers a wrong secret with 40001.
	a := s.checkAppSecret(w, r, q.Get("appid"), q.Get("secret"), 40001)
	if a == nil {
		return
	}
	s.mu.Lock()
	if !s.countLocked(a.ID, "/cgi-bin/token") {
		s.mu.Unlock()
		s.fail(w, r, 45009)
		return
	}
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
// its last tokenOverlap, when a call renews it (the renewed-away token stays
// valid until its own expiry). force_refresh renews it at once and invalidates
// the old one, at most forceRefreshPerDay times a day and forceRefreshGap
// apart; beyond that it answers as normal mode does. It is isolated from
// cgi-bin/token.
func (s *Simulator) handleStableToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.fail(w, r, 43002)
		return
	}
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.fail(w, r, 47001)
		return
	}
	if req.GrantType != "client_credential" {
		s.fail(w, r, 40002)
		return
	}
	a := s.checkAppSecret(w, r, req.AppID, req.Secret, 40125)
	if a == nil {
		return
	}
	s.mu.Lock()
	if !s.countLocked(a.ID, "/cgi-bin/stable_token") {
		s.mu.Unlock()
		s.fail(w, r, 45009)
		return
	}
	now := s.now()
	cur := s.basic[a.stableToken]
	if req.ForceRefresh && cur != nil && s.mayForceLocked(a) {
		delete(s.basic, a.stableToken)
		cur = nil
	}
	if cur == nil || !now.Before(cur.expires.Add(-tokenOverlap)) {
		a.stableToken = randomID(136)
		cur = &basicToken{app: a.ID, expires: now.Add(basicTokenTTL)}
		s.basic[a.stableToken] = cur
	}
	res := basicTokenResponse{AccessToken: a.stableToken, ExpiresIn: int(cur.expires.Sub(now).Seconds())}
	s.mu.Unlock()
	s.writeJSON(w, res)
}

// mayForceLocked reports whether a force_refresh may renew a's stable token
// now, and counts it if so; callers hold s.mu.
func (s *Simulator) mayForceLocked(a *appState) bool {
	now := s.now()
	if !a.lastForce.IsZero() && now.Sub(a.lastForce) < forceRefreshGap {
		return false
	}
	k := a.ID + "\x00/cgi-bin/stable_token#force\x00" + day(now)
	if s.counts[k] >= forceRefreshPerDay {
		return false
	}
	s.counts[k]++
	a.lastForce = now
	return true
}

// basicApp checks a basic access_token; it answers the error itself and returns nil on failure.
func (s *Simulator) basicApp(w http.ResponseWriter, r *http.Request) *appState {
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		s.fail(w, r, 41001)
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
		s.fail(w, r, 40001)
	case expired:
		s.fail(w, r, 42001)
	default:
		return s.app(app)
	}
	return nil
}

// followerResponse is cgi-bin/user/info for a follower (docs/wechat.md §4): the
// profile fields are still sent, emptied since 2021-12-27, in WeChat's order.
type followerResponse struct {
	Subscribe      int    `json:"subscribe"`
	OpenID         string `json:"openid"`
	Nickname       string `json:"nickname"`
	Sex            int    `json:"sex"`
	Language       string `json:"language"`
	City           string `json:"city"`
	Province       string `json:"province"`
	Country        string `json:"country"`
	HeadImgURL     string `json:"headimgurl"`
	SubscribeTime  int64  `json:"subscribe_time"`
	UnionID        string `json:"unionid,omitempty"`
	Remark         string `json:"remark"`
	GroupID        int    `json:"groupid"`
	TagIDList      []int  `json:"tagid_list"`
	SubscribeScene string `json:"subscribe_scene"`
	QRScene        int    `json:"qr_scene"`
	QRSceneStr     string `json:"qr_scene_str"`
}

// nonFollowerResponse is cgi-bin/user/info for someone who does not follow:
// no unionid, even for a bound app (since 2017-12-31).
type nonFollowerResponse struct {
	Subscribe int    `json:"subscribe"`
	OpenID    string `json:"openid"`
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
		s.fail(w, r, 41009)
		return
	}
	lang := q.Get("lang")
	if lang == "" {
		lang = "zh_CN"
	}
	if !langs[lang] {
		s.fail(w, r, 40097)
		return
	}
	u, ok := s.userByOpenID(a.ID, openID)
	if !ok {
		s.fail(w, r, 40003)
		return
	}
	s.mu.Lock()
	since, sub := s.subscribedSince(a, u)
	s.mu.Unlock()
	if !sub {
		s.writeJSON(w, nonFollowerResponse{OpenID: openID, TagIDList: []int{}})
		return
	}
	s.writeJSON(w, followerResponse{Subscribe: 1, OpenID: openID, Language: lang, SubscribeTime: since.Unix(),
		UnionID: s.UnionID(a.ID, u.Name), TagIDList: []int{}, SubscribeScene: "ADD_SCENE_QR_CODE"})
}
