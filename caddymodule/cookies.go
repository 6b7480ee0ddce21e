package wechatauth

import (
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// Our cookies: the one place they get their attributes (cookieJar), how
// they are sealed (cookieCodec) and laid out inside (the wire format, at
// the end of this file), the flow cookies of logins in progress
// (flowCookies) and finding a cookie among the request's (cookieValues).
// What a session and a flow carry is session.go's, how a session cookie is
// checked sessions.go's, removing ours before the request goes upstream
// cookie_header.go's, and the keys that seal them session_keys.go's.

// cookieJar writes our cookies: HttpOnly (no script reads them),
// SameSite=Lax (still sent on WeChat's top-level GET redirect to the
// callback, on nothing cross-site that could abuse them), Secure on https,
// Path=/, and cookie_domain for the session cookie only (flow cookies stay
// host-only).
type cookieJar struct {
	sessionName string
	domain      string // cookie_domain, for the session cookie
}

// write sets a cookie; a negative maxAge deletes it.
func (j cookieJar) write(w http.ResponseWriter, site origin, name, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   site.Scheme == "https",
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	if name == j.sessionName {
		c.Domain = j.domain
	}
	http.SetCookie(w, c)
}

// expire deletes one of our cookies in the browser.
func (j cookieJar) expire(w http.ResponseWriter, site origin, name string) {
	j.write(w, site, name, "", -1)
}

// cookieCodec signs, encrypts and time-limits one kind of cookie. The cookie
// name is inside the MAC, so a flow cookie cannot stand in for a session
// cookie, nor one app's cookie for another's when the names differ.
type cookieCodec struct {
	codecs []securecookie.Codec
}

func newCookieCodec(pairs [][]byte, maxAge time.Duration) cookieCodec {
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		sc := c.(*securecookie.SecureCookie)
		sc.MaxAge(int(maxAge / time.Second))
		sc.MaxLength(maxCookieLen)
		// We serialize ourselves; securecookie only signs and encrypts bytes.
		sc.SetSerializer(securecookie.NopEncoder{})
	}
	return cookieCodec{codecs: codecs}
}

// encode seals payload. securecookie encrypts the bytes it is given in
// place, so it gets a copy: sealing must not change the caller's data.
// (Only logins and flow starts encode; the hot path only decodes.)
func (c cookieCodec) encode(name string, payload []byte) (string, error) {
	return securecookie.EncodeMulti(name, append([]byte(nil), payload...), c.codecs...)
}

func (c cookieCodec) decode(name, value string) ([]byte, error) {
	if len(value) > maxCookieLen {
		return nil, errMalformed
	}
	var b []byte
	if err := securecookie.DecodeMulti(name, value, &b, c.codecs...); err != nil {
		return nil, err
	}
	return b, nil
}

// flowCookies keeps each login in progress in a short-lived cookie of its
// own, named after its state, so several tabs can sign in at once without
// overwriting each other and the callback finds its own flow without
// trying each.
type flowCookies struct {
	prefix string // <cookie_name>_flow_
	codec  cookieCodec
	jar    cookieJar
	now    func() time.Time
}

// name derives a flow cookie's name from its state.
func (fc *flowCookies) name(state string) string {
	return fc.prefix + state[:flowIDLen]
}

// set seals f into its cookie for maxAge.
func (fc *flowCookies) set(w http.ResponseWriter, site origin, f flowState, maxAge time.Duration) error {
	name := fc.name(f.State)
	value, err := fc.codec.encode(name, f.marshal())
	if err != nil {
		return err
	}
	fc.jar.write(w, site, name, value, maxAge)
	return nil
}

// expire deletes the flow cookie of state.
func (fc *flowCookies) expire(w http.ResponseWriter, site origin, state string) {
	fc.jar.expire(w, site, fc.name(state))
}

// read returns the flow cookie belonging to state. The state in the
// callback URL must equal the one sealed in this browser's flow cookie:
// that is the login-CSRF defence, checked before any code is redeemed.
func (fc *flowCookies) read(r *http.Request, state string) (flowState, bool) {
	var f flowState
	ok := false
	name := fc.name(state)
	cookieValues(r.Header, name, func(v string) bool {
		payload, err := fc.codec.decode(name, v)
		if err != nil || f.unmarshal(payload) != nil {
			return false
		}
		ok = constantTimeEqual(f.State, state) && f.Created > fc.now().Add(-flowTTL).Unix()
		return ok
	})
	return f, ok
}

// capAt expires the oldest flow cookies so that, with the one about to be
// set, a browser holds at most maxFlows of them.
func (fc *flowCookies) capAt(w http.ResponseWriter, r *http.Request, site origin) {
	type flowCookie struct {
		name    string
		created int64
	}
	var flows []flowCookie
	for _, c := range r.Cookies() {
		if len(c.Name) <= len(fc.prefix) || c.Name[:len(fc.prefix)] != fc.prefix {
			continue
		}
		var f flowState
		created := int64(0) // undecodable flows go first
		if payload, err := fc.codec.decode(c.Name, c.Value); err == nil && f.unmarshal(payload) == nil {
			created = f.Created
		}
		flows = append(flows, flowCookie{c.Name, created})
	}
	for len(flows) >= maxFlows {
		oldest := 0
		for i, f := range flows {
			if f.created < flows[oldest].created {
				oldest = i
			}
		}
		fc.jar.expire(w, site, flows[oldest].name)
		flows = append(flows[:oldest], flows[oldest+1:]...)
	}
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

// The wire format is deliberately tiny and allocation-light: a version byte
// then length-prefixed fields. securecookie's default gob costs ~57 µs per
// decode; this costs well under one. Session version 2 appends ID and
// IssuedMilli to version 1 and version 3 appends Extra; the older ones are
// still read, so existing sessions survive the upgrade.
const (
	sessionVersion   byte = 3
	sessionVersionV2 byte = 2
	sessionVersionV1 byte = 1
	// flowVersion 3 adds the flow's kind, version 2 added the relay
	// fields; versions 1 and 2 still decode (with no kind), so a login in
	// progress survives an upgrade (callback.go restarts it).
	flowVersion   byte = 3
	flowVersionV2 byte = 2
	// maxCookieLen bounds what we even try to verify (securecookie's default).
	maxCookieLen = 4096
)

var errMalformed = errors.New("malformed cookie payload")

func (s *Session) marshal() []byte {
	b := make([]byte, 0, 64+len(s.AppID)+len(s.OpenID)+len(s.UnionID)+len(s.Scope)+len(s.Nickname)+len(s.Avatar)+len(s.Extra))
	b = append(b, sessionVersion)
	for _, f := range [...]string{s.AppID, s.OpenID, s.UnionID, s.Scope, s.Nickname, s.Avatar} {
		b = appendString(b, f)
	}
	b = binary.AppendVarint(b, s.Issued)
	b = binary.AppendVarint(b, s.Expires)
	b = binary.AppendVarint(b, s.NoUpgradeUntil)
	b = appendString(b, s.ID)
	b = binary.AppendVarint(b, s.IssuedMilli)
	return appendString(b, s.Extra)
}

func (s *Session) unmarshal(b []byte) error {
	if len(b) == 0 || b[0] < sessionVersionV1 || b[0] > sessionVersion {
		return errMalformed
	}
	d := decoder{b: b[1:]}
	s.AppID, s.OpenID, s.UnionID = d.str(), d.str(), d.str()
	s.Scope, s.Nickname, s.Avatar = d.str(), d.str(), d.str()
	s.Issued, s.Expires, s.NoUpgradeUntil = d.varint(), d.varint(), d.varint()
	s.ID, s.IssuedMilli, s.Extra = "", 0, ""
	if b[0] >= sessionVersionV2 {
		s.ID, s.IssuedMilli = d.str(), d.varint()
	}
	if b[0] == sessionVersion {
		s.Extra = d.str()
	}
	return d.done()
}

func (f *flowState) marshal() []byte {
	b := make([]byte, 0, 32+len(f.State)+len(f.Return)+len(f.Scope)+len(f.RelayBack)+len(f.RelayState))
	b = append(b, flowVersion)
	b = appendString(b, f.State)
	b = appendString(b, f.Return)
	b = appendString(b, f.Scope)
	b = binary.AppendVarint(b, f.Created)
	var flags byte
	if f.Retry {
		flags |= 1
	}
	if f.Done {
		flags |= 2
	}
	b = append(b, flags)
	b = appendString(b, f.RelayBack)
	b = appendString(b, f.RelayState)
	return append(b, byte(f.Kind))
}

func (f *flowState) unmarshal(b []byte) error {
	if len(b) == 0 || b[0] < 1 || b[0] > flowVersion {
		return errMalformed
	}
	d := decoder{b: b[1:]}
	f.State, f.Return, f.Scope = d.str(), d.str(), d.str()
	f.Created = d.varint()
	flags := d.byte()
	f.Retry, f.Done, f.legacyViaRelay = flags&1 != 0, flags&2 != 0, flags&4 != 0
	f.RelayBack, f.RelayState, f.Kind = "", "", legacyFlowKind
	if b[0] >= flowVersionV2 {
		f.RelayBack, f.RelayState = d.str(), d.str()
	}
	if b[0] == flowVersion {
		f.Kind = flowKind(d.byte())
	}
	return d.done()
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the wire format; the first error sticks and every later read
// returns zero values, so callers check once with done.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) str() string {
	if d.err != nil {
		return ""
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.err = errMalformed
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.err = errMalformed
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errMalformed
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		return errMalformed
	}
	return d.err
}
