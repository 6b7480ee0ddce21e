package wechatauth

import (
	"net/http"
	"strings"
	"time"
)

// The Cookie header: finding a cookie among the request's (cookieValues),
// removing ours before the request goes upstream (stripOurCookies), and
// the one place our cookies get their attributes (cookieJar). What the
// cookies hold is sessions.go's and flowcookies.go's.

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
