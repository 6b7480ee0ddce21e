package wechattest

import (
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"
)

// IPhoneUA is the User-Agent of WeChat's in-app browser on iOS (docs/wechat.md §7).
const IPhoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) " +
	"Mobile/15E148 MicroMessenger/8.0.50(0x1800323b) NetType/WIFI Language/zh_CN"

// TB is the part of testing.TB a Browser uses to fail a test; *testing.T and
// *testing.B satisfy it. (The package does not import testing, since `caddy
// wechat-mock` links it.)
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Browser is WeChat's in-app browser of one test user, for tests, in the style
// of net/http/httptest: a cookie jar, WeChat's iPhone User-Agent and the
// simulator's headers (UserHeader picks the user, ConsentHeader answers the
// consent page) on every request, redirects included. Its methods fail the
// test on a transport error and return the Page a navigation ended on.
// Change the exported fields between requests as a test needs.
type Browser struct {
	// Client sends the requests; it keeps cookies in Jar and follows up to 15
	// redirects, unless one leads to a URL containing StopAt.
	Client *http.Client
	// Jar holds the browser's cookies.
	Jar *cookiejar.Jar
	// UserAgent is sent on every request; NewBrowser sets IPhoneUA.
	UserAgent string
	// User is sent as UserHeader; "" sends none (the simulator then shows its picker).
	User string
	// Consent is sent as ConsentHeader ("allow" or "deny"); "" sends none, so
	// the consent page is shown. NewBrowser sets "allow".
	Consent string
	// Entry is sent as EntryHeader: where the visit came from ("menu" or
	// "chat" of the account, for the follower special case); "" sends none.
	Entry string
	// Header is added to every request under its keys as written (no
	// canonicalisation, so X_WeChat_OpenID stays itself).
	Header http.Header
	// StopAt stops following redirects at the first URL containing it; the
	// redirect response is then the Page.
	StopAt string
	// Hops lists every request of the last navigation, for failure messages.
	// Several tabs may navigate at once: read it when no navigation is under
	// way, or through HopsString.
	Hops []string
	// Base carries the requests after the browser added its headers;
	// NewBrowser sets a private transport without keep-alives.
	Base http.RoundTripper

	hopsMu sync.Mutex // guards Hops while tabs navigate concurrently
}

// NewBrowser returns WeChat's in-app browser of the simulator user named user
// ("" for a visitor who picks in the simulator's picker).
func NewBrowser(user string) *Browser {
	jar, _ := cookiejar.New(nil) // cannot fail without options
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true // no idle connections outlive the test
	b := &Browser{Jar: jar, UserAgent: IPhoneUA, User: user, Consent: "allow", Header: http.Header{}, Base: tr}
	b.Client = &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: browserTransport{b}, CheckRedirect: b.checkRedirect}
	return b
}

// browserTransport adds the browser's headers to every request.
type browserTransport struct{ b *Browser }

func (t browserTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b := t.b
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", b.UserAgent)
	if b.User != "" {
		r.Header.Set(UserHeader, b.User)
	}
	if b.Consent != "" {
		r.Header.Set(ConsentHeader, b.Consent)
	}
	if b.Entry != "" {
		r.Header.Set(EntryHeader, b.Entry)
	}
	for k, v := range b.Header {
		r.Header[k] = v
	}
	if b.Base == nil {
		return http.DefaultTransport.RoundTrip(r)
	}
	return b.Base.RoundTrip(r)
}

func (b *Browser) checkRedirect(req *http.Request, via []*http.Request) error {
	b.hopsMu.Lock()
	b.Hops = append(b.Hops, req.Method+" "+req.URL.String())
	b.hopsMu.Unlock()
	if len(via) >= 15 {
		return errors.New("more than 15 redirects")
	}
	// As a browser does, honour the redirect's Referrer-Policy (Go's client
	// would otherwise send the previous URL as Referer).
	if req.Response != nil && req.Response.Header.Get("Referrer-Policy") == "no-referrer" {
		req.Header.Del("Referer")
	}
	if b.StopAt != "" && strings.Contains(req.URL.String(), b.StopAt) {
		return http.ErrUseLastResponse
	}
	return nil
}

// Page is what a navigation ended on.
type Page struct {
	Status int
	URL    *url.URL
	Header http.Header
	Body   string
}

// Location is the page's Location header, for a redirect the browser did not follow.
func (p *Page) Location() string { return p.Header.Get("Location") }

// Do sends req, follows redirects as configured, and returns the final page.
func (b *Browser) Do(t TB, req *http.Request) *Page {
	t.Helper()
	b.hopsMu.Lock()
	b.Hops = []string{req.Method + " " + req.URL.String()}
	b.hopsMu.Unlock()
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatalf("%v\nhops:\n  %s", err, b.HopsString())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatalf("reading %s: %v", resp.Request.URL, err)
	}
	return &Page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(body)}
}

// Get opens rawURL and follows redirects.
func (b *Browser) Get(t TB, rawURL string) *Page {
	t.Helper()
	return b.Do(t, b.request(t, http.MethodGet, rawURL, nil))
}

// PostForm submits form to rawURL as a browser submits an HTML form.
func (b *Browser) PostForm(t TB, rawURL string, form url.Values) *Page {
	t.Helper()
	req := b.request(t, http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.Do(t, req)
}

// Step opens rawURL without following a redirect.
func (b *Browser) Step(t TB, rawURL string) *Page {
	t.Helper()
	saved := b.StopAt
	b.StopAt = "://" // every redirect URL contains it
	defer func() { b.StopAt = saved }()
	return b.Get(t, rawURL)
}

// HopsString is the redirect chain of the last navigation, one per line.
func (b *Browser) HopsString() string {
	b.hopsMu.Lock()
	defer b.hopsMu.Unlock()
	return strings.Join(b.Hops, "\n  ")
}

func (b *Browser) request(t TB, method, rawURL string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	return req
}

// Cookie returns the value of the cookie name the browser holds for rawURL, or "".
func (b *Browser) Cookie(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// CookieNames returns the names of the cookies the browser holds for rawURL.
func (b *Browser) CookieNames(rawURL string) []string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	var names []string
	for _, c := range b.Jar.Cookies(u) {
		names = append(names, c.Name)
	}
	return names
}
