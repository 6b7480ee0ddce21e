package wechatauth

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"
)

// domainRule is one redirect_domains entry.
type domainRule struct {
	host     string // lower-case; for suffix rules without the leading "." or "*."
	suffix   bool   // ".x" or "*.x": x and every subdomain of x
	port     string // "" default port only, "*" any port, else that port only
	original string
}

// parseDomainRule accepts foo.bar, .bar.foo, *.bar.foo, host:8080 and host:*.
func parseDomainRule(s string) (domainRule, error) { return parseDomainRuleOf("redirect_domains", s) }

// parseDomainRuleOf parses an entry of setting (redirect_domains or
// relay_for, which take the same forms) and names it in its errors.
func parseDomainRuleOf(setting, s string) (domainRule, error) {
	r := domainRule{original: s}
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || strings.ContainsAny(s, "/\\@?#% \t") || strings.Contains(s, "://") {
		return r, fmt.Errorf("%s %q: write a host name such as example.com, .example.com, *.example.com, example.com:8080 or example.com:*", setting, r.original)
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		if p != "*" && !isPort(p) {
			return r, fmt.Errorf("%s %q: port %q is not a number or *", setting, r.original, p)
		}
		s, r.port = h, p
	}
	switch {
	case strings.HasPrefix(s, "*."):
		r.suffix, s = true, s[2:]
	case strings.HasPrefix(s, "."):
		r.suffix, s = true, s[1:]
	}
	if s == "" || strings.ContainsAny(s, "*:") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
		return r, fmt.Errorf("%s %q: write a host name such as example.com, .example.com, *.example.com, example.com:8080 or example.com:*", setting, r.original)
	}
	if !printableASCII(s) {
		return r, fmt.Errorf("%s %q: write an internationalized domain in its punycode (xn--) form", setting, r.original)
	}
	if !validHostname(s) || strings.Contains(s, "..") {
		return r, fmt.Errorf("%s %q: a host name has only letters, digits, hyphens and single dots", setting, r.original)
	}
	r.host = s
	return r, nil
}

// parseDomainRules parses every entry of a setting in these forms.
func parseDomainRules(setting string, entries []string) ([]domainRule, error) {
	rules := make([]domainRule, 0, len(entries))
	for _, e := range entries {
		r, err := parseDomainRuleOf(setting, e)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// allows reports whether host and port (already without the scheme's
// default port) match the rule. A rule naming the scheme's default port
// ("example.com:443" for https) means the default port.
func (r domainRule) allows(scheme, host, port string) bool {
	rport := r.port
	if (scheme == "https" && rport == "443") || (scheme == "http" && rport == "80") {
		rport = ""
	}
	switch rport {
	case "*":
	case "":
		if port != "" {
			return false
		}
	default:
		if port != rport {
			return false
		}
	}
	if host == r.host {
		return true
	}
	return r.suffix && strings.HasSuffix(host, "."+r.host)
}

// safeReturnURL returns raw when it is a safe place to send the browser after
// login or logout, else "/". Safe means: a path on this site, or an absolute
// http(s) URL on this site's own host and port or on a redirect_domains
// entry. Everything a browser might read differently from us is refused:
// backslashes, control characters and whitespace (raw or percent-encoded in
// the path), scheme-relative "//host", userinfo, and non-http schemes.
func safeReturnURL(raw string, site origin, rules []domainRule) string {
	if raw != "" && !printableASCII(raw) && raw[0] == '/' && utf8.ValidString(raw) {
		// A relative URL in raw UTF-8 (/中文?q=微信) is what a browser sends
		// percent-encoded: judge and keep it in that form.
		raw = encodeNonASCII(raw)
	}
	if raw == "" || len(raw) > 4096 || strings.ContainsRune(raw, '\\') || !printableASCII(raw) {
		return "/"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil {
		return "/"
	}
	// The decoded path must not start like "//host" or contain what a browser
	// strips or folds (e.g. "/%09/evil.com" → "//evil.com" after stripping tabs).
	if hasControlOrSpace(u.Path) || strings.ContainsRune(u.Path, '\\') || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	if u.Scheme == "" && u.Host == "" {
		if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
			return "/"
		}
		return raw
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || !strings.HasPrefix(raw, u.Scheme+"://") {
		return "/"
	}
	host, port := splitHostPort(strings.ToLower(u.Host), u.Scheme)
	if host == "" || !validHostname(host) {
		return "/"
	}
	if u.Scheme == site.Scheme {
		sh, sp := splitHostPort(site.Host, site.Scheme)
		if host == sh && port == sp {
			return raw
		}
	}
	for _, r := range rules {
		if r.allows(u.Scheme, host, port) {
			return raw
		}
	}
	return "/"
}

// encodeNonASCII percent-encodes the bytes of s above 0x7f, as a browser
// does with the path and query it sends; everything else stays as it is.
func encodeNonASCII(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// printableASCII is what a browser sends as a request target: anything else
// (raw spaces, controls, UTF-8) arrives percent-encoded or not at all.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func hasControlOrSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// maxReturnLen is the longest return URL a flow cookie carries: with the
// state and the cookie's own overhead it stays well inside the 4 KiB a
// browser keeps per cookie.
const maxReturnLen = 2048

// shortenReturnURL makes a return URL fit a flow cookie: a longer one loses
// its query (and fragment) and, if the path alone is still too long, becomes
// "/". Only ever shorter and on the same site, so never less safe.
func shortenReturnURL(ret string) string {
	if len(ret) <= maxReturnLen {
		return ret
	}
	if i := strings.IndexAny(ret, "?#"); i >= 0 && i <= maxReturnLen {
		return ret[:i]
	}
	return "/"
}

// cleanAvatarURL admits an avatar URL that may become a header value and a
// link: http(s), a valid host, no userinfo, and only the characters a URL
// needs, so quotes, angle brackets and spaces never get through.
func cleanAvatarURL(s string) bool {
	if len(s) > 1024 || !(strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~:/?#[]@!$&()*+,;=%", c) >= 0) {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.Host == "" {
		return false
	}
	host, _ := splitHostPort(strings.ToLower(u.Host), u.Scheme)
	return host != "" && validHostname(host)
}
