//go:build linux

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// One person, two devices, one Chromium: bob's computer (a desktop
// User-Agent, its own cookies) signs in to the demo by scan-to-login
// (desktop_login) and binds a number; bob's phone (WeChat's User-Agent,
// other cookies) scans the QR code, then opens the demo inside WeChat and,
// once bob shares his profile, finds the same number by unionid.

func TestBrowserDesktopScanLoginBindsAndBobInWeChatFindsTheSameBinding(t *testing.T) {
	chromium, deadline := needChromium(t)
	_, site, mock := startDemo(t)
	phone := newChromium(t, chromium, deadline)
	desk := phone.otherDevice(wechattest.DesktopUA, 1280, 800)

	// The computer: no session, not WeChat, so WeChat's login QR code.
	desk.step("d1-qrcode", chromedp.Navigate(site+"/"),
		chromedp.WaitVisible(chromedp.CSS("#scan")),
		desk.locationHasPrefix(mock+"/connect/qrconnect?appid="),
		desk.bodyContains("请使用微信扫描二维码登录"))
	scanURL := desk.eval(`document.getElementById("scan").href`)
	if !strings.HasPrefix(scanURL, mock+"/connect/confirm?uuid=") {
		t.Fatalf("the QR code encodes %q, want the simulator's scan page", scanURL)
	}

	// The phone scans as bob; the computer's page sees the scan, then the
	// confirmation, and goes on by itself (its meta refresh polls).
	phone.step("p1-scan", chromedp.Navigate(scanURL),
		chromedp.WaitVisible(chromedp.CSS(`button[name="user"][value="bob"]`)),
		chromedp.Click(chromedp.CSS(`button[name="user"][value="bob"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[name="action"][value="allow"]`)),
		phone.bodyContains("李四 🐟"))
	desk.step("d2-scanned", desk.waitBodyContains("扫描成功：李四 🐟"))
	phone.step("p2-confirmed", chromedp.Click(chromedp.CSS(`button[name="action"][value="allow"]`)),
		phone.waitBodyContains("已确认登录"))
	desk.step("d3-signed-in", chromedp.WaitVisible(chromedp.CSS("#nickname")),
		desk.locationIs(site+"/"),
		desk.textIs("#nickname", "李四 🐟"),
		desk.textIs("#source", "电脑扫码登录（网站应用）"),
		chromedp.WaitNotPresent(chromedp.CSS("#profile")),
		desk.avatarLoaded())
	union := desk.eval(`document.getElementById("unionid").textContent`)
	webOpenID := desk.eval(`document.getElementById("openid").textContent`)
	if union == "" {
		t.Fatal("the computer's page shows no unionid")
	}
	desk.step("d4-bound", chromedp.SendKeys(chromedp.CSS("#phone-input"), "13800138000"),
		chromedp.Click(chromedp.CSS("#bind")),
		chromedp.WaitVisible(chromedp.CSS("#bound")),
		desk.textIs("#phone", "13800138000"))

	// The phone inside WeChat: it scanned as bob, so no picker; signed in
	// silently with the Official Account's openid and, without consent, no
	// unionid yet: no number, and the page says how to find it.
	// The page is checked without its fragment: on this straight path
	// (page → 302 authorize…#wechat_redirect → 302 callback → 302 page)
	// Chromium carries #wechat_redirect across the redirects that have no
	// fragment, as the Fetch standard says. WeChat's client handles that
	// marker itself (callback URLs reported from it keep the starting page's
	// fragment, never #wechat_redirect), which a simulator's 302 cannot do.
	phone.documents.reset()
	phone.step("p3-in-wechat", chromedp.Navigate(site+"/"),
		chromedp.WaitVisible(chromedp.CSS("#link-hint")),
		phone.locationIs(site+"/", "wechat_redirect"),
		phone.textIs("#source", "微信内登录（公众号）"),
		chromedp.WaitNotPresent(chromedp.CSS("#phone")))
	if phone.documents.any(mock + "/mock/users") {
		t.Errorf("the phone that scanned as bob was asked who it is: %v", phone.documents.list())
	}
	if mpOpenID := phone.eval(`document.getElementById("openid").textContent`); mpOpenID == webOpenID {
		t.Errorf("the Official Account and the website app gave bob one openid %s", mpOpenID)
	}
	// 完善资料 → WeChat's consent page → 允许: the unionid, and the number.
	phone.step("p4-consent", chromedp.Click(chromedp.CSS("#profile")),
		chromedp.WaitVisible(chromedp.CSS(`button[name="action"][value="allow"]`)),
		phone.locationHasPrefix(mock+"/connect/oauth2/authorize?"))
	phone.step("p5-same-binding", chromedp.Click(chromedp.CSS(`button[name="action"][value="allow"]`)),
		chromedp.WaitVisible(chromedp.CSS("#phone")),
		phone.locationIs(site+"/"),
		phone.textIs("#phone", "13800138000"),
		phone.textIs("#unionid", union),
		phone.textIs("#nickname", "李四 🐟"))
}

// otherDevice opens a tab in a new browser context of the same Chromium: its
// own cookies, as another device would have, sending ua at width×height.
func (c *chromium) otherDevice(ua string, width, height int64) *chromium {
	c.t.Helper()
	ctx, cancel := chromedp.NewContext(c.ctx, chromedp.WithNewBrowserContext())
	c.t.Cleanup(cancel)
	d := &chromium{t: c.t, ctx: ctx, documents: &documentLog{}}
	c.t.Cleanup(d.saveShotsIfFailed)
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua})
		return err
	}), chromedp.EmulateViewport(width, height))
	if err != nil {
		c.t.Fatalf("opening a second device: %v", err)
	}
	if err := chromedp.Listen(ctx, d.documents.record); err != nil {
		c.t.Fatal(err)
	}
	return d
}

// eval returns a JavaScript expression's string value in the tab.
func (c *chromium) eval(js string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		c.t.Fatalf("%s: %v\n%s", js, err, c.where())
	}
	return strings.TrimSpace(v)
}

// waitBodyContains waits until the page shows want. The page may reload
// itself meanwhile (the QR page's meta refresh), so a failed evaluation
// during a navigation is tried again rather than reported.
func (c *chromium) waitBodyContains(want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		last := ""
		for {
			text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			if err == nil && strings.Contains(text, want) {
				return nil
			}
			if err == nil {
				last = text
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the page never showed %q (last: %.300s): %w", want, last, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}
