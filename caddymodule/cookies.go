package wechatauth

import (
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// Our cookies: the one place they get their attributes (cookieJar), how
// they are sealed (cookieCodec), the flow cookies of logins in progress
// (flowCookies), finding a cookie among the request's (cookieValues) and
// removing ours before the request goes upstream (stripOurCookies). What a
// session cookie holds and how it is checked is sessions.go's.

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

// stripOurCookies removes the session and flow cookies from the Cookie header
// that goes upstream: the upstream gets identity from our headers, and a
// cookie it never needs is a cookie it cannot leak. It runs on every request,
// so the usual cases allocate nothing: a header without our cookies is left
// as it is, one with only ours is dropped, and one whose cookies of ours lead
// or trail the site's own (browsers order cookies by path length, then age:
// ours, set at login, usually come first) loses them by slicing. Only ours
// between two of the site's cookies make a new header.
func stripOurCookies(h http.Header, sessionName, flowPrefix string) {
	lines := h["Cookie"]
	if len(lines) != 1 {
		for _, line := range lines { // several lines: rare (HTTP/2 joins them)
			if hasOurCookie(line, sessionName, flowPrefix) {
				rebuildCookies(h, lines, sessionName, flowPrefix)
				return
			}
		}
		return
	}
	line := lines[0]
	if !hasOurCookie(line, sessionName, flowPrefix) {
		return
	}
	rest := trimOurCookies(line, sessionName, flowPrefix)
	switch {
	case rest == "":
		delete(h, "Cookie")
	case hasOurCookie(rest, sessionName, flowPrefix):
		rebuildCookies(h, lines, sessionName, flowPrefix)
	default:
		// The request's own value slice (the server made it for this request
		// alone) takes the shorter string: no allocation, and no slice
		// shared with another request.
		lines[0] = rest
	}
}

// trimOurCookies cuts our cookies, and empty pairs, off both ends of a Cookie
// line and trims what is left: a substring, without allocating.
func trimOurCookies(line, sessionName, flowPrefix string) string {
	for line != "" {
		part, rest, _ := strings.Cut(line, ";")
		if p := strings.TrimSpace(part); p != "" && !isOurCookie(p, sessionName, flowPrefix) {
			break
		}
		line = rest
	}
	for line != "" {
		i := strings.LastIndexByte(line, ';')
		if p := strings.TrimSpace(line[i+1:]); p != "" && !isOurCookie(p, sessionName, flowPrefix) {
			break
		}
		line = line[:max(i, 0)]
	}
	return strings.TrimSpace(line)
}

// hasOurCookie reports whether a Cookie line holds one of our cookies.
func hasOurCookie(line, sessionName, flowPrefix string) bool {
	for part := range strings.SplitSeq(line, ";") {
		if isOurCookie(strings.TrimSpace(part), sessionName, flowPrefix) {
			return true
		}
	}
	return false
}

// rebuildCookies writes the Cookie header without our cookies, as one line
// (or none when nothing else is left).
func rebuildCookies(h http.Header, lines []string, sessionName, flowPrefix string) {
	// The size of what stays first, so the one allocation is that size
	// rather than the whole header's (our session cookie is most of it).
	size := 0
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			if p := strings.TrimSpace(part); p != "" && !isOurCookie(p, sessionName, flowPrefix) {
				if size > 0 {
					size += len("; ")
				}
				size += len(p)
			}
		}
	}
	if size == 0 {
		delete(h, "Cookie")
		return
	}
	var b strings.Builder
	b.Grow(size)
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
	switch {
	case len(lines) == 1:
		// In place, as in stripOurCookies: writing the map entry anew would
		// cost a slice, and Go grows a full small map on any assignment
		// (eight headers: a browser's five and our three).
		lines[0] = b.String()
	default:
		h["Cookie"] = []string{b.String()}
	}
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
