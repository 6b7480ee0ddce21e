package wechatauth

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// endpoint returns the name of the endpoint a path addresses under path_prefix.
func (h *Handler) endpoint(path string) (string, bool) {
	if len(path) <= len(h.PathPrefix)+1 || path[len(h.PathPrefix)] != '/' || !strings.HasPrefix(path, h.PathPrefix) {
		return "", false
	}
	return path[len(h.PathPrefix)+1:], true
}

func (h *Handler) serveEndpoint(w http.ResponseWriter, r *http.Request, ep string) error {
	switch ep {
	case "callback":
		h.serveCallback(w, r)
	case "login":
		h.serveLogin(w, r)
	case "logout":
		h.serveLogout(w, r)
	case "userinfo":
		h.serveUserInfo(w, r)
	case "auth":
		h.serveForwardAuth(w, r)
	case "auth_request":
		h.serveAuthRequest(w, r)
	case "subscribed":
		h.serveSubscribed(w, r)
	case "relay":
		h.serveRelay(w, r)
	case "handback":
		h.serveHandBack(w, r)
	case "jssdk":
		h.serveJSSDK(w, r)
	case "jssdk.js":
		serveJSSDKScript(w, r)
	case "jwks.json":
		h.serveJWKS(w, r)
	default:
		writeNotFound(w)
	}
	return nil
}

// serveLogout ends the session: GET <path_prefix>/logout?rd=URL works from a
// plain link in a menu or page. rd is validated like every return URL.
func (h *Handler) serveLogout(w http.ResponseWriter, r *http.Request) {
	site, ok := h.site(w, r)
	if !ok {
		return
	}
	if id := h.identityFrom(r); id != nil {
		// Ends this session on every replica, not only in this browser: a
		// copied cookie stops working too.
		h.revokeSession(r.Context(), &id.sess)
	}
	h.clearSession(w, r, site)
	redirect(w, r, h.returnURL(r.URL.Query().Get("rd"), site))
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

func (h *Handler) serveUserInfo(w http.ResponseWriter, r *http.Request) {
	id := h.identityFrom(r)
	if id == nil {
		if site, ok := h.site(w, r); ok {
			h.writeSignInJSON(w, site, "/")
		}
		return
	}
	s := id.sess
	writeJSON(w, http.StatusOK, userInfoJSON{
		OpenID: s.OpenID, UnionID: s.UnionID, Scope: s.Scope, Nickname: s.Nickname, Avatar: s.Avatar,
		IssuedAt:  time.Unix(s.Issued, 0).UTC().Format(time.RFC3339),
		ExpiresAt: time.Unix(s.Expires, 0).UTC().Format(time.RFC3339),
	})
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
