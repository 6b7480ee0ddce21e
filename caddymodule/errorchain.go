package wechatauth

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// An operator restyles the gateway's error pages with Caddy's own
// handle_errors, as for caddyauth's 401 or caddy-ratelimit's 429: the
// error routes see {http.error.status_code} and the placeholders below.
//
// The gateway runs the server's error routes itself rather than returning
// the error to Caddy, because Caddy answers an error no route handles with
// its status and an empty body: a site whose handle_errors covers only 404
// (or another site on the same port that has handle_errors at all: the
// Caddyfile's per-site error route is terminal) would show a visitor who
// opens a link outside WeChat a blank page. Here the built-in page answers
// whatever the error routes leave unanswered.

// Placeholders the error routes can use, set only for the gateway's pages.
const (
	phPage        = "http.wechat_auth.page"         // the page's name (pageTable)
	phCode        = "http.wechat_auth.code"         // the stable code the JSON answer carries
	phHeading     = "http.wechat_auth.heading"      // what happened, one line
	phMessage     = "http.wechat_auth.message"      // what to do
	phActionURL   = "http.wechat_auth.action_url"   // the button's link: retry, sign in, …
	phActionLabel = "http.wechat_auth.action_label" // the button's label
	phRef         = "http.wechat_auth.ref"          // a short reference (errcode N), never a secret
)

// serveErrorRoutes hands the page id to the server's error routes as Caddy
// would hand an error returned by ServeHTTP, and reports whether one of
// them answered; if it reports false, nothing was written.
func (p *visitorPages) serveErrorRoutes(w http.ResponseWriter, r *http.Request, id pageID, v pageValues) bool {
	srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if srv == nil || repl == nil || srv.Errors == nil || len(srv.Errors.Routes) == 0 {
		return false
	}
	row := &pageTable[id]
	repl.Set(phPage, row.name)
	repl.Set(phCode, row.code)
	repl.Set(phHeading, row.heading)
	repl.Set(phMessage, row.message(v.Host))
	link, label := "", ""
	if row.action != "" && v.ActionURL != "" {
		link, label = v.ActionURL, row.action
	}
	repl.Set(phActionURL, link)
	repl.Set(phActionLabel, label)
	repl.Set(phRef, v.Ref)
	// The answer is this visitor's: no cache keeps it, and its links (which
	// may carry a return URL) are not sent on as a Referer.
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")

	restoreOriginalRequest(r)
	er := srv.Errors.WithError(r, caddyhttp.Error(row.status, errors.New(row.msg)))
	dw := &errorRouteWriter{ResponseWriter: w, status: row.status}
	err := srv.Errors.Routes.Compile(unanswered).ServeHTTP(dw, er)
	if err != nil && p.logger != nil {
		if ce := p.logger.Check(zap.ErrorLevel, "an error route (handle_errors) failed on the gateway's page; the built-in page answers unless the route had begun its answer"); ce != nil {
			ce.Write(zap.String("page", row.name), zap.Error(err))
		}
	}
	if dw.answered() {
		dw.pass()
		return true
	}
	return false
}

// unanswered ends the error routes when none of them matched.
var unanswered = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

// restoreOriginalRequest gives r back its original method and URI, as
// Caddy does before it runs the error routes: a rewrite before wechat_auth
// must not change which error route matches or what {http.request.uri}
// says. r is being answered; nothing after uses its rewritten form.
func restoreOriginalRequest(r *http.Request) {
	orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
	if !ok || orig.URL == nil {
		return
	}
	r.Method, r.RemoteAddr, r.RequestURI = orig.Method, orig.RemoteAddr, orig.RequestURI
	*r.URL = *orig.URL
}

// errorRouteWriter holds back the status an error route writes until it
// writes a body. An error route that matched but wrote nothing, or only the
// error's own status (Caddy's terminal per-site route ends in exactly
// that), has not answered: the built-in page still can.
type errorRouteWriter struct {
	http.ResponseWriter
	status int  // the error's status
	code   int  // the status written and held back, 0 for none
	passed bool // the status reached w
}

func (d *errorRouteWriter) WriteHeader(code int) {
	switch {
	case d.passed:
	case code < http.StatusOK: // 1xx, e.g. 103 Early Hints: not the answer
		d.ResponseWriter.WriteHeader(code)
	default:
		d.code = code
	}
}

func (d *errorRouteWriter) Write(b []byte) (int, error) {
	d.pass()
	return d.ResponseWriter.Write(b)
}

// FlushError lets http.ResponseController flush through d: the held
// status goes out first.
func (d *errorRouteWriter) FlushError() error {
	d.pass()
	return http.NewResponseController(d.ResponseWriter).Flush()
}

func (d *errorRouteWriter) Flush() { _ = d.FlushError() }

// Unwrap gives http.ResponseController the writer below (deadlines,
// hijacking).
func (d *errorRouteWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// pass sends the held status, 200 if the route wrote a body without one.
func (d *errorRouteWriter) pass() {
	if d.passed {
		return
	}
	d.passed = true
	code := d.code
	if code == 0 {
		code = http.StatusOK
	}
	d.ResponseWriter.WriteHeader(code)
}

// answered reports whether an error route answered: it wrote a body, or a
// status other than the error's (a redirect, say).
func (d *errorRouteWriter) answered() bool {
	return d.passed || (d.code != 0 && d.code != d.status)
}
