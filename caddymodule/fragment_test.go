package wechatauth

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var (
	scriptRe = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	hrefRe   = regexp.MustCompile(`<a id="login" href="([^"]*)"`)
)

// followFragmentPage does what the page's script does in a browser at
// pageURL (which has the fragment): resolve the link, append the encoded
// fragment, and return where the browser goes. The script text is checked
// to be exactly that, so this stays a faithful reading of the page.
func followFragmentPage(t *testing.T, body, pageURL string) *url.URL {
	t.Helper()
	m := scriptRe.FindStringSubmatch(body)
	if m == nil || m[1] != fragmentScript {
		t.Fatalf("the page's script is not fragmentScript: %q", body)
	}
	h := hrefRe.FindStringSubmatch(body)
	if h == nil {
		t.Fatalf("the page has no login link: %s", body)
	}
	href := strings.ReplaceAll(h[1], "&amp;", "&")
	base, _ := url.Parse(pageURL)
	link, err := base.Parse(href)
	if err != nil {
		t.Fatalf("link %q: %v", href, err)
	}
	hash := ""
	if base.Fragment != "" || base.RawFragment != "" {
		hash = "#" + base.EscapedFragment()
	}
	// encodeURIComponent escapes everything but A-Z a-z 0-9 - _ . ! ~ * ' ( ).
	next, err := url.Parse(link.String() + strings.ReplaceAll(url.QueryEscape(hash), "+", "%20"))
	if err != nil {
		t.Fatal(err)
	}
	return next
}

func TestFragmentPageSendsTheFragmentInRdAndPassesItsOwnCSP(t *testing.T) {
	cases := []struct{ page, ret, scope, wantRd string }{
		{"https://a.example/app#/orders/7", "/app", "", "/app#/orders/7"},
		{"https://a.example/app?x=1&y=%20#/orders/7?tab=2", "/app?x=1&y=%20", "", "/app?x=1&y=%20#/orders/7?tab=2"},
		{"https://a.example/app", "/app", "", "/app"},
		{"https://a.example/spa#/%E8%AE%A2%E5%8D%95", "/spa", "snsapi_userinfo", "/spa#/%E8%AE%A2%E5%8D%95"},
		{"https://a.example/p?q=\"'<>#x", "/p?q=%22%27%3C%3E", "", "/p?q=%22%27%3C%3E#x"},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		writeFragmentPage(rec, http.StatusOK, fragmentLoginURL("/wechat_auth", c.ret, c.scope, "snsapi_base"))
		body := rec.Body.String()
		csp := rec.Header().Get("Content-Security-Policy")
		sum := sha256.Sum256([]byte(scriptRe.FindStringSubmatch(body)[1]))
		if !strings.Contains(csp, "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") || !strings.Contains(csp, "default-src 'none'") {
			t.Fatalf("CSP %q does not allow exactly the page's script", csp)
		}
		if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("headers: %v", rec.Header())
		}
		next := followFragmentPage(t, body, c.page)
		if next.Path != "/wechat_auth/login" {
			t.Fatalf("the page goes to %s", next)
		}
		q := next.Query()
		if q.Get("rd") != c.wantRd {
			t.Errorf("page %s: rd = %q, want %q", c.page, q.Get("rd"), c.wantRd)
		}
		if want := c.scope; q.Get("scope") != want {
			t.Errorf("page %s: scope = %q, want %q", c.page, q.Get("scope"), want)
		}
		if safeReturnURL(q.Get("rd"), origin{"https", "a.example"}, nil) != c.wantRd {
			t.Errorf("rd %q would not survive the return-URL check", q.Get("rd"))
		}
	}
}

func TestFragmentLoginURLPutsRdLast(t *testing.T) {
	got := fragmentLoginURL("/mp/wechat_auth", "/a?b=c&d=e", "snsapi_userinfo", "snsapi_base")
	if got != "/mp/wechat_auth/login?scope=snsapi_userinfo&rd=%2Fa%3Fb%3Dc%26d%3De" {
		t.Fatalf("got %s", got)
	}
	if got := fragmentLoginURL("/wechat_auth", "/", "snsapi_base", "snsapi_base"); got != "/wechat_auth/login?rd=%2F" {
		t.Fatalf("got %s", got)
	}
}

func TestFragmentPageEscapesTheLoginURL(t *testing.T) {
	rec := httptest.NewRecorder()
	writeFragmentPage(rec, http.StatusOK, `/x?rd="><script>alert(1)</script>`)
	if strings.Contains(rec.Body.String(), "<script>alert(1)") || strings.Count(rec.Body.String(), "<script>") != 1 {
		t.Fatalf("the login URL was not escaped: %s", rec.Body.String())
	}
}
