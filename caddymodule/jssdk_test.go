package wechatauth

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// referenceSignature computes wx.config's signature the way WeChat's docs
// describe it, independently of jssdkSignature: collect the parameters as
// key=value pairs, sort them by key, join with "&", SHA-1, lowercase hex.
func referenceSignature(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + params[k]
	}
	h := sha1.New()
	_, _ = io.WriteString(h, strings.Join(pairs, "&"))
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestJSSDKSignatureMatchesWeChatsDocumentedExample(t *testing.T) {
	// WeChat's JS-SDK documentation, 附录1 (JS-SDK使用权限签名算法).
	got := jssdkSignature("sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
		"Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value")
	if want := "0f9de62fce790f9a083d5c99e95740ceb90c27ed"; got != want {
		t.Fatalf("signature of the documented example = %s, want %s", got, want)
	}
}

// signRequest runs one signing request through a signer for site
// https://wx.example.com with a fixed ticket and returns the answer.
func signRequest(t *testing.T, s *jssdkSigner, target string, hdr http.Header) (*httptest.ResponseRecorder, jssdkConfig) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range hdr {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	s.serve(w, r, origin{Scheme: "https", Host: "wx.example.com"})
	var cfg jssdkConfig
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &cfg); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, w.Body)
		}
	}
	return w, cfg
}

const testTicket = "kgt8ON7yVITDhtdwci0qeZ5Wl-yf8SWmEO4u53yRrT4Z2VGxI0eWRpTdCq0fdnHrEW1gh4o0m-n9-jpMn8p2Vg"

func testSigner(t *testing.T, rules ...string) (*jssdkSigner, *int) {
	t.Helper()
	var parsed []domainRule
	for _, r := range rules {
		rule, err := parseDomainRuleOf("jssdk_domains", r)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, rule)
	}
	fetches := new(int)
	m := newMetricsSet()
	now := func() time.Time { return time.Unix(1700000000, 0) }
	return &jssdkSigner{
		appID: "wx0123456789abcdef", rules: parsed, now: now, logger: zap.NewNop(), metrics: m,
		tickets: &jsapiTickets{now: now, metrics: m, fetch: func(context.Context) (string, error) {
			*fetches++
			return testTicket, nil
		}},
	}, fetches
}

func TestJSSDKSignsPageURLsAsTheBrowserHasThemAgainstAnIndependentComputation(t *testing.T) {
	s, _ := testSigner(t, ".example.org", "static.example.net:8443")
	cases := []struct {
		name, sent, signed string
	}{
		{"plain", "https://wx.example.com/", "https://wx.example.com/"},
		{"query string", "https://wx.example.com/bind.php?from=menu&id=42", "https://wx.example.com/bind.php?from=menu&id=42"},
		{"repeated and empty query keys", "https://wx.example.com/a?x=1&x=2&y=&z", "https://wx.example.com/a?x=1&x=2&y=&z"},
		{"percent-encoded query values stay encoded", "https://wx.example.com/s?q=%E5%BE%AE%E4%BF%A1&r=a%2Bb%20c", "https://wx.example.com/s?q=%E5%BE%AE%E4%BF%A1&r=a%2Bb%20c"},
		// location.href of https://wx.example.com/商品/详情?名=值 in a browser:
		{"Chinese path percent-encoded", "https://wx.example.com/%E5%95%86%E5%93%81/%E8%AF%A6%E6%83%85?%E5%90%8D=%E5%80%BC", "https://wx.example.com/%E5%95%86%E5%93%81/%E8%AF%A6%E6%83%85?%E5%90%8D=%E5%80%BC"},
		{"fragment stripped", "https://wx.example.com/spa/index.html?v=3#/orders/7?tab=2", "https://wx.example.com/spa/index.html?v=3"},
		{"empty fragment stripped", "https://wx.example.com/p#", "https://wx.example.com/p"},
		{"hash routes only", "https://wx.example.com/#/home", "https://wx.example.com/"},
		{"default port spelled out is signed as sent", "https://wx.example.com:443/p", "https://wx.example.com:443/p"},
		{"jssdk_domains suffix rule", "https://shop.example.org/item?id=1", "https://shop.example.org/item?id=1"},
		{"jssdk_domains port rule", "https://static.example.net:8443/x", "https://static.example.net:8443/x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, cfg := signRequest(t, s, "/wechat_auth/jssdk?url="+url.QueryEscape(c.sent), nil)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if cfg.URL != c.signed {
				t.Errorf("signed URL %q, want %q", cfg.URL, c.signed)
			}
			want := referenceSignature(map[string]string{
				"noncestr": cfg.NonceStr, "jsapi_ticket": testTicket,
				"timestamp": fmt.Sprint(cfg.Timestamp), "url": c.signed,
			})
			if cfg.Signature != want {
				t.Errorf("signature %s, want %s (independent computation)", cfg.Signature, want)
			}
			if cfg.AppID != "wx0123456789abcdef" || cfg.Timestamp != 1700000000 || len(cfg.NonceStr) != jssdkNonceLen {
				t.Errorf("config %+v: want the app's id, the current time and a %d-character nonce", cfg, jssdkNonceLen)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if strings.Contains(w.Body.String(), testTicket) {
				t.Error("the jsapi_ticket left the gateway")
			}
		})
	}
}

func TestJSSDKNonceDiffersPerSignature(t *testing.T) {
	s, _ := testSigner(t)
	seen := map[string]bool{}
	for range 50 {
		_, cfg := signRequest(t, s, "/wechat_auth/jssdk?url="+url.QueryEscape("https://wx.example.com/"), nil)
		if seen[cfg.NonceStr] {
			t.Fatalf("nonce %q repeated", cfg.NonceStr)
		}
		seen[cfg.NonceStr] = true
	}
}

func TestJSSDKRefusesURLsItMustNotSign(t *testing.T) {
	s, fetches := testSigner(t, ".example.org")
	cases := []struct {
		name, url string
		status    int
		code      string
	}{
		{"missing", "", 400, "missing_url"},
		{"only a fragment", "#/x", 400, "missing_url"},
		{"foreign domain", "https://evil.example/page", 403, "url_not_allowed"},
		{"foreign domain ending like ours", "https://evilwx.example.com/", 403, "url_not_allowed"},
		{"our name as a subdomain of theirs", "https://wx.example.com.evil.example/", 403, "url_not_allowed"},
		{"other scheme of our host", "http://wx.example.com/", 403, "url_not_allowed"},
		{"other port of our host", "https://wx.example.com:8443/", 403, "url_not_allowed"},
		{"suffix rule does not cover other ports", "https://shop.example.org:8443/", 403, "url_not_allowed"},
		{"userinfo", "https://wx.example.com@evil.example/", 403, "url_not_allowed"},
		{"relative", "/bind.php", 400, "invalid_url"},
		{"scheme-relative", "//wx.example.com/", 400, "invalid_url"},
		{"javascript", "javascript:alert(1)//wx.example.com", 400, "invalid_url"},
		{"raw UTF-8 path (a browser's href is percent-encoded)", "https://wx.example.com/商品", 400, "invalid_url"},
		{"raw space", "https://wx.example.com/a b", 400, "invalid_url"},
		{"overlong", "https://wx.example.com/?q=" + strings.Repeat("a", maxJSSDKURL), 400, "url_too_long"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, _ := signRequest(t, s, "/wechat_auth/jssdk?url="+url.QueryEscape(c.url), nil)
			var body jsonError
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != c.status || body.Error != c.code || body.Message == "" {
				t.Fatalf("status %d %+v, want %d %s with a message", w.Code, body, c.status, c.code)
			}
			if strings.Contains(w.Body.String(), "signature") {
				t.Errorf("a refusal carried a signature: %s", w.Body)
			}
		})
	}
	if *fetches != 0 {
		t.Errorf("refused requests fetched the ticket %d times, want 0", *fetches)
	}
}

func TestJSSDKChecksWhatTheBrowserSaysAboutTheCaller(t *testing.T) {
	s, _ := testSigner(t, ".example.org")
	page := url.QueryEscape("https://shop.example.org/item?id=1")
	own := url.QueryEscape("https://wx.example.com/p")
	cases := []struct {
		name, target string
		hdr          http.Header
		status       int
		allow        string
	}{
		{"same-origin fetch without Origin", own, http.Header{"Sec-Fetch-Site": {"same-origin"}}, 200, ""},
		{"server-side caller (no browser headers)", own, nil, 200, ""},
		{"same-origin fetch with Origin", own, http.Header{"Origin": {"https://wx.example.com"}}, 200, "https://wx.example.com"},
		{"cross-origin page on a jssdk_domains host asks for its own URL", page, http.Header{"Origin": {"https://shop.example.org"}, "Sec-Fetch-Site": {"same-site"}}, 200, "https://shop.example.org"},
		{"origin spelled with default port", page, http.Header{"Origin": {"https://shop.example.org:443"}}, 200, "https://shop.example.org:443"},
		{"allowed page asks for another allowed host's URL", own, http.Header{"Origin": {"https://shop.example.org"}}, 403, ""},
		{"foreign page asks for our URL", own, http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}, 403, ""},
		{"opaque origin", own, http.Header{"Origin": {"null"}}, 403, ""},
		{"http origin for an https page", page, http.Header{"Origin": {"http://shop.example.org"}}, 403, ""},
		{"cross-site include without Origin", own, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"no-cors"}}, 403, ""},
		{"same-site include without Origin", own, http.Header{"Sec-Fetch-Site": {"same-site"}}, 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, cfg := signRequest(t, s, "/wechat_auth/jssdk?url="+c.target, c.hdr)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != c.allow {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, c.allow)
			}
			if w.Header().Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed: the endpoint needs no cookies")
			}
			if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "Origin") {
				t.Error("answer does not vary by Origin")
			}
			if c.status == 200 && cfg.Signature == "" {
				t.Error("no signature")
			}
		})
	}
}

func TestJSSDKAnswersOnlyGETAndHEAD(t *testing.T) {
	s, _ := testSigner(t)
	r := httptest.NewRequest(http.MethodPost, "/wechat_auth/jssdk?url="+url.QueryEscape("https://wx.example.com/"), nil)
	w := httptest.NewRecorder()
	s.serve(w, r, origin{Scheme: "https", Host: "wx.example.com"})
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d Allow %q, want 405 GET, HEAD", w.Code, w.Header().Get("Allow"))
	}
}

func TestJSSDKTicketFailureAnswers503AndHoldsFurtherFetchesOff(t *testing.T) {
	s, _ := testSigner(t)
	clock := time.Unix(1700000000, 0)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	calls, fail := 0, true
	s.tickets = &jsapiTickets{now: now, metrics: s.metrics, fetch: func(context.Context) (string, error) {
		calls++
		if fail {
			return "", errors.New("wechat /cgi-bin/ticket/getticket: errcode 45009")
		}
		return testTicket, nil
	}}
	target := "/wechat_auth/jssdk?url=" + url.QueryEscape("https://wx.example.com/")
	for i := range 20 {
		w, _ := signRequest(t, s, target, nil)
		var body jsonError
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusServiceUnavailable || body.Error != "jsapi_ticket_unavailable" || w.Header().Get("Retry-After") == "" {
			t.Fatalf("request %d: %d %s, want 503 jsapi_ticket_unavailable with Retry-After", i, w.Code, w.Body)
		}
		if strings.Contains(w.Body.String(), "45009") {
			t.Errorf("WeChat's error reached the visitor: %s", w.Body)
		}
	}
	if calls != 1 {
		t.Fatalf("20 requests during a failure asked WeChat %d times, want 1", calls)
	}
	mu.Lock()
	clock = clock.Add(ticketHoldOff)
	mu.Unlock()
	fail = false
	if w, cfg := signRequest(t, s, target, nil); w.Code != http.StatusOK || cfg.Signature == "" {
		t.Fatalf("after the hold-off: %d %s, want a signature", w.Code, w.Body)
	}
	if calls != 2 {
		t.Fatalf("after the hold-off WeChat was asked %d times in all, want 2", calls)
	}
}

func TestJSAPITicketsDoNotHoldOffWhenTheCallerGaveUp(t *testing.T) {
	calls := 0
	tk := &jsapiTickets{now: time.Now, metrics: newMetricsSet(), fetch: func(ctx context.Context) (string, error) {
		calls++
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return testTicket, nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tk.get(ctx); err == nil {
		t.Fatal("a canceled caller got a ticket")
	}
	if got, err := tk.get(context.Background()); err != nil || got != testTicket || calls != 2 {
		t.Fatalf("after a canceled caller: %q %v after %d fetches, want the ticket from a second fetch", got, err, calls)
	}
}

func TestJSSDKScriptIsServedAsJavaScriptWithRevalidation(t *testing.T) {
	w := httptest.NewRecorder()
	serveJSSDKScript(w, httptest.NewRequest(http.MethodGet, "/wechat_auth/jssdk.js", nil))
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") ||
		w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("ETag") == "" {
		t.Fatalf("jssdk.js: %d %v", w.Code, w.Header())
	}
	body := w.Body.String()
	for _, want := range []string{"window.wechatJSSDK", "location.href.split('#')[0]", "encodeURIComponent", "wx.config(cfg)", "data-js-api-list"} {
		if !strings.Contains(body, want) {
			t.Errorf("jssdk.js lacks %q", want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/wechat_auth/jssdk.js", nil)
	r.Header.Set("If-None-Match", w.Header().Get("ETag"))
	w2 := httptest.NewRecorder()
	serveJSSDKScript(w2, r)
	if w2.Code != http.StatusNotModified || w2.Body.Len() != 0 {
		t.Fatalf("revalidation: %d with %d bytes, want 304 and none", w2.Code, w2.Body.Len())
	}
}

func TestJSSDKOnARelayClientWithoutASecretSaysWhereToSign(t *testing.T) {
	h := provisionedHandler(t, func(h *Handler) {
		h.AppSecret = ""
		h.Relay = "https://login.example.com/wechat_auth"
		h.RelayKeys = []RelayKey{{Origin: "http://wx.example.com", Key: base64.StdEncoding.EncodeToString(testKey(7, 32))}}
	})
	if h.acct.client != nil || h.jssdk != nil {
		t.Fatal("a relay client without app_secret got a WeChat client or a signer")
	}
	w := httptest.NewRecorder()
	_ = serveRoute(w, httptest.NewRequest(http.MethodGet, "http://wx.example.com/wechat_auth/jssdk?url="+url.QueryEscape("http://wx.example.com/"), nil), h.routes, h.sites, "jssdk")
	var body jsonError
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != http.StatusNotFound || body.Error != "jssdk_unavailable" || !strings.Contains(body.Message, "jssdk_domains") {
		t.Fatalf("%d %s, want 404 jssdk_unavailable pointing at the relay's jssdk_domains", w.Code, w.Body)
	}
}
