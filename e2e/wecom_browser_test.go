//go:build linux

package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// A member at their desk: desktop Chromium opens examples/wecom (the built
// Caddy, php-fpm, the simulator as WeCom), lands on WeCom's QR login page,
// zhangsan's phone (WeCom's User-Agent, its own cookies) scans it and
// confirms, and the computer's page goes on by itself to the internal page,
// where PHP shows who the gateway says signed in.
func TestBrowserWeComMemberSignsInOnTheDesktopByScanningTheQRCode(t *testing.T) {
	chromium, deadline := needChromium(t)
	site, sim := startWeComExample(t)

	browser := newChromium(t, chromium, deadline)
	desk := browser.otherDevice(wechattest.DesktopUA, 1280, 800)
	phone := browser.otherDevice(wechattest.WeComIPhoneUA, 390, 844)

	// The computer: not WeCom, not WeChat, not a phone: WeCom's QR login
	// page for the corp's app, coming back to the gateway's callback.
	desk.step("d1-qrcode", chromedp.Navigate(site+"/"),
		chromedp.WaitVisible(chromedp.CSS("#scan")),
		desk.locationHasPrefix(sim.URL+"/wwlogin/sso/login?login_type=CorpApp&appid="+wechattest.DefaultCorpID+"&agentid=1000002&redirect_uri="),
		desk.bodyContains("请使用企业微信扫描二维码登录"))
	scanURL := desk.eval(`document.getElementById("scan").href`)
	if !strings.HasPrefix(scanURL, sim.URL+"/mock/wecom/scan?uuid=") {
		t.Fatalf("the QR code encodes %q, want the simulator's scan page", scanURL)
	}

	// The phone scans as zhangsan; the computer sees the scan, then the
	// confirmation, and follows WeCom's redirect to the site.
	phone.step("p1-scan", chromedp.Navigate(scanURL),
		chromedp.WaitVisible(chromedp.CSS(`button[name="user"][value="zhangsan"]`)),
		chromedp.Click(chromedp.CSS(`button[name="user"][value="zhangsan"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[name="action"][value="allow"]`)),
		phone.bodyContains("张三，确认登录"))
	desk.step("d2-scanned", desk.waitBodyContains("扫描成功：zhangsan"))
	phone.step("p2-confirmed", chromedp.Click(chromedp.CSS(`button[name="action"][value="allow"]`)),
		phone.waitBodyContains("已确认登录"))
	desk.step("d3-signed-in", chromedp.WaitVisible(chromedp.CSS("#greeting")),
		desk.locationIs(site+"/"),
		desk.textIs("#greeting", "张三，您好"),
		desk.textIs("#userid", "zhangsan"),
		desk.textIs("#corp", wechattest.DefaultCorpID),
		desk.textIs("#departments", "3"))

	// Signed in: the page again is served from the session, not WeCom.
	desk.documents.reset()
	desk.step("d4-session", chromedp.Navigate(site+"/"),
		chromedp.WaitVisible(chromedp.CSS("#greeting")),
		desk.locationIs(site+"/"),
		desk.textIs("#userid", "zhangsan"))
	if desk.documents.any(sim.URL) {
		t.Errorf("a signed-in reload went through WeCom again: %v", desk.documents.list())
	}
}
