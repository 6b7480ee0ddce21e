package wechatauth

import (
	"bytes"
	"embed"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/internal/qrsvg"
)

//go:embed pages/*.html
var pageFiles embed.FS

// pageTemplates holds one parsed template set per page, each with the shared
// layout. Parsing happens once per process; the sets are read-only after.
var pageTemplates = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, row := range pageTable[1:] {
		if m[row.tmpl] == nil && !row.jsonOnly {
			m[row.tmpl] = template.Must(template.ParseFS(pageFiles, "pages/layout.html", "pages/"+row.tmpl+".html"))
		}
	}
	return m
}()

// page is what every visitor-facing page shows: what happened (Heading,
// Lines) and what to do (the action button).
type page struct {
	Title       string
	Heading     string
	Lines       []string
	ActionURL   string
	ActionLabel string
	Ref         string // a short reference for support, never a secret
	UserInfo    bool
	QR          template.HTML
	QRImage     string // the account's QR code image URL (require_subscribe)
	PageURL     string
	// Refresh, when set, sends the browser there after a few seconds.
	Refresh string
	// SiteName is the site's own name (site_name), "" for none.
	SiteName string
	// DevLoopback: api_base or open_base is on this machine (the
	// simulator), so the open-in-WeChat page tells the developer how to
	// sign in from a desktop browser.
	DevLoopback bool
}

// writeTemplate renders a page set's layout with p.
func writeTemplate(w http.ResponseWriter, status int, t *template.Template, p page) {
	if p.Title == "" {
		p.Title = p.Heading
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		buf.Reset()
		buf.WriteString(template.HTMLEscapeString(p.Heading))
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// qrSVG renders text as an inline SVG QR code, so the open-in-WeChat page
// needs no image endpoint and no external service.
func qrSVG(text string) template.HTML {
	return template.HTML(qrsvg.SVG(text)) // built from numbers only
}

// pageValues are what a call site knows about one answer; the text comes
// from pageTable.
type pageValues struct {
	ActionURL string // the button's link: retry, sign in, back to the page
	Ref       string // a short reference for support, never a secret
	Host      string // the host a relay page is about ({host} in its lines)
	PageURL   string // openinwechat: the page to open in WeChat
	QRImage   string // subscribe: the account's QR code image
	UserInfo  bool   // declined: the consent asked for nickname and avatar
}

// visitorPages answers visitors with the pages of pageTable, as one site
// configured them: its name, its own page files, and whether WeChat is the
// simulator on this machine.
type visitorPages struct {
	siteName    string
	overrides   sitePageSet
	devLoopback bool
	logger      *zap.Logger
}

// newVisitorPages is the handler's page renderer; apiBase and openBase are
// the expanded settings.
func newVisitorPages(siteName string, overrides sitePageSet, apiBase, openBase string, logger *zap.Logger) *visitorPages {
	return &visitorPages{siteName: siteName, overrides: overrides, logger: logger,
		devLoopback: loopbackURL(apiBase) || loopbackURL(openBase)}
}

// builtinPages renders the default pages without a site's settings.
var builtinPages = &visitorPages{logger: zap.NewNop()}

// show answers r with the page id: JSON for an API request; for an error
// status the server's error routes (handle_errors) if one of them answers
// (errorchain.go); otherwise the site's page or the built-in one.
// A nil p is the built-in pages.
func (p *visitorPages) show(w http.ResponseWriter, r *http.Request, id pageID, v pageValues) {
	if p == nil {
		p = builtinPages
	}
	if isAPIRequest(r) || pageTable[id].jsonOnly {
		writePageJSON(w, id, v)
		return
	}
	if pageTable[id].status >= http.StatusBadRequest && p.serveErrorRoutes(w, r, id, v) {
		return
	}
	p.write(w, id, v)
}

// writePageJSON is the page's answer for a program, whatever the request
// asked for (/userinfo, auth_request): its code and message, and where to
// sign in for a page that sends there.
func writePageJSON(w http.ResponseWriter, id pageID, v pageValues) {
	row := &pageTable[id]
	login := ""
	if row.loginURL {
		login = v.ActionURL
	}
	writeJSONError(w, row.status, row.code, row.msg, login)
}

// write renders the page id as HTML, the site's own file first.
func (p *visitorPages) write(w http.ResponseWriter, id pageID, v pageValues) {
	row := &pageTable[id]
	pg := page{
		Title: row.title, Heading: row.heading, Lines: row.linesAbout(v.Host),
		Ref: v.Ref, UserInfo: v.UserInfo, QRImage: v.QRImage, PageURL: v.PageURL, SiteName: p.siteName,
	}
	if row.action != "" { // a page without a button's label has no button
		pg.ActionURL, pg.ActionLabel = v.ActionURL, row.action
	}
	if row.refresh {
		pg.Refresh = v.ActionURL
	}
	if id == pageOpenInWeChat {
		pg.QR, pg.DevLoopback = qrSVG(v.PageURL), p.devLoopback
	}
	t := p.overrides[row.name]
	if t == nil {
		t = pageTemplates[row.tmpl]
	}
	writeTemplate(w, row.status, t, pg)
}

// linesAbout is the page's lines with {host} replaced.
func (row *visitorPage) linesAbout(host string) []string {
	if host == "" {
		return row.lines
	}
	out := make([]string, len(row.lines))
	for i, l := range row.lines {
		out[i] = strings.ReplaceAll(l, "{host}", host)
	}
	return out
}

// message is the page's lines as one text, for a handle_errors route.
func (row *visitorPage) message(host string) string {
	return strings.Join(row.linesAbout(host), "")
}

// loopbackURL reports whether a base URL setting points at this machine.
func loopbackURL(setting string) bool {
	v, err := expand(caddy.NewReplacer(), "", setting)
	if err != nil || v == "" {
		return false
	}
	u, err := url.Parse(v)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
