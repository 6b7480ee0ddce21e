package wechatauth

import "net/url"

// links builds the URLs a handler sends browsers to: its own endpoints, and
// return URLs checked against redirect_domains (redirect.go).
type links struct {
	pathPrefix string
	scope      string       // the scope protected routes need
	rules      []domainRule // redirect_domains
}

// loginURL is where a visitor (or an API client) goes to sign in and then
// come back to ret.
func (lk *links) loginURL(site origin, ret, scope string) string {
	q := url.Values{"rd": {ret}}
	if scope != lk.scope {
		q.Set("scope", scope)
	}
	return site.String() + lk.pathPrefix + "/login?" + q.Encode()
}

// endpoint is the absolute URL of one of the handler's endpoints.
func (lk *links) endpoint(site origin, name string) string {
	return site.String() + lk.pathPrefix + "/" + name
}

// returnURL is the return URL for raw request data (a request URI, rd, a
// forwarded URI, a Referer): shortened to fit a flow cookie, then checked.
func (lk *links) returnURL(raw string, site origin) string {
	return safeReturnURL(shortenReturnURL(raw), site, lk.rules)
}
