package cli

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// The demo's 员工登录 tab: /staff is behind a second wechat_auth, WeCom's
// (wecom), so a member of the simulator's corp signs in there — by QR code
// on a computer, silently inside WeCom — and the page shows what the
// gateway says of them in the X-WeCom-* headers.

// staffPage is what the staff template shows.
type staffPage struct {
	UserID, Name, Corp string
	Departments        []string
}

func serveStaff(w http.ResponseWriter, r *http.Request) {
	p := staffPage{UserID: r.Header.Get("X-WeCom-UserID"), Corp: r.Header.Get("X-WeCom-CorpID")}
	if p.UserID == "" {
		renderDemo(w, http.StatusUnauthorized, "page", demoPage{Title: "没有收到企业微信身份",
			Error: "请求里没有 X-WeCom-UserID：它没有经过 wechat_auth 的企业微信登录。",
			Fix:   "请打开 caddy wechat-demo 打印的网址，点“员工登录”，不要直接访问这个端口。"})
		return
	}
	// Percent-encoded UTF-8, as X-WeChat-Nickname.
	p.Name, _ = url.PathUnescape(r.Header.Get("X-WeCom-Name"))
	if d := r.Header.Get("X-WeCom-Departments"); d != "" {
		p.Departments = strings.Split(d, ",")
	}
	renderDemo(w, http.StatusOK, "staff", p)
}

var _ = template.Must(demoTemplates.New("staff").Parse(`{{template "head"}}
<h2 id="staff-greeting">{{if .Name}}{{.Name}}{{else}}{{.UserID}}{{end}}，您好</h2>
<p class="openid">企业微信成员 <span id="userid">{{.UserID}}</span> · 企业 <span id="corp">{{.Corp}}</span></p>
<p>部门 <span id="departments">{{range $i, $d := .Departments}}{{if $i}},{{end}}{{$d}}{{end}}</span></p>
<p class="jssdk">这一页在第二个 wechat_auth 后面（wecom）：只有模拟企业的成员、且在应用可见范围内的人能进来。</p>
<p class="foot"><a id="staff-logout" href="/staff/wechat_auth/logout?rd=/logged-out">退出员工登录</a></p>
</main></body></html>`))
