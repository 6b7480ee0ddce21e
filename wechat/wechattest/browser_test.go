package wechattest_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestBrowserLogsInThroughTheSimulatorAsWeChatsBrowser walks a tiny site's
// login: the browser must look like WeChat, name its user, answer consent and
// keep cookies across redirects.
func TestBrowserLogsInThroughTheSimulatorAsWeChatsBrowser(t *testing.T) {
	sim := newServer(t)
	var site *httptest.Server
	site = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			if c, err := r.Cookie("sid"); err == nil {
				w.Write([]byte("hello " + c.Value + " " + r.Header.Get("X-Extra")))
				return
			}
			w.Header().Set("Referrer-Policy", "no-referrer")
			http.Redirect(w, r, "/login", http.StatusFound)
		case "/login":
			if r.Header.Get("Referer") != "" {
				http.Error(w, "the Referer leaked past no-referrer", http.StatusBadRequest)
				return
			}
			http.Redirect(w, r, sim.URL+"/connect/oauth2/authorize?appid="+app+"&redirect_uri="+
				url.QueryEscape(site.URL+"/cb")+"&response_type=code&scope=snsapi_userinfo&state=s", http.StatusFound)
		case "/cb":
			if r.URL.Query().Get("code") == "" || r.Header.Get("User-Agent") != wechattest.IPhoneUA {
				http.Error(w, "bad callback", http.StatusBadRequest)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: "carol-session", Path: "/"})
			http.Redirect(w, r, "/", http.StatusFound)
		}
	}))
	defer site.Close()

	b := wechattest.NewBrowser("carol")
	b.Header["X-Extra"] = []string{"raw"}
	p := b.Get(t, site.URL+"/")
	if p.Status != 200 || p.Body != "hello carol-session raw" || len(b.Hops) != 5 {
		t.Fatalf("ended on %d %q after\n  %s", p.Status, p.Body, b.HopsString())
	}
	if b.Cookie(site.URL, "sid") != "carol-session" || !slices.Contains(b.CookieNames(site.URL), "sid") {
		t.Errorf("jar: %v", b.CookieNames(site.URL))
	}
	calls := sim.Calls()
	if len(calls) != 1 || calls[0].Path != "/connect/oauth2/authorize" {
		t.Fatalf("simulator calls: %+v", calls)
	}

	// Step stops at the first redirect; StopAt at a chosen one.
	fresh := wechattest.NewBrowser("alice")
	if s := fresh.Step(t, site.URL+"/"); s.Status != http.StatusFound || s.Location() != "/login" {
		t.Errorf("Step: %d %q", s.Status, s.Location())
	}
	fresh.StopAt = "/cb?"
	if s := fresh.Get(t, site.URL+"/"); s.Status != http.StatusFound || !strings.Contains(s.Location(), "/cb?code=") {
		t.Errorf("StopAt: %d %q", s.Status, s.Location())
	}

	// Without a user the simulator shows its picker; without consent, the consent page.
	anon := wechattest.NewBrowser("")
	if p := anon.Get(t, site.URL+"/"); !strings.Contains(p.URL.Path, "/mock/users") {
		t.Errorf("no user ended on %s", p.URL)
	}
	undecided := wechattest.NewBrowser("bob")
	undecided.Consent = ""
	if p := undecided.Get(t, site.URL+"/"); !strings.Contains(p.Body, "允许") {
		t.Errorf("no consent answer ended on %s", p.URL)
	}
}
