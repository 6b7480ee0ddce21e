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
	s.componentWebToken(w, r, "authorization_code", "code", 41008, func(code, appID, componentAppID string) (*grant, int, string) {
		g, fail := s.redeemCodeLocked(code, appID, componentAppID)
		return g, fail, randomRefreshToken()
	})
}

// handleComponentRefresh is GET sns/oauth2/component/refresh_token.
func (s *Simulator) handleComponentRefresh(w http.ResponseWriter, r *http.Request) {
	s.componentWebToken(w, r, "refresh_token", "refresh_token", 41003, func(rt, appID, componentAppID string) (*grant, int, string) {
		g, fail := s.refreshGrantLocked(rt, appID, componentAppID)
		return g, fail, rt
	})
}

// componentWebToken answers both component web-token calls: the platform's
// credentials checked, the query parameter param present (else missing),
// redeem run under the lock, and the five fields the component page lists
// (unionid comes from sns/userinfo).
func (s *Simulator) componentWebToken(w http.ResponseWriter, r *http.Request, grantType, param string, missing int,
	redeem func(value, appID, componentAppID string) (g *grant, fail int, refreshToken string)) {
	cs, appID := s.componentWebCall(w, r, grantType)
	if cs == nil {
		return
	}
	v := r.URL.Query().Get(param)
	if v == "" {
		s.mu.Unlock()
		s.fail(w, r, missing)
		return
	}
	g, fail, rt := redeem(v, appID, cs.cfg.AppID)
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
