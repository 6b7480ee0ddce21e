package wechatauth

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// The endpoints under path_prefix: a table built at provision from what the
// handler serves (its gate, its flows' own endpoints, JS-SDK, JWKS), so
// the dispatcher is one lookup and the origin check happens there, once.

// endpoint answers one endpoint. site is the request's origin, already
// checked (siteCheck) for the endpoints that build URLs. An error goes up
// Caddy's handler chain (handle_errors).
type endpoint func(w http.ResponseWriter, r *http.Request, site origin) error

// route is one entry of the table.
type route struct {
	serve endpoint
	site  bool // needs the request's origin (builds a URL from it)
}

// endpointName returns the name of the endpoint a path addresses under
// path_prefix.
func endpointName(path, prefix string) (string, bool) {
	if len(path) <= len(prefix)+1 || path[len(prefix)] != '/' || !strings.HasPrefix(path, prefix) {
		return "", false
	}
	return path[len(prefix)+1:], true
}

// serveRoute answers an endpoint: unknown names get the not-found page.
func serveRoute(w http.ResponseWriter, r *http.Request, routes map[string]route, sites siteCheck, name string) error {
	rt, ok := routes[name]
	if !ok {
		writeNotFound(w)
		return nil
	}
	var site origin
	if rt.site {
		if site, ok = sites.of(w, r); !ok {
			return nil
		}
	}
	return rt.serve(w, r, site)
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
