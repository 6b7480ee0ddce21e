package wechattest

import (
	"embed"
	"html/template"
	"net/http"
	"strconv"
	texttemplate "text/template"
)

//go:embed pages/*.html
var pageFS embed.FS

var pages = template.Must(template.ParseFS(pageFS, "pages/*.html"))

// avatarTmpl is text/template: the SVG is not HTML, and its values are our own.
var avatarTmpl = texttemplate.Must(texttemplate.New("avatar").Parse(
	`<svg xmlns="http://www.w3.org/2000/svg" width="132" height="132" viewBox="0 0 132 132">` +
		`<rect width="132" height="132" rx="12" fill="{{.Color}}"/>` +
		`<text x="66" y="86" font-size="60" text-anchor="middle" fill="#fff" font-family="sans-serif">{{.Letter | html}}</text></svg>`))

// renderPage writes one of the embedded pages (name.html).
func (s *Simulator) renderPage(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name+".html", data)
}

func itoa(n int) string { return strconv.Itoa(n) }
