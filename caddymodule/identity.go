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
	prefix     string // normalized: lower case, "_" and "." folded to "-"
	openID     string
	unionID    string
	scope      string
	nickname   string
	avatar     string
	subscribed string
	source     string
	appID      string
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
		appID:      c(prefix + "AppID"),
	}
}

// normalizeHeaderKey folds a header name the way CGI, PHP and several
// proxies do before an app reads it: case ignored, "_" and "." read as "-".
func normalizeHeaderKey(k string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(k))
}

// alsoStrip adds a header name outside the prefix to what is stripped.
func (n *headerNames) alsoStrip(name string) {
	if norm := normalizeHeaderKey(name); !(len(norm) >= len(n.prefix) && norm[:len(n.prefix)] == n.prefix) {
		n.extra = norm
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
	source     []string // sourceMP or sourceWeb (desktop.go)
	appID      []string // the account the openid belongs to, on a platform's site (component_flow.go)
	phOpenID   any
	phUnionID  any
	phScope    any
	phNickname any
	phAvatar   any
	phSource   any
	phAppID    any
	// placeholders answers {http.auth.user.*} from the fields above: built
	// once per session, so a request registers it instead of writing six
	// entries into its replacer's map (see apply).
	placeholders caddy.ReplacerFunc
	// assertion is the signed identity last minted for this session
	// (assertion.go), reused until shortly before it expires. A pointer,
	// shared by per-request copies like checked.
	assertion *atomic.Pointer[signedAssertion]
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
	id.phAppID = s.AppID
	if len(source) > 0 && &source[0] == &sourceComponent[0] {
		// Only a platform's sites serve several accounts: on the others
		// the header would add an allocation to every request for a value
		// the route already says ({http.auth.user.appid} is always there).
		id.appID = []string{s.AppID}
	}
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
	case "appid":
		return id.phAppID, true
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
	if id.appID != nil {
		h[n.appID] = id.appID
	}
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
		repl.Set("http.auth.user.appid", id.phAppID)
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
	for _, k := range [...]string{n.openID, n.unionID, n.scope, n.nickname, n.avatar, n.subscribed, n.source, n.appID} {
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
