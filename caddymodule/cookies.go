package wechatauth

import (
	"net/http"
	"strings"
	"time"
)

// Everything about the Cookie header lives here: finding the session cookie
// among the request's cookies (cookieValues), turning it into a verified
// identity (identityFrom, verify, the memo), removing our cookies before the
// request goes upstream (stripOurCookies), and building the cookies we set
// (writeCookie). identity.go takes the identity from there to the headers.

// memoTTL and memoMaxEntries bound the verified-cookie cache: entries never
// outlive their session, and a flood of distinct valid cookies cannot grow
// memory without limit (~1 KiB an entry).
const (
	memoTTL        = 10 * time.Minute
	memoMaxEntries = 20000
)

// identityFrom returns the verified identity of the request's session
// cookie, or nil. A cookie seen before is a cache lookup; a new one is
// verified, decrypted and decoded once, then remembered.
func (h *Handler) identityFrom(r *http.Request) *identity {
	var found *identity
	cookieValues(r.Header, h.CookieName, func(v string) bool {
		if x, ok := h.memo.Get(v); ok {
			if id := x.(*identity); h.current(id) {
				found = id
				procMetrics.sessionChecked(sessionMemoHit)
				return true
			}
			h.memo.Delete(v) // revoked since it was memoized
			procMetrics.sessionChecked(sessionRejectRevoked)
			return false
		}
		found = h.verify(v)
		return found != nil
	})
	return found
}

// verify checks a session cookie value from scratch. Tampered, truncated,
// expired, foreign-app or garbage values give nil, never an error page: the
// visitor is simply authorized again. Each outcome is counted (metrics.go).
func (h *Handler) verify(value string) *identity {
	payload, err := h.sessions.decode(h.CookieName, value)
	if err != nil {
		return rejected(sessionRejectInvalid)
	}
	var s Session
	if s.unmarshal(payload) != nil || s.OpenID == "" {
		return rejected(sessionRejectMalformed)
	}
	now := h.now().Unix()
	switch {
	case !h.ownSession(&s):
		return rejected(sessionRejectForeign)
	case s.Expires <= now:
		return rejected(sessionRejectExpired)
	case s.Issued > now+60:
		return rejected(sessionRejectFuture)
	}
	id := newIdentity(s)
	if !h.notRevoked(id) {
		return rejected(sessionRejectRevoked)
	}
	h.remember(value, id, time.Unix(s.Expires, 0).Sub(h.now()))
	procMetrics.sessionChecked(sessionVerified)
	return id
}

// rejected counts a refused session cookie and gives verify's nil.
func rejected(why sessionOutcome) *identity {
	procMetrics.sessionChecked(why)
	return nil
}

// remember memoizes a verified cookie for at most memoTTL and never past the
// session's own expiry. When the cache is full, expired entries go first; if
// it is still full the cookie is simply not memoized, so memory stays bounded
// whatever the number of distinct valid cookies.
func (h *Handler) remember(value string, id *identity, left time.Duration) {
	ttl := min(memoTTL, left)
	if ttl <= 0 {
		return
	}
	if h.memo.ItemCount() >= h.memoMax {
		h.memo.DeleteExpired()
		if h.memo.ItemCount() >= h.memoMax {
			return
		}
	}
	h.memo.Set(value, id, ttl)
}

// setSession issues a session cookie for s.
func (h *Handler) setSession(w http.ResponseWriter, site origin, s Session) error {
	value, err := h.sessions.encode(h.CookieName, s.marshal())
	for trim := 0; err != nil && trimProfile(&s, trim); trim++ {
		value, err = h.sessions.encode(h.CookieName, s.marshal())
	}
	if err != nil {
		return err
	}
	h.writeCookie(w, site, h.CookieName, value, h.ttl)
	return nil
}

// trimProfile makes room in a session that does not fit its cookie, step
// by step: a nickname cut to 32 characters, then no avatar, then no
// nickname. The identity itself (openid, unionid, scope) always fits, so a
// profile of any size still ends in a session. It reports false when there
// is nothing left to trim.
func trimProfile(s *Session, step int) bool {
	switch step {
	case 0:
		if r := []rune(s.Nickname); len(r) > 32 {
			s.Nickname = string(r[:32])
			return true
		}
		fallthrough
	case 1:
		if s.Avatar != "" {
			s.Avatar = ""
			return true
		}
		fallthrough
	case 2:
		if s.Nickname != "" {
			s.Nickname = ""
			return true
		}
	}
	return false
}

// clearSession expires the session cookie in the browser and forgets the
// memoized copy of the value presented.
func (h *Handler) clearSession(w http.ResponseWriter, r *http.Request, site origin) {
	cookieValues(r.Header, h.CookieName, func(v string) bool {
		h.memo.Delete(v)
		return false
	})
	h.expireCookie(w, site, h.CookieName)
}

// flowCookieName derives a flow cookie's name from its state, so the
// callback finds its own flow among several tabs' without trying each.
func (h *Handler) flowCookieName(state string) string {
	return h.flowPrefix + state[:flowIDLen]
}

func (h *Handler) setFlow(w http.ResponseWriter, site origin, f flowState, maxAge time.Duration) error {
	value, err := h.flows.encode(h.flowCookieName(f.State), f.marshal())
	if err != nil {
		return err
	}
	h.writeCookie(w, site, h.flowCookieName(f.State), value, maxAge)
	return nil
}

// writeCookie is the one place our cookies get their attributes: HttpOnly
// (no script reads them), SameSite=Lax (still sent on WeChat's top-level GET
// redirect to the callback, on nothing cross-site that could abuse them),
// Secure on https, Path=/, and cookie_domain for the session cookie only
// (flow cookies stay host-only). A negative maxAge deletes the cookie.
func (h *Handler) writeCookie(w http.ResponseWriter, site origin, name, value string, maxAge time.Duration) {
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
	if name == h.CookieName {
		c.Domain = h.CookieDomain
	}
	http.SetCookie(w, c)
}

// expireCookie deletes one of our cookies in the browser.
func (h *Handler) expireCookie(w http.ResponseWriter, site origin, name string) {
	h.writeCookie(w, site, name, "", -1)
}

// readFlow returns the flow cookie belonging to state. The state in the
// callback URL must equal the one sealed in this browser's flow cookie:
// that is the login-CSRF defence, checked before any code is redeemed.
func (h *Handler) readFlow(r *http.Request, state string) (flowState, bool) {
	var f flowState
	ok := false
	name := h.flowCookieName(state)
	cookieValues(r.Header, name, func(v string) bool {
		payload, err := h.flows.decode(name, v)
		if err != nil || f.unmarshal(payload) != nil {
			return false
		}
		ok = constantTimeEqual(f.State, state) && f.Created > h.now().Add(-flowTTL).Unix()
		return ok
	})
	return f, ok
}

// capFlows expires the oldest flow cookies so that, with the one about to be
// set, a browser holds at most maxFlows of them.
func (h *Handler) capFlows(w http.ResponseWriter, r *http.Request, site origin) {
	type flowCookie struct {
		name    string
		created int64
	}
	var flows []flowCookie
	for _, c := range r.Cookies() {
		if len(c.Name) <= len(h.flowPrefix) || c.Name[:len(h.flowPrefix)] != h.flowPrefix {
			continue
		}
		var f flowState
		created := int64(0) // undecodable flows go first
		if payload, err := h.flows.decode(c.Name, c.Value); err == nil && f.unmarshal(payload) == nil {
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
		h.expireCookie(w, site, flows[oldest].name)
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
	switch {
	case b.Len() == 0:
		delete(h, "Cookie")
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
