package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// printDemo is the demo's banner: where to go, who the test users are, what
// to expect in both flows, and the Caddyfile, which is all a real site needs.
func printDemo(w io.Writer, sim *wechattest.Simulator, urls demoURLs, caddyfile string) {
	fmt.Fprintf(w, `caddy wechat-demo: WeChat web authorization in front of a phone-binding page, all on 127.0.0.1.

  Computer:  open  %s/  in a desktop browser (scan-to-login)
  Phone:     open  %s/  with a WeChat User-Agent (another host name: the computer's session stays behind)

  Test users (the simulator asks which one you are):
`, urls.Site, strings.Replace(urls.Site, "127.0.0.1", "localhost", 1))
	for _, u := range sim.Users() {
		note := ""
		switch {
		case u.Snapshot:
			note = "  snapshot-page user: gets WeChat's 快照页, no identity"
		case u.Subscribed:
			note = "  follows the Official Account"
		}
		fmt.Fprintf(w, "    %-6s %s%s\n", u.Name, u.Nickname, note)
	}
	fmt.Fprintf(w, `
  What to expect:
    On a computer (desktop_login, the website application %[1]s):
    1. The gateway sends you to WeChat's login QR code. No phone needed: the
       link under the code opens the phone's scan page in a new tab. Pick a
       user (e.g. bob) and press 确认登录; the computer's page signs in by itself.
    2. Bind a mainland mobile number such as 13800138000. The page stores it by
       unionid: the same for bob in WeChat and on the computer.
    In WeChat (the Official Account %[2]s, scope snsapi_base):
    3. Be bob's phone: open %[8]s/ (another host name, so the computer's
       session cookie stays behind, as on a separate phone) with a WeChat
       User-Agent (Chrome DevTools → Network conditions → User agent), e.g.
         %[3]s
       The scan page made this browser bob in the simulator, so you are signed
       in silently: openid only, no unionid (WeChat gives none without consent).
    4. Press 完善资料：使用微信头像昵称. Only now does the consent page ask
       (snsapi_userinfo): press 允许. Asking when the visitor acts, never on
       page load, keeps WeChat's snapshot page (快照页) away. Now the gateway has
       bob's unionid, and the number bound on the computer shows.
    5. 退出登录 ends the gateway's session. The simulator remembers your user and
       consent, so signing in again is instant; switch users at %[4]s/mock/users.
    员工登录 (the tab at the top, %[5]s/staff: WeCom, corp %[9]s):
    6. On the computer the gateway sends you to WeCom's QR page; its link opens
       the phone's scan page: pick 张三 (zhangsan, 后端组) and press 确认登录. The
       page shows the member the gateway admitted (X-WeCom-UserID, -Name,
       -Departments). 李四 (lisi, 销售部) is outside the app's visible range:
       WeCom's phone says 无权限. With a WeCom User-Agent (wxwork/…) the sign-in
       is silent instead; personal WeChat is told to open WeCom.

  Parts:
    gateway    %[5]s  (this Caddy: wechat_auth + reverse_proxy)
    simulator  %[4]s  (api_base and open_base point here)
    demo app   %[6]s  (reads X-WeChat-OpenID, -UnionID, -Source, -Nickname, -Avatar; /staff X-WeCom-*)

  The gateway's Caddyfile (secrets come from the environment):

%[7]s
Ctrl-C to stop.
`, demoWebAppID, wechattest.DefaultAppID, wechattest.IPhoneUA, urls.Mock, urls.Site, urls.Upstream, indent(caddyfile, "    "),
		strings.Replace(urls.Site, "127.0.0.1", "localhost", 1), wechattest.DefaultCorpID)
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
