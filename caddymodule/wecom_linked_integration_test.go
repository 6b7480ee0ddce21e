package wechatauth_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// Members of a linked corp (互联企业/上下游) end to end: WeCom names them
// CorpId/userid (wechattest.DefaultCorp's 赵六 of wwlinked000000001), in the
// WeCom client and by QR code alike. The gateway refuses them unless their
// corp is allowed (allow_linked_corps) or they are named in full
// (allow_users), and sends upstream their own corp and userid.

const linkedMember = "wwlinked000000001/zhaoliu"

// deskSignIn opens path on a desktop browser, scans the QR code as user on
// WeCom's phone and returns the desktop's answer after the poll.
func deskSignIn(t *testing.T, g *gateway, user, path string) (*http.Response, string) {
	t.Helper()
	desk := newDesktop()
	if resp, body := desk.get(t, g.URL+path); resp.Request.URL.Path != "/wwlogin/sso/login" {
		t.Fatalf("a desktop browser ended at %s (%d), want WeCom's QR login page: %.300s", resp.Request.URL, resp.StatusCode, body)
	}
	uuids := g.sim.WeComLogins()
	if len(uuids) != 1 {
		t.Fatalf("QR codes waiting: %v, want 1", uuids)
	}
	phone := wechattest.NewWeComBrowser(user)
	phone.Consent = "allow"
	if p := phone.Get(t, g.sim.URL+"/mock/wecom/scan?uuid="+uuids[0]); !strings.Contains(p.Body, "已确认登录") {
		t.Fatalf("%s scanning: %d %.300s", user, p.Status, p.Body)
	}
	return desk.get(t, g.sim.URL+"/wwlogin/sso/poll?uuid="+uuids[0])
}

func TestWeComLinkedCorpMembersEnterOnlyWhenTheirCorpIsAllowed(t *testing.T) {
	t.Run("refused by default", func(t *testing.T) {
		g := wecomGateway(t, "allow_departments 2", nil)
		resp, body := newWeComMember(linkedMember).get(t, g.URL+"/orders")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "互联企业") {
			t.Errorf("inside WeCom: %d, want 403 naming 互联企业: %.300s", resp.StatusCode, body)
		}
		resp, body = deskSignIn(t, g, linkedMember, "/orders")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "互联企业") {
			t.Errorf("by QR code: %d, want 403 naming 互联企业: %.300s", resp.StatusCode, body)
		}
		if g.up.count() != 0 {
			t.Fatalf("the upstream was reached %d times", g.up.count())
		}
	})

	t.Run("allow_linked_corps", func(t *testing.T) {
		g := wecomGateway(t, "allow_departments 2\n\t\t\tallow_linked_corps wwlinked000000001", nil)
		check := func(how string, up *http.Request) {
			t.Helper()
			for h, want := range map[string]string{
				"X-Wecom-Corpid": "wwlinked000000001", "X-Wecom-Userid": "zhaoliu", "X-Wechat-Openid": linkedMember,
				"X-Wechat-Source": "wecom",
			} {
				if got := up.Header.Get(h); got != want {
					t.Errorf("%s: upstream %s = %q, want %q", how, h, got, want)
				}
			}
			// Their departments are their own corp's, which this corp's APIs do not describe.
			if d := up.Header.Values("X-Wecom-Departments"); len(d) != 0 {
				t.Errorf("%s: upstream X-WeCom-Departments = %q, want none", how, d)
			}
		}
		b := newWeComMember(linkedMember)
		check("inside WeCom", g.login(t, b, "/orders"))
		resp, body := deskSignIn(t, g, linkedMember, "/report")
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/report" {
			t.Fatalf("by QR code: %d at %s: %.300s", resp.StatusCode, resp.Request.URL, body)
		}
		check("by QR code", g.up.last(t))
		// The forward-auth answer names them too.
		resp, _ = b.get(t, g.URL+"/wechat_auth/auth")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Wecom-Corpid") != "wwlinked000000001" || resp.Header.Get("X-Wecom-Userid") != "zhaoliu" {
			t.Errorf("/auth: %d %v", resp.StatusCode, resp.Header)
		}
	})

	t.Run("named in allow_users, or another corp allowed", func(t *testing.T) {
		g := wecomGateway(t, "allow_users zhangsan wwlinked000000001/ZhaoLiu", nil)
		if up := g.login(t, newWeComMember(linkedMember), "/orders"); up.Header.Get("X-Wecom-Userid") != "zhaoliu" {
			t.Errorf("named in allow_users (another case): upstream %v", up.Header)
		}
		other := wecomGateway(t, "allow_linked_corps wwlinked000000002", nil)
		if resp, body := newWeComMember(linkedMember).get(t, other.URL+"/orders"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "互联企业") {
			t.Errorf("another linked corp allowed: %d: %.300s", resp.StatusCode, body)
		}
	})
}
