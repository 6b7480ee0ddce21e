package wechatauth

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
)

// headerNames are the canonical identity header keys, computed once at
// provision so the hot path neither formats nor canonicalizes.
type headerNames struct {
	prefix     string // normalized: lower case, "_" folded to "-"
	openID     string
	unionID    string
	scope      string
	nickname   string
	avatar     string
	subscribed string
}

func newHeaderNames(prefix string) headerNames {
	c := textproto.CanonicalMIMEHeaderKey
	return headerNames{
		prefix:     normalizeHeaderKey(prefix),
		openID:     c(prefix + "OpenID"),
		unionID:    c(prefix + "UnionID"),
		scope:      c(prefix + "Scope"),
		nickname:   c(prefix + "Nickname"),
		avatar:     c(prefix + "Avatar"),
		subscribed: c(prefix + "Subscribed"),
	}
}

func normalizeHeaderKey(k string) string {
	return strings.ReplaceAll(strings.ToLower(k), "_", "-")
}

// isIdentityHeader reports whether a client-sent header could be taken for
// ours: any case, "_" for "-", anything under our prefix, and Remote-User
// (which php_fastcgi and CGI turn into REMOTE_USER). It does not allocate.
func (n *headerNames) isIdentityHeader(key string) bool {
	if len(key) >= len(n.prefix) && foldEqual(key[:len(n.prefix)], n.prefix) {
		return true
	}
	return len(key) == len("remote-user") && foldEqual(key, "remote-user")
}

// foldEqual compares a header key with a normalized (lower case, "-") name,
// folding case and treating "_" as "-".
func foldEqual(key, norm string) bool {
	if len(key) != len(norm) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' {
			c = '-'
		}
		if c != norm[i] {
			return false
		}
	}
	return true
}

// stripIdentity removes every client-sent variant of our identity headers.
// It runs on every request that reaches the handler, with or without a
// session, so an unprotected or anonymous request cannot carry a forged
// identity upstream either.
func (n *headerNames) stripIdentity(h http.Header) {
	for k := range h {
		if n.isIdentityHeader(k) {
			delete(h, k)
		}
	}
}

// identity is a verified session prepared for the hot path: header values
// and placeholder values are built once per cookie and reused for every
// request that presents it, so setting them allocates nothing.
type identity struct {
	sess Session
	// checked is the revocation generation this session was last found
	// not revoked at; see Handler.current. A pointer, so a per-request copy
	// of the identity (policy.go) shares it rather than copying an atomic.
	checked    *atomic.Uint64
	openID     []string
	unionID    []string
	scope      []string
	nickname   []string
	avatar     []string
	phOpenID   any
	phUnionID  any
	phScope    any
	phNickname any
	phAvatar   any
}

func newIdentity(s Session) *identity {
	id := &identity{sess: s, checked: new(atomic.Uint64)}
	id.openID = []string{s.OpenID}
	id.scope = []string{s.Scope}
	if s.UnionID != "" {
		id.unionID = []string{s.UnionID}
	}
	if s.Nickname != "" {
		// Percent-encoded UTF-8: header values are bytes, and a nickname may
		// hold anything a person can type, emoji included.
		id.nickname = []string{url.PathEscape(s.Nickname)}
	}
	if s.Avatar != "" && printableASCII(s.Avatar) {
		id.avatar = []string{s.Avatar}
	}
	id.phOpenID, id.phUnionID, id.phScope = s.OpenID, s.UnionID, s.Scope
	id.phNickname, id.phAvatar = s.Nickname, s.Avatar
	return id
}

// apply sets our identity headers on h (shared, read-only value slices) and
// the {http.auth.user.*} placeholders. {http.auth.user.id} is the openid: it
// gives access logs their user_id and php_fastcgi its REMOTE_USER.
func (n *headerNames) apply(h http.Header, repl *caddy.Replacer, id *identity) {
	h[n.openID] = id.openID
	h[n.scope] = id.scope
	if id.unionID != nil {
		h[n.unionID] = id.unionID
	}
	if id.nickname != nil {
		h[n.nickname] = id.nickname
	}
	if id.avatar != nil {
		h[n.avatar] = id.avatar
	}
	if repl != nil {
		repl.Set("http.auth.user.id", id.phOpenID)
		repl.Set("http.auth.user.unionid", id.phUnionID)
		repl.Set("http.auth.user.scope", id.phScope)
		repl.Set("http.auth.user.nickname", id.phNickname)
		repl.Set("http.auth.user.avatar", id.phAvatar)
	}
}

// applyFollow sets the follower header and {http.auth.user.subscribed}
// (subscriber_info); an unknown status leaves both out.
func (n *headerNames) applyFollow(h http.Header, repl *caddy.Replacer, f follow) {
	var vals []string
	var ph string
	switch f {
	case followYes:
		vals, ph = subscribedYes, "1"
	case followNo:
		vals, ph = subscribedNo, "0"
	default:
		return
	}
	h[n.subscribed] = vals
	if repl != nil {
		repl.Set("http.auth.user.subscribed", ph)
	}
}

// stripEndpointReferer drops a Referer that points at one of our endpoints:
// the callback's query holds a WeChat code, a hand-back's a sealed identity,
// which the upstream has no business seeing. Browsers already omit it (those
// endpoints answer Referrer-Policy: no-referrer); this covers clients that
// do not.
func stripEndpointReferer(h http.Header, endpointPath string) {
	if ref := h["Referer"]; len(ref) > 0 && strings.Contains(ref[0], endpointPath) {
		delete(h, "Referer")
	}
}
