package cli

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The demo's 员工登录 tab: a desktop browser opening /staff scans WeCom's QR
// code as zhangsan and lands on the staff page with what the gateway says
// of them; the WeChat tab is untouched by it, and a member outside the
// app's visible range cannot scan.
func TestWechatDemoStaffTabSignsAWeComMemberInByQRCode(t *testing.T) {
	d := startDemo(t)
	desk := newDemoDesktop()
	if p := desk.Get(t, d.urls.Site+"/logged-out"); !strings.Contains(p.Body, `id="tab-staff" href="/staff"`) {
		t.Fatalf("the demo's pages have no 员工登录 tab:\n%s", p.Body)
	}
	qr := desk.Get(t, d.urls.Site+"/staff")
	if qr.URL.Path != "/wwlogin/sso/login" || qr.URL.Query().Get("appid") != wechattest.DefaultCorpID || qr.ScanURL() == "" {
		t.Fatalf("a desktop browser opening /staff ended on %s (%d), want WeCom's QR login page:\n%s", qr.URL, qr.Status, qr.Body)
	}
	scan, _ := url.Parse(qr.ScanURL())
	uuid := scan.Query().Get("uuid")

	// lisi (销售部) is outside the app's visible range: WeCom's phone refuses.
	if p := wechattest.NewWeComBrowser("lisi").Get(t, qr.ScanURL()); !strings.Contains(p.Body, "无权限") {
		t.Errorf("lisi scanning: %d, want 无权限:\n%s", p.Status, p.Body)
	}
	phone := wechattest.NewWeComBrowser("zhangsan")
	phone.Consent = "allow"
	if p := phone.Get(t, qr.ScanURL()); !strings.Contains(p.Body, "已确认登录") {
		t.Fatalf("zhangsan confirming on the phone:\n%s", p.Body)
	}
	staff := desk.Get(t, d.urls.Mock+"/wwlogin/sso/poll?uuid="+uuid)
	if staff.URL.String() != d.urls.Site+"/staff" || staff.Status != http.StatusOK || !strings.Contains(staff.Body, `id="staff-greeting">张三，您好<`) ||
		!strings.Contains(staff.Body, `id="userid">zhangsan<`) || !strings.Contains(staff.Body, `id="departments">3<`) ||
		!strings.Contains(staff.Body, `id="corp">`+wechattest.DefaultCorpID+`<`) {
		t.Fatalf("after the scan the desktop is on %s (%d), want the staff page as 张三:\n%s", staff.URL, staff.Status, staff.Body)
	}
	// The WeChat tab still signs in through WeChat: the staff session is not a WeChat one.
	if wx := desk.Get(t, d.urls.Site+"/"); wx.URL.Path != "/connect/qrconnect" {
		t.Errorf("the WeChat tab after the staff sign-in: %s (%d), want WeChat's QR code", wx.URL, wx.Status)
	}
	// Personal WeChat on the staff tab is told to open WeCom.
	if p := wechattest.NewBrowser("alice").Get(t, d.urls.Site+"/staff"); p.Status != http.StatusForbidden || !strings.Contains(p.Body, "企业微信") {
		t.Errorf("personal WeChat on /staff: %d %.300s", p.Status, p.Body)
	}
	if !strings.Contains(d.out.String(), "员工登录") || !strings.Contains(d.out.String(), "wecom "+wechattest.DefaultCorpID) {
		t.Errorf("the banner says nothing of the staff tab or its Caddyfile:\n%s", d.out.String())
	}
}
