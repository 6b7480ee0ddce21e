package wechattest

import (
	"net/http"
)

// componentWebCall checks what sns/oauth2/component/access_token and
// refresh_token share: the authorizer appid, the platform and its
// component_access_token, and grant_type. It answers the error itself and
// returns nil on failure; on success the caller holds s.mu.
func (s *Simulator) componentWebCall(w http.ResponseWriter, r *http.Request, grantType string) (*componentState, string) {
	q := r.URL.Query()
	appID := q.Get("appid")
	cs := s.componentFor(q.Get("component_appid"))
	switch {
	case appID == "":
		s.fail(w, r, 41002)
		return nil, ""
	case cs == nil:
		s.fail(w, r, 61011)
		return nil, ""
	case q.Get("grant_type") != grantType:
		s.fail(w, r, 40002)
		return nil, ""
	}
	s.mu.Lock()
	if code := s.componentTokenValidLocked(cs, q.Get("component_access_token")); code != 0 {
		s.mu.Unlock()
		s.fail(w, r, code)
		return nil, ""
	}
	if !cs.authorized[appID] {
		s.mu.Unlock()
		s.fail(w, r, 61003) // component is not authorized by this account
		return nil, ""
	}
	return cs, appID
}

// handleComponentCodeToken is GET sns/oauth2/component/access_token: a code
// the authorize page issued with component_appid, redeemed by the platform.
func (s *Simulator) handleComponentCodeToken(w http.ResponseWriter, r *http.Request) {
	cs, appID := s.componentWebCall(w, r, "authorization_code")
	if cs == nil {
		return
	}
	code := r.URL.Query().Get("code")
	if code == "" {
		s.mu.Unlock()
		s.fail(w, r, 41008)
		return
	}
	g, fail := s.redeemCodeLocked(code, appID, cs.cfg.AppID)
	if fail != 0 {
		s.mu.Unlock()
		s.fail(w, r, fail)
		return
	}
	res := s.issueWebTokenLocked(g, randomRefreshToken())
	s.mu.Unlock()
	// The component page lists five fields; unionid comes from sns/userinfo.
	res.UnionID, res.IsSnapshotUser = "", 0
	s.writeJSON(w, res)
}

// handleComponentRefresh is GET sns/oauth2/component/refresh_token.
func (s *Simulator) handleComponentRefresh(w http.ResponseWriter, r *http.Request) {
	cs, appID := s.componentWebCall(w, r, "refresh_token")
	if cs == nil {
		return
	}
	rt := r.URL.Query().Get("refresh_token")
	if rt == "" {
		s.mu.Unlock()
		s.fail(w, r, 41003)
		return
	}
	g, fail := s.refreshGrantLocked(rt, appID, cs.cfg.AppID)
	if fail != 0 {
		s.mu.Unlock()
		s.fail(w, r, fail)
		return
	}
	res := s.issueWebTokenLocked(g, rt)
	s.mu.Unlock()
	res.UnionID, res.IsSnapshotUser = "", 0
	s.writeJSON(w, res)
}
