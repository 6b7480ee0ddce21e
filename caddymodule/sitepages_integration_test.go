package wechatauth_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
)

// A site behind the gateway names itself and brings its own page: a
// visitor who declines consent reads the site's text, other pages carry its
// name, and no page tells a story of phone numbers.
func TestASitesOwnPageTextsShow(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "declined.html")
	if err := os.WriteFile(file, []byte(`{{define "body"}}<h1>报表系统需要你的微信身份</h1><a href="{{.ActionURL}}">再试一次</a> {{.SiteName}}{{end}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, gatewayConfig{settings: "scope snsapi_userinfo\n\t\tsite_name 报表系统\n\t\tpage declined " + file})
	b := newBrowser("bob")
	b.Consent = "deny"
	_, body := b.get(t, g.URL+"/reports")
	if !strings.Contains(body, "报表系统需要你的微信身份") || !strings.Contains(body, "再试一次") || strings.Contains(body, "你取消了微信授权") {
		t.Fatalf("declined: the site's own page does not show: %.500s", body)
	}
	// The snapshot page keeps the default text, with the site's name, and
	// no page speaks of phone numbers.
	snap := newBrowser("snap")
	_, body = snap.get(t, g.URL+"/reports")
	if !strings.Contains(body, "快照") || strings.Contains(body, "手机号") {
		t.Fatalf("snapshot page: %.500s", body)
	}
	desktop := newBrowser("bob")
	desktop.UserAgent = desktopUA
	_, body = desktop.get(t, g.URL+"/reports")
	if !strings.Contains(body, "“报表系统”需要使用你的微信身份") {
		t.Fatalf("open-in-WeChat page without the site's name: %.500s", body)
	}
	// api_base and open_base are the simulator on 127.0.0.1: the page tells
	// the developer how to sign in from a desktop browser.
	if !strings.Contains(body, `id="dev-loopback"`) || !strings.Contains(body, "non_wechat login") {
		t.Errorf("open-in-WeChat page against a loopback simulator lacks the developer's note: %.800s", body)
	}
}

// A page setting Caddy cannot use stops Caddy at start, naming the page and
// the fix.
func TestSitePagesAreValidatedAtStart(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.html")
	_ = os.WriteFile(broken, []byte(`{{define "body"}}{{.Nope}}{{end}}`), 0o600)
	bodyless := filepath.Join(dir, "bodyless.html")
	_ = os.WriteFile(bodyless, []byte(`<h1>hi</h1>`), 0o600)
	for _, tc := range []struct{ setting, want string }{
		{"page welcome " + broken, `page "welcome" is not a page the gateway shows: use one of badhost, codefailed, declined, declinedkept, denied, flowlost, followerunknown, formexpired, handbackexpired, handbackinvalid, handbackspent, internal, misconfigured, notauthorized, notfound, openinwechat, openinwecom, relayrefused, relayrequest, snapshot, subscribe, unkeyedsite, wechatdown, wecomcustomer, wecomdeclined, wecominactive, wecominvisible, wecomlinkedcorp, wecommisconfigured, wecomnotallowed, wecomnotmember`},
		{"page declined " + filepath.Join(dir, "missing.html"), "page declined: open " + filepath.Join(dir, "missing.html")},
		{"page declined " + broken, "page declined: " + broken + " fails to render"},
		{"page declined " + bodyless, `must define the page's body`},
		{"site_name \"" + strings.Repeat("名", 41) + "\"", "site_name"},
	} {
		cfg := fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:%d {
	wechat_auth {
		app_id %s
		app_secret {env.TEST_WECHAT_SECRET}
		%s
	}
}`, testnet.Port(t), testAppID, tc.setting)
		err := tryCaddyfile(t, cfg)
		if err == nil {
			_ = caddy.Stop()
			t.Errorf("%s: Caddy started", tc.setting)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q lacks %q", tc.setting, err, tc.want)
		}
	}
}
