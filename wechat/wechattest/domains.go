package wechattest

import (
	"fmt"
	"net/url"
	"strings"
)

// Domain is one registered callback domain setting (网页授权域名): a host
// name, optionally with a path (then only URLs under that path qualify), and
// optionally a scheme (then a redirect_uri with the other scheme gets 10039).
type Domain struct {
	// Scheme is "http" or "https", or "" for either.
	Scheme string
	// Host is the lower-case host name; "127.0.0.1", "localhost" and "[::1]"
	// are loopback hosts, whose port the simulator ignores.
	Host string
	// Path is "" (every path) or a path such as "/mp", without a trailing slash.
	Path string
}

// ParseDomain reads a callback domain setting as WeChat's console takes it
// (docs/wechat.md §1): "wx.example.com" or "wx.example.com/mp"; letters, digits,
// '-' and '.' only; no port and no IP address. For local work it also takes
// the loopback hosts 127.0.0.1, localhost and [::1], and an optional
// "http://" or "https://" in front to say which scheme is registered.
func ParseDomain(s string) (Domain, error) {
	var d Domain
	rest := s
	if i := strings.Index(rest, "://"); i >= 0 {
		d.Scheme, rest = strings.ToLower(rest[:i]), rest[i+3:]
		if d.Scheme != "http" && d.Scheme != "https" {
			return d, fmt.Errorf("callback domain %q: the scheme, if given, is http:// or https://", s)
		}
	}
	host, path, hasPath := strings.Cut(rest, "/")
	host = strings.ToLower(host)
	if hasPath {
		path = "/" + strings.TrimRight(path, "/")
		if path == "/" {
			path = ""
		}
	}
	switch {
	case host == "":
		return d, fmt.Errorf("callback domain %q has no host: write e.g. wx.example.com or wx.example.com/mp", s)
	case strings.ContainsAny(path, "?#%\\ "):
		return d, fmt.Errorf("callback domain %q: a path setting is a plain path such as wx.example.com/mp", s)
	case isLoopback(host):
	case strings.Contains(host, ":"):
		return d, fmt.Errorf("callback domain %q has a port; WeChat registers host names without a port", s)
	case !hostName(host):
		return d, fmt.Errorf("callback domain %q: WeChat takes host names of letters, digits, '-' and '.', not IP addresses", s)
	}
	d.Host, d.Path = host, path
	return d, nil
}

// String writes d back as ParseDomain reads it.
func (d Domain) String() string {
	s := d.Host + d.Path
	if d.Scheme != "" {
		s = d.Scheme + "://" + s
	}
	return s
}

// isLoopback reports the hosts local tests reach the gateway on.
func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host == "::1"
}

// hostName admits dotted names of letters, digits and '-', with at least one
// letter in the last label (so no IP address).
func hostName(h string) bool {
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return strings.ContainsAny(labels[len(labels)-1], "abcdefghijklmnopqrstuvwxyz")
}

// Authorize-page errors about redirect_uri.
const (
	errDomainMismatch = 10003 // redirect_uri域名与后台配置不一致
	errSchemeMismatch = 10039 // redirect_uri协议与后台配置不一致
)

// checkRedirect returns 0 when redirectURI is acceptable for the registered
// domains, else the authorize page's errcode: 10003 when no setting covers
// its host, port and path, 10039 when one does but for the other scheme.
// Real host names are matched strictly (an explicit port, even :443, is a
// mismatch); loopback hosts ignore the port so tests on 127.0.0.1:PORT work.
func (s *Simulator) checkRedirect(redirectURI string) int {
	return s.checkRedirectIn(s.domains, redirectURI)
}

// checkRedirectIn is checkRedirect against the given settings (a website
// application has its own).
func (s *Simulator) checkRedirectIn(domains []Domain, redirectURI string) int {
	u, err := url.Parse(redirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Opaque != "" {
		return errDomainMismatch
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	hasPort := strings.LastIndex(u.Host, ":") > strings.LastIndex(u.Host, "]")
	if hasPort && !isLoopback(host) {
		return errDomainMismatch
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	code := errDomainMismatch
	for _, d := range domains {
		if d.Host != host || !underPath(path, d.Path) {
			continue
		}
		if d.Scheme == "" || d.Scheme == u.Scheme {
			return 0
		}
		code = errSchemeMismatch
	}
	return code
}

// underPath reports whether path lies under the setting's path prefix, at a
// segment boundary: /mp covers /mp and /mp/cb, not /mpx.
func underPath(path, prefix string) bool {
	return prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
}
