//go:build linux

package e2e

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// jssdkPage is an app's public page that uses the gateway's JS-SDK helper.
// WeChat's jweixin.js is not reachable from a test, so the page stands in a
// wx object that records what wx.config received and fires ready, the way
// WeChat's does once it has checked the signature; the test then checks
// the signature itself against the simulator's ticket.
const jssdkPage = `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>分享</title>
<script>
window.wx = {
  config: function (cfg) { window.receivedConfig = cfg; setTimeout(function () { window.wxReady && window.wxReady(); }, 0); },
  ready: function (f) { window.wxReady = f; },
  error: function () {}
};
</script>
<script src="/wechat_auth/jssdk.js"></script>
</head><body>
<p id="state">loading</p>
<script>
wechatJSSDK.config(['updateAppMessageShareData', 'scanQRCode']).then(function () {
  document.getElementById('state').textContent = 'ready';
}, function (err) {
  document.getElementById('state').textContent = 'error: ' + err.message;
});
</script>
</body></html>`

func TestBrowserPageGetsAJSSDKSignatureThatVerifiesWithTheSimulatorsTicket(t *testing.T) {
	chromium := needTool(t, "chromium", "chromium", "chromium-browser")
	deadline := time.Now().Add(browserBudget)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d.Add(-2 * time.Second)
	}
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, jssdkPage)
	}))
	t.Cleanup(app.Close)

	// The page is public: no session, no login; only the rest is protected.
	port := testnet.Port(t)
	site := fmt.Sprintf("http://127.0.0.1:%d", port)
	caddyfile := writeFile(t, t.TempDir(), "Caddyfile", fmt.Sprintf(`{
	admin off
	auto_https off
}
%s {
	bind 127.0.0.1
	@protected not path /public/*
	wechat_auth @protected {
		app_id {env.WECHAT_APP_ID}
		app_secret {env.WECHAT_APP_SECRET}
		api_base {env.WECHAT_API_BASE}
		open_base {env.WECHAT_OPEN_BASE}
	}
	reverse_proxy %s
}
`, site, strings.TrimPrefix(app.URL, "http://")))
	startCaddy(t, "gateway", caddyfile, []string{
		"WECHAT_APP_ID=" + wechattest.DefaultAppID,
		"WECHAT_APP_SECRET=" + wechattest.DefaultAppSecret,
		"WECHAT_API_BASE=" + sim.URL,
		"WECHAT_OPEN_BASE=" + sim.URL,
	}, site+"/wechat_auth/jssdk.js")

	c := newChromium(t, chromium, deadline)
	// A Chinese path and query, as a person would type or a menu would hold
	// them, and a hash route that must not be signed.
	opened := site + "/public/商品/详情?名=值&from=menu#/tab?x=1"
	// What the browser's location.href.split('#')[0] is: UTF-8, percent-encoded.
	signed := site + "/public/%E5%95%86%E5%93%81/%E8%AF%A6%E6%83%85?%E5%90%8D=%E5%80%BC&from=menu"
	c.step("01-signed", chromedp.Navigate(opened), c.textIs("#state", "ready"))

	var got struct {
		Config struct {
			Debug     bool     `json:"debug"`
			AppID     string   `json:"appId"`
			Timestamp int64    `json:"timestamp"`
			NonceStr  string   `json:"nonceStr"`
			Signature string   `json:"signature"`
			JSAPIList []string `json:"jsApiList"`
		} `json:"config"`
		Href string `json:"href"`
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({config: window.receivedConfig, href: location.href})`))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if got.Href != signed+"#/tab?x=1" {
		t.Fatalf("the browser's location.href is %q, want %q: the test's idea of the signed URL is wrong", got.Href, signed+"#/tab?x=1")
	}
	ticket := sim.JSAPITicket(wechattest.DefaultAppID)
	if ticket == "" {
		t.Fatal("the simulator issued no jsapi_ticket")
	}
	sum := sha1.Sum([]byte("jsapi_ticket=" + ticket + "&noncestr=" + got.Config.NonceStr +
		"&timestamp=" + strconv.FormatInt(got.Config.Timestamp, 10) + "&url=" + signed))
	if want := hex.EncodeToString(sum[:]); got.Config.Signature != want {
		t.Errorf("wx.config got signature %s, want %s (sha1 over the simulator's ticket and %s)", got.Config.Signature, want, signed)
	}
	if got.Config.AppID != wechattest.DefaultAppID || got.Config.Debug ||
		strings.Join(got.Config.JSAPIList, ",") != "updateAppMessageShareData,scanQRCode" {
		t.Errorf("wx.config got %+v, want the app's id and the page's API list", got.Config)
	}
	if time.Since(time.Unix(got.Config.Timestamp, 0)).Abs() > time.Minute {
		t.Errorf("timestamp %d is not now", got.Config.Timestamp)
	}
	if strings.Contains(raw, ticket) {
		t.Error("the page saw the jsapi_ticket")
	}
}
