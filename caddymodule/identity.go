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
	// wecom: the forward-auth answer names the X-WeCom-* headers too (a
	// WeCom site). Client-sent X-WeCom-* are stripped on every site.
	wecom bool
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
// request that presents it. The header values are strings: a request's
// header map gets them in an array of its own (admitted), never a slice
// this identity holds.
type identity struct {
	sess Session
	// checked is the revocation generation this session was last found
	// not revoked at; see Handler.current. A pointer, so a per-request copy
	// of the identity (policy.go) shares it rather than copying an atomic.
	checked *atomic.Uint64
	// The header values; "" for a header the session has no value for.
	openID, unionID, scope, nickname, avatar string
	source                                   string // "mp" or "web" (flow_mp.go)
	appID                                    string // the account the openid belongs to, on a platform's site only (component_flow.go)
	phOpenID                                 any
	phUnionID                                any
	phScope                                  any
	phNickname                               any
	phAvatar                                 any
	phSource                                 any
	phAppID                                  any
	// wecom is a WeCom session's X-WeCom-* values and placeholders
	// (wecom_session.go); nil for every other session.
	wecom *wecomIdentity
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
func newIdentity(s Session, source *appSource) *identity {
	id := &identity{sess: s, checked: new(atomic.Uint64), assertion: new(atomic.Pointer[signedAssertion])}
	id.openID, id.scope, id.unionID = s.OpenID, s.Scope, s.UnionID
	if s.Nickname != "" {
		// Percent-encoded UTF-8: header values are bytes, and a nickname may
		// hold anything a person can type, emoji included.
		id.nickname = url.PathEscape(s.Nickname)
	}
	if s.Avatar != "" && cleanAvatarURL(s.Avatar) {
		id.avatar = s.Avatar
	}
	id.phOpenID, id.phUnionID, id.phScope = s.OpenID, s.UnionID, s.Scope
	id.phNickname, id.phAvatar = s.Nickname, s.Avatar
	if source != nil {
		id.setSource(source)
	}
	if s.Extra != "" {
		// Only a flow that keeps more than the session's fields sets
		// Extra (WeCom's members); the others skip decoding it.
		id.wecom = newWeComIdentity(&s)
	}
	id.placeholders = id.placeholder
	return id
}

// appSource is which app a flow's sessions belong to: the X-WeChat-Source
// value, as a header value and as a placeholder value, built once per flow
// so that an identity holding it costs nothing more.
type appSource struct {
	name        string
	placeholder any
	// app is {http.auth.user.appid} when every session of the flow is of
	// one app (forApp), built once; nil: taken from each session.
	app any
	// appHeader sends X-WeChat-AppID upstream: only a third-party
	// platform's sites serve several accounts (component_flow.go); on the
	// others the header would add a map entry to every request for a value
	// the route already says ({http.auth.user.appid} is always there).
	appHeader bool
}

func newAppSource(name string) *appSource { return &appSource{name: name, placeholder: name} }

// forApp is src for the sessions of appID alone.
func (src *appSource) forApp(appID string) *appSource {
	c := *src
	c.app = appID
	return &c
}

// setSource records which app the session belongs to.
func (id *identity) setSource(src *appSource) {
	id.source, id.phSource, id.phAppID = src.name, src.placeholder, src.app
	if src.app == nil {
		id.phAppID = id.sess.AppID
	}
	if src.appHeader {
		id.appID = id.sess.AppID
	}
}

// sourceName is the identity's X-WeChat-Source value (mp, web).
func (id *identity) sourceName() string { return id.source }

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
	if id.wecom != nil {
		return id.wecom.placeholder(name)
	}
	return nil, false
}

// The slots of admitted.vals: one per header a wechat_auth handler sets.
const (
	slotOpenID = iota
	slotScope
	slotSource
	slotAppID
	slotUnionID
	slotNickname
	slotAvatar
	slotSubscribed
	slotAssertion
	slotAccessToken // pass_access_token (webtoken_gate.go)
	slotCount
)

// admitted is one request's identity headers: the identity they say, and
// their values in an array of this request's own. Caddy's request_header
// and header directives, which may run after wechat_auth, edit header values
// in place (hdr[field][i] = …): a value slice shared with other requests
// would carry one request's edit into every later request of the session
// (or of every session, for a package-wide value) and race with the
// requests running beside it. One allocation per admitted request holds
// every value; the identity's memo stays read-only.
type admitted struct {
	id *identity // nil in an anonymous forward-auth answer
	// prev is what an earlier wechat_auth of the same request set: its
	// headers stay too (see owns).
	prev *admitted
	vals [slotCount]string
	// wecom holds the X-WeCom-* values of a WeCom identity or of a WeCom
	// site's forward-auth answer (wecom_session.go); nil otherwise, so
	// other requests allocate nothing more.
	wecom *wecomValues
}

// newAdmitted starts the headers of a request admitted with id, after
// whatever an earlier wechat_auth of the request set (prev, or nil).
func newAdmitted(id *identity, prev *admitted) *admitted {
	return &admitted{id: id, prev: prev}
}

// set gives header name the value v, held in slot. The slice's capacity is
// its length, so a directive appending a value (request_header +Name)
// copies it instead of writing into the next slot.
func (a *admitted) set(h http.Header, name string, slot int, v string) {
	a.vals[slot] = v
	h[name] = a.vals[slot : slot+1 : slot+1]
}

// apply sets our identity headers on h, their values held in a, and the
// {http.auth.user.*} placeholders. {http.auth.user.id} is the openid: it
// gives access logs their user_id and php_fastcgi its REMOTE_USER.
func (n *headerNames) apply(h http.Header, repl *caddy.Replacer, a *admitted) {
	id := a.id
	a.set(h, n.openID, slotOpenID, id.openID)
	a.set(h, n.scope, slotScope, id.scope)
	a.set(h, n.source, slotSource, id.source)
	if id.appID != "" {
		a.set(h, n.appID, slotAppID, id.appID)
	}
	if id.unionID != "" {
		a.set(h, n.unionID, slotUnionID, id.unionID)
	}
	if id.nickname != "" {
		a.set(h, n.nickname, slotNickname, id.nickname)
	}
	if id.avatar != "" {
		a.set(h, n.avatar, slotAvatar, id.avatar)
	}
	if id.wecom != nil {
		a.setWeCom(h, id.wecom)
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

// answer sets the headers of a forward-auth 200: every identity header the
// gateway owns, empty when unknown (or for an anonymous request), so no
// client-sent copy survives a front proxy that copies them all. The values
// are the answer's own, like a request's; the assertion header, when on,
// is the gate's to set (slotAssertion).
func (n *headerNames) answer(h http.Header, repl *caddy.Replacer, d decision) *admitted {
	a := newAdmitted(d.id, nil)
	for slot, k := range [...]string{slotOpenID: n.openID, slotScope: n.scope, slotSource: n.source, slotAppID: n.appID, slotUnionID: n.unionID,
		slotNickname: n.nickname, slotAvatar: n.avatar, slotSubscribed: n.subscribed} {
		a.set(h, k, slot, "")
	}
	if n.wecom {
		a.setWeCom(h, nil)
	}
	if d.verdict != admit || d.id == nil {
		return a
	}
	n.apply(h, repl, a)
	n.applyFollow(h, repl, a, d.follow)
	return a
}

// applyFollow sets the follower header and {http.auth.user.subscribed}
// (subscriber_info); an unknown status leaves both out.
func (n *headerNames) applyFollow(h http.Header, repl *caddy.Replacer, a *admitted, f followStatus) {
	var v string
	switch f {
	case following:
		v = "1"
	case notFollowing:
		v = "0"
	default:
		return
	}
	a.set(h, n.subscribed, slotSubscribed, v)
	if repl != nil {
		repl.Set("http.auth.user.subscribed", v)
	}
}
