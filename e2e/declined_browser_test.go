//go:build linux

package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// Signed in silently, bob presses 完善资料 and then 拒绝 on WeChat's consent
// page: he is told in one line that nothing changed and comes back to the
// page still signed in, instead of a page that only offers 重新授权.
func TestBrowserDeclinedProfileConsentReturnsToThePageSignedIn(t *testing.T) {
	chromium, deadline := needChromium(t)
	_, site, mock := startDemo(t)
	c := newChromium(t, chromium, deadline)

	c.step("01-picker", chromedp.Navigate(site+"/"),
		chromedp.WaitVisible(chromedp.CSS(`button[name="user"][value="bob"]`)))
	c.step("02-signed-in-silently", chromedp.Click(chromedp.CSS(`button[name="user"][value="bob"]`)),
		chromedp.WaitVisible(chromedp.CSS("#profile")),
		c.locationIs(site+"/"))
	c.step("03-consent", chromedp.Click(chromedp.CSS("#profile")),
		chromedp.WaitVisible(chromedp.CSS(`button[name="action"][value="deny"]`)),
		c.locationHasPrefix(mock+"/connect/oauth2/authorize?"))
	c.step("04-declined-note", chromedp.Click(chromedp.CSS(`button[name="action"][value="deny"]`)),
		chromedp.WaitVisible(chromedp.CSS("#continue")),
		c.bodyContains("你仍以当前的微信身份登录"))
	c.documents.reset()
	c.step("05-back-signed-in", chromedp.Click(chromedp.CSS("#continue")),
		chromedp.WaitVisible(chromedp.CSS("#profile")),
		c.locationIs(site+"/"),
		c.textIs("#nickname", ""))
	if c.documents.any(mock + "/") {
		t.Fatalf("returning to the page went to WeChat again: %v", c.documents.list())
	}
}
