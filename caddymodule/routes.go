package wechatauth

import (
	"encoding/json"
	"net/http"
	"time"
)

// The endpoints under path_prefix: a table built at provision from what the
// handler serves (its gate, its flows' own endpoints, JS-SDK, JWKS), so
// the dispatcher (ServeHTTP, serveRoute) is one lookup and the origin check
// happens there, once; and the endpoints' JSON answers.

// routeTable is the endpoints under path_prefix: the gate's, the flows'
// own, JS-SDK and JWKS.
func (h *Handler) routeTable() map[string]route {
	g := h.gate
	t := map[string]route{
		"callback":     {h.logins.serveCallback, true},
		"login":        {g.serveLogin, true},
		"logout":       {g.serveLogout, true},
		"userinfo":     {g.serveUserInfo, true},
		"auth":         {g.serveForwardAuth, true},
		"auth_request": {g.serveAuthRequest, true},
		"subscribed":   {g.serveSubscribed, true},
		"jssdk":        {h.jssdk.serveEndpoint, true},
		"jssdk.js": {func(w http.ResponseWriter, r *http.Request, _ origin) error {
			serveJSSDKScript(w, r)
			return nil
		}, false},
	}
	if h.assert != nil {
		t["jwks.json"] = route{func(w http.ResponseWriter, r *http.Request, _ origin) error {
			h.assert.serveJWKS(w, r)
			return nil
		}, false}
	}
	for _, fl := range h.logins.flows {
		if rf, ok := fl.(routedFlow); ok {
			rf.routes(func(name string, e endpoint) { t[name] = route{e, true} })
		}
	}
	return t
}

// userInfoJSON is the session as GET <path_prefix>/userinfo shows it.
type userInfoJSON struct {
	OpenID    string `json:"openid"`
	UnionID   string `json:"unionid,omitempty"`
	Scope     string `json:"scope"`
	Nickname  string `json:"nickname,omitempty"`
	Avatar    string `json:"avatar,omitempty"`
	IssuedAt  string `json:"issued_at"`
	ExpiresAt string `json:"expires_at"`
}

func (g *gate) serveUserInfo(w http.ResponseWriter, r *http.Request, site origin) error {
	id := g.sessions.identityFrom(r)
	if id == nil {
		g.writeSignInJSON(w, site, "/")
		return nil
	}
	s := id.sess
	writeJSON(w, http.StatusOK, userInfoJSON{
		OpenID: s.OpenID, UnionID: s.UnionID, Scope: s.Scope, Nickname: s.Nickname, Avatar: s.Avatar,
		IssuedAt:  time.Unix(s.Issued, 0).UTC().Format(time.RFC3339),
		ExpiresAt: time.Unix(s.Expires, 0).UTC().Format(time.RFC3339),
	})
	return nil
}

// jsonError is the body of every JSON error: a stable code for programs and
// a sentence for people.
type jsonError struct {
	Error    string `json:"error"`
	Message  string `json:"message"`
	LoginURL string `json:"login_url,omitempty"`
}

func writeJSONError(w http.ResponseWriter, status int, code, msg, loginURL string) {
	if status == http.StatusUnauthorized && loginURL != "" {
		w.Header().Set("WWW-Authenticate", `WeChat realm="wechat_auth"`)
	}
	writeJSON(w, status, jsonError{Error: code, Message: msg, LoginURL: loginURL})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
