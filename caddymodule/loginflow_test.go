package wechatauth_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// loginFlow is one way a visitor signs in: "wechat", the Official Account's
// authorization inside the WeChat client, or "desktop", scan-to-login with
// desktop_login's website app on a desktop browser. The security tests run
// over both,
//
//	for _, f := range loginFlows { t.Run(f.name, func(t *testing.T) { … }) }
//
// so a defence that breaks in either flow fails the same named test.
type loginFlow struct {
	name string
	// desktop: a desktop browser signs in through the website app's
	// qrconnect page, scanned by the phone of browser.phone.
	desktop bool
	// appID is the app whose openid the upstream receives.
	appID string
	// scope is the scope of the sessions this flow issues.
	scope string
	// source is the X-WeChat-Source of those sessions.
	source string
	// ua is the User-Agent of this flow's visitors.
	ua string
	// restartAt is what the Location of a login this flow starts (again)
	// contains: WeChat's page of the flow's app.
	restartAt string
}

var loginFlows = []loginFlow{
	{
		name: "wechat", appID: testAppID, scope: wechat.ScopeBase, source: "mp",
		ua: wechattest.IPhoneUA, restartAt: "/connect/oauth2/authorize?appid=" + testAppID,
	},
	{
		name: "desktop", desktop: true, appID: webAppID, scope: wechat.ScopeLogin, source: "web",
		ua: desktopUA, restartAt: "/connect/qrconnect?appid=" + webAppID,
	},
}

// config is gc for a gateway of this flow. The wechat flow's is gc itself,
// with its Official Account spelled out when gc adds apps to the simulator;
// the desktop flow's is desktopGateway's bound website app, scope
// snsapi_userinfo and desktop_login, then gc's settings and apps.
func (f loginFlow) config(gc gatewayConfig) gatewayConfig {
	if !f.desktop {
		if len(gc.simOpts) > 0 { // the simulator has the default app only without apps of its own
			gc.simOpts = append([]wechattest.Option{wechattest.WithApp(testAppID, wechattest.DefaultAppSecret)}, gc.simOpts...)
		}
		return gc
	}
	if gc.sim != nil {
		panic("loginFlow desktop builds its own simulator: add apps with gatewayConfig.simOpts")
	}
	gc.settings = desktopSettings + "\n\t\t" + gc.settings
	gc.simOpts = append(desktopApps(true), gc.simOpts...)
	return gc
}

// start runs a gateway of this flow.
func (f loginFlow) start(t *testing.T, gc gatewayConfig) *gateway {
	t.Helper()
	return startGateway(t, f.config(gc))
}

// browser is the browser of the test user user in this flow: WeChat's
// in-app browser of user, or a desktop browser whose QR codes user's phone
// scans.
func (f loginFlow) browser(user string) *browser {
	if !f.desktop {
		return newBrowser(user)
	}
	b := newDesktop()
	b.phone = user
	return b
}

// visit opens path on g as the person at b would: in the desktop flow, a
// navigation that ends on the qrconnect page is scanned by b's phone, which
// confirms, and the desktop page polls on. It returns the final response.
func (f loginFlow) visit(t *testing.T, g *gateway, b *browser, path string) (*http.Response, string) {
	t.Helper()
	resp, body := b.get(t, g.URL+path)
	if !f.desktop || resp.Request.URL.Path != "/connect/qrconnect" {
		return resp, body
	}
	scanURL := qrOf(t, path, resp, body)
	scan(t, scanURL, b.phone, "allow")
	return g.poll(t, b, scanURL)
}

// login signs b in at path and fails unless the visit ends at the
// upstream; it returns the request the upstream received.
func (f loginFlow) login(t *testing.T, g *gateway, b *browser, path string) *http.Request {
	t.Helper()
	before := g.up.count()
	resp, body := f.visit(t, g, b, path)
	if resp.StatusCode != http.StatusOK || g.up.count() != before+1 {
		t.Fatalf("%s login via %s ended with %d at %s, want the upstream: %.300s", f.name, path, resp.StatusCode, resp.Request.URL, body)
	}
	return g.up.last(t)
}

// callbackURL starts a login at path and returns the callback URL WeChat
// sends the browser to (with code and state), without visiting it. The
// desktop flow's qrconnect URL carries the callback escaped, so the
// browser stops only at the poll's redirect.
func (f loginFlow) callbackURL(t *testing.T, g *gateway, b *browser, path string) string {
	t.Helper()
	saved := b.StopAt
	b.StopAt = "/wechat_auth/callback"
	defer func() { b.StopAt = saved }()
	resp, body := f.visit(t, g, b, path)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(loc, "/wechat_auth/callback?code=") {
		t.Fatalf("%s login at %s did not reach the callback: %d %q %.200s", f.name, path, resp.StatusCode, loc, body)
	}
	return loc
}
