package wechatauth

import (
	"fmt"
	"html/template"
	"io"
	"os"
	"sort"
	"strings"
	"unicode/utf8"
)

// A gateway in front of a Grafana or an admin tool should not tell its
// visitors about phone numbers: the default pages are generic, a site names
// itself (site_name) and may replace the body of each page a visitor reads
// (page <name> <file>), checked when Caddy starts.

// sitePageSet is a site's own page templates by name.
type sitePageSet map[string]*template.Template

// maxSiteName bounds site_name, which every page shows in its heading.
const maxSiteName = 40

// pageByName is the page of pageTable with that name, or 0.
func pageByName(name string) pageID {
	for id := pageID(1); id < pageCount; id++ {
		if pageTable[id].name == name {
			return id
		}
	}
	return 0
}

// replaceable reports whether a site may replace the page: any page a
// browser is shown.
func replaceable(id pageID) bool {
	return id != 0 && !pageTable[id].jsonOnly
}

func sitePageList() string {
	var names []string
	for id := pageID(1); id < pageCount; id++ {
		if replaceable(id) {
			names = append(names, pageTable[id].name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// validateSitePages checks site_name and the names of page; the files are
// read and parsed by loadSitePages.
func (h *Handler) validateSitePages() error {
	if utf8.RuneCountInString(h.SiteName) > maxSiteName || strings.ContainsAny(h.SiteName, "\r\n<>") {
		return fmt.Errorf("site_name %q must be one line of at most %d characters, without < or >", h.SiteName, maxSiteName)
	}
	for name, file := range h.Pages {
		if !replaceable(pageByName(name)) {
			return fmt.Errorf("page %q is not a page the gateway shows: use one of %s", name, sitePageList())
		}
		if strings.TrimSpace(file) == "" {
			return fmt.Errorf("page %s needs a file: page %s /etc/caddy/pages/%s.html", name, name, name)
		}
	}
	return nil
}

// loadSitePages parses each page file into the shared layout and renders it
// once with sample values, so a mistake stops Caddy at start with the file's
// name rather than showing a visitor a broken page.
func loadSitePages(pages map[string]string) (sitePageSet, error) {
	if len(pages) == 0 {
		return nil, nil
	}
	out := make(sitePageSet, len(pages))
	for name, file := range pages {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("page %s: %v: give a readable HTML file", name, err)
		}
		if !strings.Contains(string(b), `{{define "body"}}`) {
			return nil, fmt.Errorf(`page %s: %s must define the page's body: {{define "body"}}<h1>…</h1>{{end}} (see docs/setup.md, Pages)`, name, file)
		}
		t, err := template.ParseFS(pageFiles, "pages/layout.html")
		if err == nil {
			t, err = t.Parse(string(b))
		}
		if err != nil {
			return nil, fmt.Errorf("page %s: %s is not a valid template: %v", name, file, err)
		}
		sample := page{Title: "t", Heading: "h", Lines: []string{"l"}, ActionURL: "/", ActionLabel: "a", Ref: "errcode 40029",
			SiteName: "s", PageURL: "https://example.com/", QR: qrSVG("https://example.com/"), QRImage: "https://example.com/qr.png",
			UserInfo: true, Refresh: "/", DevLoopback: true}
		if err := t.ExecuteTemplate(io.Discard, "layout", sample); err != nil {
			return nil, fmt.Errorf("page %s: %s fails to render: %v", name, file, err)
		}
		out[name] = t
	}
	return out, nil
}
