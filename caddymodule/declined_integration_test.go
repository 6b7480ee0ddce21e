package wechatauth_test

import (
	"strings"
	"testing"
)

// Signed in silently, a visitor who presses 完善资料 and then 拒绝 keeps the
// base session: a short note and the way back to the page, not the page
// that asks to authorize again.
func TestDeclinedOptionalConsentKeepsTheBaseSession(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	b := newBrowser("bob")
	g.login(t, b, "/orders")
	session := b.cookie(g.URL, "wechat_session")
	b.Consent = "deny"
	resp, body := b.get(t, g.URL+"/wechat_auth/login?scope=snsapi_userinfo&rd=%2Forders")
	if resp.StatusCode != 200 || !strings.Contains(body, "你仍以当前的微信身份登录") || !strings.Contains(body, `href="/orders"`) ||
		!strings.Contains(body, `content="3;url=/orders"`) || strings.Contains(body, "重新授权") {
		t.Fatalf("declined with a base session: %d %.600s", resp.StatusCode, body)
	}
	if got := b.cookie(g.URL, "wechat_session"); got != session {
		t.Fatalf("the base session changed or ended: %q", got)
	}
	before := g.up.count()
	if resp, _ := b.get(t, g.URL+"/orders"); resp.StatusCode != 200 || g.up.count() != before+1 || g.up.last(t).Header.Get("X-Wechat-Scope") != "snsapi_base" {
		t.Fatalf("back on the page: %d, want the upstream with the base session", resp.StatusCode)
	}

	// Without a session, declining is still the page that asks again.
	c := newBrowser("carol")
	c.Consent = "deny"
	if _, body := c.get(t, g.URL+"/wechat_auth/login?scope=snsapi_userinfo&rd=%2Forders"); !strings.Contains(body, "重新授权") {
		t.Fatalf("declined without a session: %.400s", body)
	}
}
