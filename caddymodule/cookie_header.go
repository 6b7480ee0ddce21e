package wechatauth

// The Cookie header that goes upstream: ours (the session and flow cookies)
// are taken out of it on every request, without allocating in the usual
// cases, because the upstream gets identity from our headers.

import (
	"net/http"
	"strings"
)

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
