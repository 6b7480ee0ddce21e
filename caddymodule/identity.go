package wechatauth

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

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
	sess       Session
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
	id := &identity{sess: s}
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

// stripCallbackReferer drops a Referer that points at our callback: its
// query holds a WeChat code, which the upstream has no business seeing.
// Browsers already omit it (the callback answers Referrer-Policy:
// no-referrer); this covers clients that do not.
func stripCallbackReferer(h http.Header, callbackPath string) {
	if ref := h["Referer"]; len(ref) > 0 && strings.Contains(ref[0], callbackPath) {
		delete(h, "Referer")
	}
}

// stripOurCookies removes the session and flow cookies from the Cookie header
// that goes upstream: the upstream gets identity from our headers, and a
// cookie it never needs is a cookie it cannot leak.
func stripOurCookies(h http.Header, sessionName, flowPrefix string) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	found := false
	for _, line := range lines {
		if cookieLineHasOurs(line, sessionName, flowPrefix) {
			found = true
			break
		}
	}
	if !found {
		return
	}
	var b strings.Builder
	size := 0
	for _, line := range lines {
		size += len(line) + 2
	}
	b.Grow(size) // one allocation for the rewritten header
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			p := strings.TrimSpace(part)
			if p == "" || isOurCookie(p, sessionName, flowPrefix) {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(p)
		}
	}
	if b.Len() == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = []string{b.String()}
}

func cookieLineHasOurs(line, sessionName, flowPrefix string) bool {
	for part := range strings.SplitSeq(line, ";") {
		if isOurCookie(strings.TrimSpace(part), sessionName, flowPrefix) {
			return true
		}
	}
	return false
}

func isOurCookie(pair, sessionName, flowPrefix string) bool {
	name, _, _ := strings.Cut(pair, "=")
	name = strings.TrimSpace(name)
	return name == sessionName || strings.HasPrefix(name, flowPrefix)
}

// cookieValues calls fn with each value of the named cookie, in header order,
// without allocating, until fn returns true. Several cookies of one name can
// arrive (different paths or domains); each is tried, up to a small bound.
func cookieValues(h http.Header, name string, fn func(string) bool) {
	tries := 0
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var part string
			if i := strings.IndexByte(line, ';'); i >= 0 {
				part, line = line[:i], line[i+1:]
			} else {
				part, line = line, ""
			}
			part = strings.TrimSpace(part)
			if len(part) <= len(name) || part[len(name)] != '=' || part[:len(name)] != name {
				continue
			}
			if tries++; tries > maxSameNameCookies {
				return
			}
			v := strings.Trim(part[len(name)+1:], `"`)
			if fn(v) {
				return
			}
		}
	}
}

// maxSameNameCookies bounds the verification work a request full of
// duplicate cookies can cause.
const maxSameNameCookies = 3
