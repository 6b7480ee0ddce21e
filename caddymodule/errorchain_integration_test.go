package wechatauth_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// pagesSite is a site whose routes answer with the gateway's pages by name
// (errorchain_probe_test.go), with the handle_errors blocks given.
func pagesSite(port int, handleErrors string) string {
	return fmt.Sprintf(`http://127.0.0.1:%d {
	route /rewritten {
		rewrite * /open
	}
	route /open {
		wechat_auth_test_page openinwechat
	}
	route /down {
		wechat_auth_test_page wechatdown
	}
	route /code {
		wechat_auth_test_page codefailed
	}
	route /declined {
		wechat_auth_test_page declined
	}
	%s
}`, port, handleErrors)
}

func startPagesCaddy(t *testing.T, sites string) {
	t.Helper()
	loadCaddyfile(t, "{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n"+sites)
}

func fetch(t *testing.T, method, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	b := newBrowser("anyone")
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return b.do(t, method, u, h)
}

// An operator's handle_errors restyles the gateway's error pages, with the
// page's name, text and link as placeholders; a status it does not handle
// keeps the built-in page (Caddy alone would answer it with an empty body),
// and so does every page of a site on the same port without handle_errors
// (the Caddyfile's per-site error route is terminal). 200 pages and JSON
// answers never go through the error routes.
func TestHandleErrorsRestylesPagesAndLeavesTheRestBuiltIn(t *testing.T) {
	port := testnet.Port(t)
	other := testnet.Port(t)
	startPagesCaddy(t, pagesSite(port, `handle_errors 403 400 {
		respond "custom {http.error.status_code} {http.wechat_auth.page} {http.wechat_auth.code} [{http.wechat_auth.heading}] [{http.wechat_auth.message}] {http.wechat_auth.action_url} [{http.wechat_auth.action_label}] {http.wechat_auth.ref} {http.error.message} {http.request.uri}"
	}`)+"\n"+fmt.Sprintf(`http://localhost:%d {
	handle_errors {
		respond "other site {http.error.status_code}"
	}
}
`, other)+pagesSite(other, ""))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	resp, body := fetch(t, http.MethodGet, base+"/open")
	want := "custom 403 openinwechat not_wechat [请在微信中打开此页面] [请用微信“扫一扫”扫描二维码，或把链接发送到微信后在微信中打开。]  [] " +
		"errcode 40029 open this page inside the WeChat client /open"
	if resp.StatusCode != http.StatusForbidden || body != want {
		t.Errorf("open-in-WeChat through handle_errors 403: %d %q, want %q", resp.StatusCode, body, want)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("a restyled page may be cached: Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	// The error routes see the request as it came, before a rewrite.
	if _, body := fetch(t, http.MethodGet, base+"/rewritten"); !strings.HasSuffix(body, " /rewritten") {
		t.Errorf("after a rewrite the error route sees %q, want the original URI", body)
	}
	_, body = fetch(t, http.MethodGet, base+"/code")
	if !strings.Contains(body, "[授权已失效]") || !strings.Contains(body, "/wechat_auth/login?rd=%2F [重新进入] errcode 40029") {
		t.Errorf("code failed through handle_errors: %q", body)
	}

	// handle_errors 403 400 does not cover 503: the built-in page answers.
	resp, body = fetch(t, http.MethodGet, base+"/down")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "微信暂时无法响应") || !strings.Contains(body, `href="/wechat_auth/login?rd=%2F"`) {
		t.Errorf("a status handle_errors does not handle: %d %.300q, want the built-in page", resp.StatusCode, body)
	}
	// A 200 page is not an error: the built-in page.
	if resp, body := fetch(t, http.MethodGet, base+"/declined"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "你取消了微信授权") {
		t.Errorf("declined: %d %.300q", resp.StatusCode, body)
	}
	// A program gets the JSON answer whatever handle_errors says.
	resp, body = fetch(t, http.MethodGet, base+"/open", "Accept", "application/json")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"error":"not_wechat"`) {
		t.Errorf("API request: %d %q, want the JSON answer", resp.StatusCode, body)
	}

	// Another site on the same port has handle_errors, this one has none.
	for path, want := range map[string]string{"/open": "请在微信中打开此页面", "/down": "微信暂时无法响应"} {
		resp, body := fetch(t, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", other, path))
		if resp.StatusCode < 400 || !strings.Contains(body, want) {
			t.Errorf("site without handle_errors, %s: %d %.300q, want the built-in page", path, resp.StatusCode, body)
		}
	}
}

// Without handle_errors every page is the built-in one; with a catch-all
// one, every error page goes to it, and an error route that fails leaves
// the built-in page rather than an empty answer.
func TestPagesWithoutOrWithCatchAllHandleErrors(t *testing.T) {
	port := testnet.Port(t)
	failing := testnet.Port(t)
	startPagesCaddy(t, pagesSite(port, `handle_errors {
		respond "all {http.error.status_code} {http.wechat_auth.page}"
	}`)+"\n"+pagesSite(failing, `handle_errors {
		error "the error page is broken" 500
	}`))
	for path, want := range map[string]string{"/open": "all 403 openinwechat", "/down": "all 503 wechatdown", "/code": "all 400 codefailed"} {
		if _, body := fetch(t, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path)); body != want {
			t.Errorf("catch-all handle_errors, %s: %q, want %q", path, body, want)
		}
	}
	resp, body := fetch(t, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/open", failing))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "请在微信中打开此页面") {
		t.Errorf("failing error route: %d %.300q, want the built-in page", resp.StatusCode, body)
	}
}

// The gateway's own refusals reach handle_errors: a desktop browser's
// open-in-WeChat page (403), WeChat failing the code exchange (503) through
// the templates page of docs/setup.md, and WeChat refusing the account's
// settings (502, with its errcode as the reference); a handle_errors for
// 404 only leaves every page built in; and without handle_errors a `page`
// file replaces an error page.
func TestHandleErrorsRestylesTheGatewaysRefusals(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "wechat-error.html"), []byte(`<h1>{{placeholder "http.wechat_auth.heading" | html}}</h1><p>{{placeholder "http.wechat_auth.message" | html}}</p>
<a href="{{placeholder "http.wechat_auth.action_url" | html}}">{{placeholder "http.wechat_auth.action_label" | html}}</a> ({{placeholder "http.wechat_auth.page"}} {{placeholder "http.wechat_auth.ref"}})`), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, gatewayConfig{site: `%[1]s
	reverse_proxy %[2]s
	handle_errors 403 {
		respond "site style {http.error.status_code} {http.wechat_auth.page}: {http.wechat_auth.heading}"
	}
	handle_errors 502 503 {
		@wechat expression ` + "`{http.wechat_auth.page} != \"\"`" + `
		handle @wechat {
			root * ` + dir + `
			rewrite * /wechat-error.html
			templates
			file_server
		}
	}`})

	desktop := newBrowser("bob")
	desktop.UserAgent = desktopUA
	resp, body := desktop.get(t, g.URL+"/reports")
	if resp.StatusCode != http.StatusForbidden || body != "site style 403 openinwechat: 请在微信中打开此页面" {
		t.Errorf("open-in-WeChat: %d %.300q, want the site's style", resp.StatusCode, body)
	}

	g.sim.Fail(exchangePath, 1, wechattest.Fault{ErrCode: 40125})
	resp, body = newBrowser("carol").get(t, g.URL+"/orders")
	if resp.StatusCode != http.StatusBadGateway || !strings.HasPrefix(body, "<h1>网站的微信登录配置有误</h1>") || !strings.Contains(body, "(misconfigured errcode 40125)") {
		t.Errorf("misconfigured: %d %.500q, want the site's template with the errcode", resp.StatusCode, body)
	}
	g.sim.Fail(exchangePath, 1000, wechattest.Fault{Status: 502, Body: "bad gateway", ContentType: "text/plain"})
	resp, body = newBrowser("alice").get(t, g.URL+"/orders")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(body, "<h1>微信暂时无法响应</h1><p>微信登录服务暂时繁忙") ||
		!strings.Contains(body, `<a href="`+g.URL+`/wechat_auth/login?rd=%2Forders">重试</a> (wechatdown )`) {
		t.Errorf("WeChat down: %d %.500q, want the site's template", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("WeChat down: Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	// An API request keeps its JSON.
	resp, body = desktop.do(t, http.MethodGet, g.URL+"/api", http.Header{"Accept": {"application/json"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"error":"not_wechat"`) {
		t.Errorf("API request outside WeChat: %d %q", resp.StatusCode, body)
	}
}

func TestHandleErrorsFor404OnlyLeavesTheGatewaysPagesBuiltIn(t *testing.T) {
	g := startGateway(t, gatewayConfig{site: `%[1]s
	reverse_proxy %[2]s
	handle_errors 404 {
		respond "our own 404"
	}`})
	desktop := newBrowser("bob")
	desktop.UserAgent = desktopUA
	if resp, body := desktop.get(t, g.URL+"/reports"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "请在微信中打开此页面") || !strings.Contains(body, `class="qr"`) {
		t.Errorf("open-in-WeChat beside handle_errors 404: %d %.300q, want the built-in page", resp.StatusCode, body)
	}
	g.sim.Fail(exchangePath, 1000, wechattest.Fault{Status: 502, Body: "bad gateway", ContentType: "text/plain"})
	if resp, body := newBrowser("alice").get(t, g.URL+"/orders"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "微信暂时无法响应") {
		t.Errorf("WeChat down beside handle_errors 404: %d %.300q, want the built-in page", resp.StatusCode, body)
	}
	// The gateway's own 404 (an unknown endpoint) is the operator's.
	if resp, body := newBrowser("alice").get(t, g.URL+"/wechat_auth/nope"); resp.StatusCode != http.StatusNotFound || body != "our own 404" {
		t.Errorf("unknown endpoint: %d %.300q", resp.StatusCode, body)
	}
}

func TestASiteReplacesAnErrorPageWithPage(t *testing.T) {
	file := filepath.Join(t.TempDir(), "down.html")
	if err := os.WriteFile(file, []byte(`{{define "body"}}<h1>报表系统：{{.Heading}}</h1>{{range .Lines}}<p>{{.}}</p>{{end}}<a href="{{.ActionURL}}">{{.ActionLabel}}</a>{{end}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, gatewayConfig{settings: "page wechatdown " + file})
	g.sim.Fail(exchangePath, 1000, wechattest.Fault{Status: 502, Body: "bad gateway", ContentType: "text/plain"})
	resp, body := newBrowser("alice").get(t, g.URL+"/orders")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "<h1>报表系统：微信暂时无法响应</h1>") ||
		!strings.Contains(body, `/wechat_auth/login?rd=%2Forders">重试</a>`) {
		t.Errorf("page wechatdown: %d %.500q", resp.StatusCode, body)
	}
}
