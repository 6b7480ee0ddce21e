package wechatauth

import (
	"io"
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
	prefix     string // normalized: lower case, "_" and "." folded to "-"
	openID     string
	unionID    string
	scope      string
	nickname   string
	avatar     string
	subscribed string
	source     string
	// extra is one more name to strip, normalized like prefix: the
	// assertion header when it lies outside the prefix ("" for none).
	extra string
	// endpointPath is path_prefix + "/": a Referer holding it is dropped.
	endpointPath string
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
		source:     c(prefix + "Source"),
	}
}

// normalizeHeaderKey folds a header name the way CGI, PHP and several
// proxies do before an app reads it: case ignored, "_" and "." read as "-".
func normalizeHeaderKey(k string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(k))
}

// isIdentityHeader reports whether a client-sent header could be taken for
// ours: any case, "_" or "." for "-", anything under our prefix, and
// Remote-User (which php_fastcgi and CGI turn into REMOTE_USER). It does not
// allocate.
func (n *headerNames) isIdentityHeader(key string) bool {
	if len(key) >= len(n.prefix) && foldEqual(key[:len(n.prefix)], n.prefix) {
		return true
	}
	return (len(key) == len("remote-user") && foldEqual(key, "remote-user")) ||
		(n.extra != "" && foldEqual(key, n.extra))
}

// alsoStrip adds a header name outside the prefix to what is stripped.
func (n *headerNames) alsoStrip(name string) {
	if norm := normalizeHeaderKey(name); !(len(norm) >= len(n.prefix) && norm[:len(n.prefix)] == n.prefix) {
		n.extra = norm
	}
}

// foldEqual compares a header key with a normalized (lower case, "-") name,
// folding case and treating "_" and "." as "-".
func foldEqual(key, norm string) bool {
	if len(key) != len(norm) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' || c == '.' {
			c = '-'
		}
		if c != norm[i] {
			return false
		}
	}
	return true
}

// stripIdentity removes every client-sent header in our namespace. It runs
// on every request that reaches the handler, with or without a session, and
// whatever an earlier handler did, so an unprotected, anonymous or
// second-handler request cannot carry a forged identity upstream either.
// What an earlier wechat_auth handler set from the verified identity prior
// stays: its values are the identity's own slices, which no client can
// produce, so "ours" is told apart from "the client's" by provenance, not by
// name.
func (n *headerNames) stripIdentity(h http.Header, prior *identity) {
	for k, v := range h {
		if n.isIdentityHeader(k) && !prior.owns(v) {
			delete(h, k)
		}
	}
}

// strip removes from a request, in one place, everything a client could
// send to pass for the gateway: identity headers (stripIdentity), request
// trailers in our namespace (stripTrailers), and a Referer pointing at one
// of our endpoints (stripEndpointReferer). It runs first on every request
// the handler sees; prior is an earlier wechat_auth's verified identity.
func (n *headerNames) strip(r *http.Request, prior *identity) {
	n.stripIdentity(r.Header, prior)
	n.stripTrailers(r)
	stripEndpointReferer(r.Header, n.endpointPath)
}

// stripTrailers drops request trailers in our namespace: Caddy forwards
// request trailers to the upstream (reverse_proxy and php_fastcgi alike),
// and they arrive only once the body has been read, so the body is watched
// to strip them again at its end. Requests without trailers pay nothing.
func (n *headerNames) stripTrailers(r *http.Request) {
	if len(r.Trailer) == 0 || r.Body == nil {
		return
	}
	n.stripIdentity(r.Trailer, nil)
	r.Body = &trailerGuard{ReadCloser: r.Body, r: r, names: n}
}

type trailerGuard struct {
	io.ReadCloser
	r     *http.Request
	names *headerNames
}

func (g *trailerGuard) Read(p []byte) (int, error) {
	n, err := g.ReadCloser.Read(p)
	if err == io.EOF {
		g.names.stripIdentity(g.r.Trailer, nil)
	}
	return n, err
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
	source     []string // sourceMP or sourceWeb (desktop.go)
	phOpenID   any
	phUnionID  any
	phScope    any
	phNickname any
	phAvatar   any
	phSource   any
	// placeholders answers {http.auth.user.*} from the fields above: built
	// once per session, so a request registers it instead of writing six
	// entries into its replacer's map (see apply).
	placeholders caddy.ReplacerFunc
	// assertion is the signed identity last minted for this session
	// (assertion.go), reused until shortly before it expires. A pointer,
	// shared by per-request copies like checked.
	assertion *atomic.Pointer[signedAssertion]
}

// owns reports whether a header value is one a wechat_auth handler set from
// this identity (or the shared follower values): the same backing array,
// not merely equal text.
func (id *identity) owns(v []string) bool {
	if id == nil || len(v) == 0 {
		return false
	}
	p := &v[0]
	for _, ours := range [...][]string{id.openID, id.unionID, id.scope, id.nickname, id.avatar, id.source, subscribedYes, subscribedNo} {
		if len(ours) > 0 && p == &ours[0] {
			return true
		}
	}
	if id.assertion == nil {
		return false
	}
	if c := id.assertion.Load(); c != nil && p == &c.value[0] {
		return true
	}
	return false
}

// newIdentity prepares a verified session; source is its app's
// X-WeChat-Source value (the flow that owns it says which).
func newIdentity(s Session, source []string) *identity {
	id := &identity{sess: s, checked: new(atomic.Uint64), assertion: new(atomic.Pointer[signedAssertion])}
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
	if s.Avatar != "" && cleanAvatarURL(s.Avatar) {
		id.avatar = []string{s.Avatar}
	}
	id.phOpenID, id.phUnionID, id.phScope = s.OpenID, s.UnionID, s.Scope
	id.phNickname, id.phAvatar = s.Nickname, s.Avatar
	id.source = source
	if len(source) > 0 {
		id.phSource = source[0]
	}
	id.placeholders = id.placeholder
	return id
}

// sourceName is the identity's X-WeChat-Source value (mp, web).
func (id *identity) sourceName() string {
	if len(id.source) == 0 {
		return ""
	}
	return id.source[0]
}

// userPlaceholderPrefix is the namespace of the identity placeholders.
const userPlaceholderPrefix = "http.auth.user."

// placeholder is the replacer provider of an identity: {http.auth.user.id}
// and the others apply documents; an empty value is still known, so a
// Caddyfile using {http.auth.user.unionid} gets "" rather than the
// placeholder's own text. It allocates nothing.
func (id *identity) placeholder(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, userPlaceholderPrefix)
	if !ok {
		return nil, false
	}
	switch name {
	case "id":
		return id.phOpenID, true
	case "unionid":
		return id.phUnionID, true
	case "scope":
		return id.phScope, true
	case "nickname":
		return id.phNickname, true
	case "avatar":
		return id.phAvatar, true
	case "source":
		return id.phSource, true
	}
	return nil, false
}

// apply sets our identity headers on h (shared, read-only value slices) and
// the {http.auth.user.*} placeholders. {http.auth.user.id} is the openid: it
// gives access logs their user_id and php_fastcgi its REMOTE_USER.
func (n *headerNames) apply(h http.Header, repl *caddy.Replacer, id *identity) {
	h[n.openID] = id.openID
	h[n.scope] = id.scope
	h[n.source] = id.source
	if id.unionID != nil {
		h[n.unionID] = id.unionID
	}
	if id.nickname != nil {
		h[n.nickname] = id.nickname
	}
	if id.avatar != nil {
		h[n.avatar] = id.avatar
	}
	if repl == nil {
		return
	}
	// The usual request: nothing has set an identity placeholder yet, so
	// the identity's own provider answers them all. A replacer consults
	// its static values first, so when something earlier in the chain did
	// (another wechat_auth, basic_auth, vars) this identity must be written
	// over them, as static values, to be the one that counts.
	if _, set := repl.Get(userPlaceholderPrefix + "id"); !set {
		repl.Map(id.placeholders)
	} else {
		repl.Set("http.auth.user.id", id.phOpenID)
		repl.Set("http.auth.user.unionid", id.phUnionID)
		repl.Set("http.auth.user.scope", id.phScope)
		repl.Set("http.auth.user.nickname", id.phNickname)
		repl.Set("http.auth.user.avatar", id.phAvatar)
		repl.Set("http.auth.user.source", id.phSource)
	}
}

// emptyValue is what the forward-auth answer says for an identity header
// it has no value for: present, so a front proxy that copies it overwrites
// the client's copy, and empty.
var emptyValue = []string{""}

// answer sets the headers of a forward-auth 200: every identity header the
// gateway owns, empty when unknown (or for an anonymous request), so no
// client-sent copy survives a front proxy that copies them all.
func (n *headerNames) answer(h http.Header, repl *caddy.Replacer, d decision) {
	for _, k := range [...]string{n.openID, n.unionID, n.scope, n.nickname, n.avatar, n.subscribed, n.source} {
		h[k] = emptyValue
	}
	if d.verdict != admit || d.id == nil {
		return
	}
	n.apply(h, repl, d.id)
	n.applyFollow(h, repl, d.follow)
}

// applyFollow sets the follower header and {http.auth.user.subscribed}
// (subscriber_info); an unknown status leaves both out.
func (n *headerNames) applyFollow(h http.Header, repl *caddy.Replacer, f followStatus) {
	var vals []string
	var ph string
	switch f {
	case following:
		vals, ph = subscribedYes, "1"
	case notFollowing:
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
