package wechatauth_test

import (
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

const (
	ticketPath      = "/cgi-bin/ticket/getticket"
	stableTokenPath = "/cgi-bin/stable_token"
)

// wxConfig is the signing endpoint's answer.
type wxConfig struct {
	AppID     string `json:"appId"`
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
	URL       string `json:"url"`
}

// wantSignature is wx.config's signature as WeChat documents it, computed
// here from the simulator's ticket, apart from the module's code.
func wantSignature(ticket string, c wxConfig, pageURL string) string {
	sum := sha1.Sum([]byte("jsapi_ticket=" + ticket + "&noncestr=" + c.NonceStr +
		"&timestamp=" + strconv.FormatInt(c.Timestamp, 10) + "&url=" + pageURL))
	return hex.EncodeToString(sum[:])
}

func (g *gateway) sign(t *testing.T, pageURL string, hdr http.Header) (int, wxConfig, string) {
	t.Helper()
	b := newBrowser("")
	resp, body := b.do(t, http.MethodGet, g.URL+"/wechat_auth/jssdk?url="+url.QueryEscape(pageURL), hdr)
	var c wxConfig
	if resp.StatusCode == http.StatusOK {
		decodeJSON(t, body, &c)
	}
	return resp.StatusCode, c, body
}

func TestJSSDKSignaturesVerifyWithTheSimulatorsTicketAndOneTicketServesMany(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "jssdk_domains .example.org"})
	pages := []struct{ sent, signed string }{
		{g.URL + "/bind.php?from=menu&id=7", g.URL + "/bind.php?from=menu&id=7"},
		{g.URL + "/%E5%95%86%E5%93%81/%E8%AF%A6%E6%83%85?%E5%90%8D=%E5%80%BC", g.URL + "/%E5%95%86%E5%93%81/%E8%AF%A6%E6%83%85?%E5%90%8D=%E5%80%BC"},
		{g.URL + "/spa/?v=2#/orders/7", g.URL + "/spa/?v=2"},
		{"https://shop.example.org/item?id=1", "https://shop.example.org/item?id=1"},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]wxConfig{}
	for i := range 40 { // concurrent first requests share one ticket fetch
		p := pages[i%len(pages)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, c, body := g.sign(t, p.sent, nil)
			if status != http.StatusOK {
				t.Errorf("signing %s: %d %s", p.sent, status, body)
				return
			}
			mu.Lock()
			got[p.signed+" "+c.NonceStr] = c
			mu.Unlock()
		}()
	}
	wg.Wait()
	ticket := g.sim.JSAPITicket(testAppID)
	if ticket == "" || !g.sim.ValidJSAPITicket(testAppID, ticket) {
		t.Fatal("the simulator issued no valid jsapi_ticket")
	}
	if len(got) != 40 {
		t.Fatalf("%d distinct answers for 40 requests, want 40 (a nonce repeated?)", len(got))
	}
	for k, c := range got {
		signed := strings.SplitN(k, " ", 2)[0]
		if c.URL != signed || c.AppID != testAppID {
			t.Errorf("answer %+v, want url %s and appId %s", c, signed, testAppID)
		}
		if want := wantSignature(ticket, c, signed); c.Signature != want {
			t.Errorf("signature for %s = %s, want %s (the simulator's ticket)", signed, c.Signature, want)
		}
	}
	if n := g.sim.CallCount(ticketPath); n != 1 {
		t.Errorf("40 signatures fetched the ticket %d times, want 1", n)
	}
}

func TestJSSDKRefusesAForeignDomainThroughTheGateway(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "jssdk_domains .example.org"})
	for _, u := range []string{"https://evil.example/", "https://example.org.evil.example/", "http://shop.example.org:8080/"} {
		status, _, body := g.sign(t, u, nil)
		var e struct{ Error, Message string }
		decodeJSON(t, body, &e)
		if status != http.StatusForbidden || e.Error != "url_not_allowed" || !strings.Contains(e.Message, "jssdk_domains") {
			t.Errorf("%s: %d %s, want 403 url_not_allowed naming jssdk_domains", u, status, body)
		}
	}
	if n := g.sim.CallCount(ticketPath); n != 0 {
		t.Errorf("refusals fetched the ticket %d times, want 0", n)
	}
	// A page of another origin asking for our page's signature.
	status, _, _ := g.sign(t, g.URL+"/p", http.Header{"Origin": {"https://evil.example"}})
	if status != http.StatusForbidden {
		t.Errorf("cross-origin caller for our URL: %d, want 403", status)
	}
}

func TestJSSDKRefetchesTheBasicTokenOnceWhenGetticketSays40001(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	// Warm the basic token, as any earlier WeChat call would.
	status, _, body := g.sign(t, g.URL+"/warm", nil)
	if status != http.StatusOK {
		t.Fatalf("first signature: %d %s", status, body)
	}
	g.sim.ResetCalls()
	// Another process force-refreshed the token, so getticket answers 40001
	// once. A new config (a new client: no cached ticket) meets it.
	g2 := startGateway(t, gatewayConfig{sim: g.sim})
	g.sim.Fail(ticketPath, 1, wechattest.Fault{ErrCode: 40001})
	status, c, body := g2.sign(t, g2.URL+"/after", nil)
	if status != http.StatusOK {
		t.Fatalf("after one 40001: %d %s, want a signature", status, body)
	}
	if want := wantSignature(g.sim.JSAPITicket(testAppID), c, g2.URL+"/after"); c.Signature != want {
		t.Errorf("signature %s, want %s", c.Signature, want)
	}
	if n, m := g.sim.CallCount(ticketPath), g.sim.CallCount(stableTokenPath); n != 2 || m != 2 {
		t.Errorf("getticket %d times and stable_token %d times, want 2 and 2 (the token refetched once)", n, m)
	}

	// 40001 again and again: one refetch, then a 503, and no loop.
	g3 := startGateway(t, gatewayConfig{sim: g.sim})
	g.sim.ResetCalls()
	g.sim.Fail(ticketPath, 5, wechattest.Fault{ErrCode: 40001})
	status, _, body = g3.sign(t, g3.URL+"/again", nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "jsapi_ticket_unavailable") {
		t.Fatalf("persistent 40001: %d %s, want 503 jsapi_ticket_unavailable", status, body)
	}
	if n, m := g.sim.CallCount(ticketPath), g.sim.CallCount(stableTokenPath); n != 2 || m != 2 {
		t.Errorf("getticket %d times and stable_token %d times, want 2 and 2 (one refetch, no loop)", n, m)
	}
	// The hold-off: the next requests do not ask WeChat.
	for range 5 {
		if status, _, _ := g3.sign(t, g3.URL+"/again", nil); status != http.StatusServiceUnavailable {
			t.Fatalf("during the hold-off: %d, want 503", status)
		}
	}
	if n := g.sim.CallCount(ticketPath); n != 2 {
		t.Errorf("the hold-off let %d getticket calls through, want none beyond the 2", n)
	}
}

func TestJSSDKHelperIsServedUnderThePathPrefix(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "path_prefix /auth"})
	resp, body := newBrowser("").get(t, g.URL+"/auth/jssdk.js")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(body, "wechatJSSDK") {
		t.Fatalf("/auth/jssdk.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, body = newBrowser("").get(t, g.URL+"/auth/jssdk?url="+url.QueryEscape(g.URL+"/p"))
	var c wxConfig
	decodeJSON(t, body, &c)
	if resp.StatusCode != 200 || c.Signature != wantSignature(g.sim.JSAPITicket(testAppID), c, g.URL+"/p") {
		t.Fatalf("/auth/jssdk: %d %s", resp.StatusCode, body)
	}
}
