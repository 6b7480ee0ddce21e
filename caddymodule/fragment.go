package wechatauth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
)

// keep_fragment: return to the exact place, #fragment included.
//
// A browser never sends a URL's #fragment to the server, and a redirect to
// WeChat's authorize URL (which ends in #wechat_redirect) replaces it, so a
// single-page app at /app#/orders/7 that triggers a login would come back to
// /app. With keep_fragment the gateway answers such a navigation with this
// small page instead of the redirect: its script reads location.hash, appends
// it to the login URL's rd parameter (always the last one) and replaces the
// page with <path_prefix>/login. Without JavaScript the link still starts
// the login, to the page without its fragment. The script is a constant, so
// a Content-Security-Policy with its hash allows it and nothing else.

// fragmentScript reads the link the page shows and adds the fragment to it.
const fragmentScript = `var a=document.getElementById("login");location.replace(a.href+encodeURIComponent(location.hash));`

var (
	fragmentPage = template.Must(template.ParseFS(pageFiles, "pages/fragment.html"))
	fragmentCSP  = func() string {
		sum := sha256.Sum256([]byte(fragmentScript))
		return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
			"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	}()
)

// fragmentLoginURL is the path of the login endpoint that returns to ret,
// with rd last so that the page's script can append the encoded fragment to
// its value. scope is named only when it is not the handler's default.
func fragmentLoginURL(pathPrefix, ret, scope, defaultScope string) string {
	u := pathPrefix + "/login?"
	if scope != defaultScope {
		u += "scope=" + url.QueryEscape(scope) + "&"
	}
	return u + "rd=" + url.QueryEscape(ret)
}

// writeFragmentPage answers with the page that captures location.hash and
// starts the login at loginURL.
func writeFragmentPage(w http.ResponseWriter, status int, loginURL string) {
	var buf bytes.Buffer
	data := struct {
		LoginURL string
		Script   template.JS
	}{loginURL, template.JS(fragmentScript)} // a constant: see fragmentCSP
	if err := fragmentPage.Execute(&buf, data); err != nil {
		buf.Reset()
		buf.WriteString(`<a href="` + template.HTMLEscapeString(loginURL) + `">` + fragmentFallback + `</a>`)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Security-Policy", fragmentCSP)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
