package wechatauth

import (
	"context"
	"encoding/binary"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// One registered callback domain for many sites (授权中转).
//
// WeChat accepts at most two 网页授权域名 settings per account, so a team with
// more sites runs the gateway on a registered domain as the relay (relay_for)
// and lets every other site (a client: relay <url>) log in through it. What
// crosses between them travels in the browser, sealed with the client's own
// relay key, which the relay derives from its relay_secret (relay_keys.go):
//
//	client C                          relay R                            WeChat
//	flow cookie (state S), 302 ─────▶ /relay?client=C&req=<request{back, S, scope}>
//	                                  flow cookie (state T), 302 ──────▶ authorize
//	                                  /callback?code&state=T ◀──── 302 ─
//	                                  redeems the code itself
//	/handback?hb=<hand-back{C, S, who}> ◀── 302
//	session cookie, 302 to the page
//
// The WeChat code and access tokens never leave the relay. The relay sends a
// browser only to a hand-back URL that its relay_for allows, checked exactly
// as a return URL is checked against redirect_domains. A hand-back lives at
// most handBackTTL, names the one client origin it is for, and carries the
// client's state S: the client accepts it only when this browser holds the
// relay flow cookie for S, so only the browser that started the login can
// use it. It is spent the first time any client sees it (claims).

const (
	// handBackTTL bounds a hand-back's life: the browser follows it at once.
	handBackTTL = 60 * time.Second
	// handBackSkew is how far a client's clock may lag the relay's.
	handBackSkew = 5 * time.Second
	// handBackIDLen is the hand-back's single-use id: [A-Za-z0-9], ~131 bits.
	handBackIDLen = 22
	// relayRequestTTL matches the client's flow cookie: a request outliving
	// the flow it names could only end on a "login expired" page.
	relayRequestTTL = flowTTL

	// The names sealed into the associated data: neither message can stand
	// in for the other.
	relayRequestName = "wechat_relay_request"
	handBackName     = "wechat_relay_handback"

	// Version 2: sealed with the client's relay key (relay_keys.go), no
	// longer with the shared session_keys of version 1.
	relayRequestVersion byte = 2
	handBackVersion     byte = 2
)

// relayRequest is what a client sends the relay: where to hand the login
// back, the client's flow state, and the scope it needs.
type relayRequest struct {
	AppID   string
	Back    string // absolute URL of the client's <path_prefix>/handback
	State   string // the client's flow state
	Scope   string
	Created int64 // Unix seconds
}

// handBack is what the relay sends a client: how the login ended and, on
// success, who signed in. The client sets Issued and Expires of the session
// itself, from its own session_ttl.
type handBack struct {
	ID       string // single-use id
	AppID    string
	Client   string // the client origin it is for, scheme://host[:port]
	State    string // the client's flow state
	Outcome  ending // how the login ended
	Ref      string // a short reference for support pages (errcode N), never a secret
	Identity Session
	Created  int64 // Unix seconds, relay's clock
}

var (
	errRelayInvalid = errors.New("not a sealed relay message of this app for this site: tampered, truncated, or sealed with another site's relay key")
	errRelayExpired = errors.New("the relay message has expired")
)

// relaySeal seals and opens the two messages of the relay flow with the
// relay keys of the client each is for (relay_keys.go): on the relay every
// client's key, derived from relay_secret; on a client its own only.
type relaySeal struct {
	appID string
	keys  relayKeyring
	now   func() time.Time
}

func newRelaySeal(appID string, keys relayKeyring, now func() time.Time) *relaySeal {
	return &relaySeal{appID: appID, keys: keys, now: now}
}

// fresh reports whether a message created at created (Unix seconds, maybe by
// another machine) is still within ttl and not from the future beyond skew.
func (s *relaySeal) fresh(created int64, ttl time.Duration) bool {
	age := s.now().Sub(time.Unix(created, 0))
	return age <= ttl && age >= -handBackSkew
}

// sealRequest seals a request of the client at client.
func (s *relaySeal) sealRequest(client origin, q relayRequest) (string, error) {
	q.AppID = s.appID
	q.Created = s.now().Unix()
	return sealFor(s.keys(client), relayRequestName, client, q.marshal())
}

// openRequest verifies a request that says it comes from client: sealed
// with client's key, and asking for a hand-back on client's origin. Whether
// the relay serves that origin is relay_for's call.
func (s *relaySeal) openRequest(client origin, v string) (relayRequest, error) {
	var q relayRequest
	payload, err := openFor(s.keys(client), relayRequestName, client, v)
	if err != nil || q.unmarshal(payload) != nil || q.AppID != s.appID || !validState(q.State) ||
		(q.Scope != wechat.ScopeBase && q.Scope != wechat.ScopeUserInfo) || !strings.HasPrefix(q.Back, client.String()+"/") {
		return relayRequest{}, errRelayInvalid
	}
	if !s.fresh(q.Created, relayRequestTTL) {
		return relayRequest{}, errRelayExpired
	}
	return q, nil
}

// sealHandBack gives hb a fresh single-use id and seals it for its client.
func (s *relaySeal) sealHandBack(client origin, hb handBack) (string, error) {
	hb.ID = randomAlnum(handBackIDLen)
	hb.AppID = s.appID
	hb.Client = client.String()
	hb.Created = s.now().Unix()
	return sealFor(s.keys(client), handBackName, client, hb.marshal())
}

// openHandBack verifies a hand-back's seal (this site's key, made for this
// site), app and age. Whether it is for this browser, and unspent, is the
// client's to check.
func (s *relaySeal) openHandBack(site origin, v string) (handBack, error) {
	var hb handBack
	payload, err := openFor(s.keys(site), handBackName, site, v)
	if err != nil || hb.unmarshal(payload) != nil || hb.AppID != s.appID || len(hb.ID) != handBackIDLen ||
		hb.Client != site.String() || !validState(hb.State) || !hb.Outcome.valid() ||
		(hb.Outcome == endSession && (!validWeChatID(hb.Identity.OpenID) || hb.Identity.AppID != s.appID)) {
		return handBack{}, errRelayInvalid
	}
	if !s.fresh(hb.Created, handBackTTL) {
		return handBack{}, errRelayExpired
	}
	return hb, nil
}

// relayTarget returns the origin of a hand-back URL that relay_for allows.
// The URL goes through safeReturnURL, the very check every return URL goes
// through, with no site of its own to fall back on: only a relay_for entry
// can admit it. It must be absolute and carry no query or fragment, since
// the hand-back is appended as the query.
func relayTarget(back string, rules []domainRule) (origin, bool) {
	if len(rules) == 0 || safeReturnURL(back, origin{}, rules) != back {
		return origin{}, false
	}
	u, err := url.Parse(back)
	if err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" ||
		u.RawFragment != "" || back[len(back)-1] == '#' {
		return origin{}, false
	}
	o, err := makeOrigin(u.Scheme, u.Host)
	if err != nil {
		return origin{}, false
	}
	return o, true
}

// claims spends one-time values: claim reports true the first time key is
// claimed while the claim lives. Relay hand-backs are spent through it.
type claims interface {
	claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// storeClaims spends one-time values in the wechat app's store: across every
// replica when the store is Redis (set-if-absent with a TTL), in this process
// otherwise, and in this process while Redis is unreachable.
type storeClaims struct{ store Store }

func (c storeClaims) claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return c.store.Claim(ctx, key, []byte{1}, ttl)
}

// handBackClaimTTL keeps a spent hand-back's claim for as long as any clock
// could still call the hand-back fresh.
const handBackClaimTTL = handBackTTL + 2*handBackSkew

func handBackClaimKey(id string) string { return "relay_handback:" + id }

func (q *relayRequest) marshal() []byte {
	b := make([]byte, 0, 16+len(q.AppID)+len(q.Back)+len(q.State)+len(q.Scope))
	b = append(b, relayRequestVersion)
	for _, f := range [...]string{q.AppID, q.Back, q.State, q.Scope} {
		b = appendString(b, f)
	}
	return binary.AppendVarint(b, q.Created)
}

func (q *relayRequest) unmarshal(b []byte) error {
	if len(b) == 0 || b[0] != relayRequestVersion {
		return errMalformed
	}
	d := decoder{b: b[1:]}
	q.AppID, q.Back, q.State, q.Scope = d.str(), d.str(), d.str(), d.str()
	q.Created = d.varint()
	return d.done()
}

func (hb *handBack) marshal() []byte {
	id := hb.Identity.marshal()
	b := make([]byte, 0, 24+len(hb.ID)+len(hb.AppID)+len(hb.Client)+len(hb.State)+len(hb.Ref)+len(id))
	b = append(b, handBackVersion)
	for _, f := range [...]string{hb.ID, hb.AppID, hb.Client, hb.State} {
		b = appendString(b, f)
	}
	b = append(b, byte(hb.Outcome))
	b = appendString(b, hb.Ref)
	b = appendString(b, string(id))
	return binary.AppendVarint(b, hb.Created)
}

func (hb *handBack) unmarshal(b []byte) error {
	if len(b) == 0 || b[0] != handBackVersion {
		return errMalformed
	}
	d := decoder{b: b[1:]}
	hb.ID, hb.AppID, hb.Client, hb.State = d.str(), d.str(), d.str(), d.str()
	hb.Outcome = ending(d.byte())
	hb.Ref = d.str()
	id := d.str()
	hb.Created = d.varint()
	if err := d.done(); err != nil {
		return err
	}
	return hb.Identity.unmarshal([]byte(id))
}
