package cli

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// demoApp is the upstream of `caddy wechat-demo`: the phone-binding page of
// examples/php written in Go and kept in memory. Like every app behind
// wechat_auth it never talks OAuth: it trusts the identity headers because it
// listens on a random loopback port that only the gateway uses. A real app must
// likewise be unreachable except through the gateway.
//
// Bindings belong to a person (phoneBook.person): the unionid when the gateway
// forwards one, so a number bound on a computer (desktop_login) is found in
// WeChat and the other way round.
type demoApp struct {
	mockURL string // the simulator, whose user page the logged-out page links to
	book    phoneBook
}

// mainlandMobile is an 11-digit mainland China mobile number.
var mainlandMobile = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// phoneSeparators are what people type inside a number: 138 0013 8000, 138-0013-8000.
var phoneSeparators = strings.NewReplacer(" ", "", "-", "", "\u3000", "")

var errPhoneTaken = errors.New("phone bound to another person")

// appKey is the visitor's openid prefixed with its app (X-WeChat-Source):
// "mp:…" or "web:…", so the openids of two apps never meet.
func (p demoPage) appKey() string {
	if p.Source == "web" {
		return "web:" + p.OpenID
	}
	return "mp:" + p.OpenID
}

// phoneBook binds one phone per person and one person per phone. A person
// is "unionid:U" once the gateway has forwarded a unionid for them (one
// person across the Official Account and the website app of
// desktop_login), else their appKey; like examples/php's visitor_person.
type phoneBook struct {
	mu       sync.Mutex
	byPerson map[string]string
	byPhone  map[string]string
	// links remembers appKey → "unionid:U" once a request carried both: a
	// silent snsapi_base sign-in has no unionid, and the app still knows
	// whose openid it is, as a users table with both columns would.
	links map[string]string
}

// person is p's key. A request carrying a unionid links p's openid to it and
// moves a number bound under the openid before the unionid was known, unless
// the unionid has a number of its own. The app links the two only when one
// request carries both, that is when the gateway vouches for both.
func (b *phoneBook) person(p demoPage) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	from := p.appKey()
	if p.UnionID == "" {
		if to, ok := b.links[from]; ok {
			return to
		}
		return from
	}
	to := "unionid:" + p.UnionID
	if b.links == nil {
		b.links = map[string]string{}
	}
	b.links[from] = to
	if phone, ok := b.byPerson[from]; ok {
		if _, taken := b.byPerson[to]; !taken {
			delete(b.byPerson, from)
			b.byPerson[to] = phone
			b.byPhone[phone] = to
		}
	}
	return to
}

// bind gives person the phone, replacing its previous one; a phone that
// belongs to another person is refused with errPhoneTaken.
func (b *phoneBook) bind(person, phone string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if owner, ok := b.byPhone[phone]; ok && owner != person {
		return errPhoneTaken
	}
	if b.byPerson == nil {
		b.byPerson, b.byPhone = map[string]string{}, map[string]string{}
	}
	if old, ok := b.byPerson[person]; ok {
		delete(b.byPhone, old) // rebinding frees the old number for others
	}
	b.byPerson[person] = phone
	b.byPhone[phone] = person
	return nil
}

// owner is the person a phone is bound to, "" for none.
func (b *phoneBook) owner(phone string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byPhone[phone]
}

// mayBeOwnUnionID: a number bound by unionid (on the computer, or after
// 完善资料) may be this visitor's own when their sign-in carried no unionid
// yet: sharing the profile tells.
func mayBeOwnUnionID(owner, person string) bool {
	return strings.HasPrefix(owner, "unionid:") && !strings.HasPrefix(person, "unionid:")
}

func (b *phoneBook) phone(person string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byPerson[person]
}

// demoPage is what the page template shows.
type demoPage struct {
	Nickname string
	Avatar   string
	OpenID   string
	UnionID  string // the same for one person in WeChat and on a computer
	Source   string // mp (signed in inside WeChat) or web (scanned on a computer)
	Person   string // the key the number is bound under (phoneBook.person)
	Scope    string // snsapi_base until the visitor asks to share their profile
	Phone    string // bound phone
	Entered  string // what the visitor typed, shown again after an error
	Bound    bool   // just bound: say so
	Title    string // error title; empty when all is well
	Error    string // what went wrong
	Fix      string // what to do about it
}

func (a *demoApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/logged-out":
		renderDemo(w, http.StatusOK, "bye", a.mockURL)
	case r.URL.Path == "/staff" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		serveStaff(w, r)
	case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		a.serveIndex(w, r)
	case r.URL.Path == "/bind" && r.Method == http.MethodPost:
		a.serveBind(w, r)
	case r.URL.Path == "/bind":
		// A login that started from a form post comes back as a GET: show the form.
		http.Redirect(w, r, "/", http.StatusSeeOther)
	default:
		renderDemo(w, http.StatusNotFound, "page", demoPage{Title: "页面不存在",
			Error: "没有这个页面。", Fix: "请返回首页。"})
	}
}

// identity reads what wechat_auth forwarded, or answers an error page.
func identity(w http.ResponseWriter, r *http.Request) (demoPage, bool) {
	p := demoPage{OpenID: r.Header.Get("X-WeChat-OpenID"), Avatar: r.Header.Get("X-WeChat-Avatar"),
		UnionID: r.Header.Get("X-WeChat-UnionID"), Source: r.Header.Get("X-WeChat-Source"),
		Scope: r.Header.Get("X-WeChat-Scope")}
	if p.OpenID == "" {
		renderDemo(w, http.StatusUnauthorized, "page", demoPage{Title: "没有收到微信身份",
			Error: "请求里没有 X-WeChat-OpenID：它没有经过 wechat_auth 网关。",
			Fix:   "请打开 caddy wechat-demo 打印的网址，不要直接访问这个端口。"})
		return p, false
	}
	// The header is percent-encoded UTF-8 so that 李四 🐟 survives HTTP.
	p.Nickname = r.Header.Get("X-WeChat-Nickname")
	if n, err := url.PathUnescape(p.Nickname); err == nil {
		p.Nickname = n
	}
	return p, true
}

// visitor is identity plus the person the binding is stored under.
func (a *demoApp) visitor(w http.ResponseWriter, r *http.Request) (demoPage, bool) {
	p, ok := identity(w, r)
	if ok {
		p.Person = a.book.person(p)
	}
	return p, ok
}

func (a *demoApp) serveIndex(w http.ResponseWriter, r *http.Request) {
	p, ok := a.visitor(w, r)
	if !ok {
		return
	}
	p.Phone = a.book.phone(p.Person)
	p.Bound = r.URL.Query().Get("bound") == "1" && p.Phone != ""
	renderDemo(w, http.StatusOK, "page", p)
}

func (a *demoApp) serveBind(w http.ResponseWriter, r *http.Request) {
	// The session cookie is SameSite=Lax, so a cross-site post arrives without
	// it; refusing a foreign Origin as well costs nothing.
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			renderDemo(w, http.StatusForbidden, "page", demoPage{Title: "请求来源不正确",
				Error: "这个绑定请求不是从本站页面提交的。", Fix: "请回到本站的“绑定手机号”页面重新提交。"})
			return
		}
	}
	p, ok := a.visitor(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	p.Entered = strings.TrimSpace(r.PostFormValue("phone"))
	phone := phoneSeparators.Replace(p.Entered)
	p.Phone = a.book.phone(p.Person)
	if !mainlandMobile.MatchString(phone) {
		p.Title = "手机号格式不正确"
		p.Error = "请输入 11 位中国大陆手机号，以 1 开头，第二位是 3 到 9，例如 13800138000。"
		p.Fix = "检查号码后重新提交（不要加 +86 或其他符号）。"
		renderDemo(w, http.StatusBadRequest, "page", p)
		return
	}
	if err := a.book.bind(p.Person, phone); err != nil {
		p.Title = "该手机号已被其他微信账号绑定"
		p.Error = "号码 " + phone + " 已经绑定在另一个微信账号上，一个号码只能绑定一个微信账号。"
		p.Fix = "如果这是您本人的号码，请用原来的微信账号进入本页换绑其他号码，再回来绑定。"
		if mayBeOwnUnionID(a.book.owner(phone), p.Person) {
			p.Title = "这个号码可能是您在电脑上绑定的"
			p.Error = "号码 " + phone + " 已经绑定在一个微信用户名下，可能就是您：静默登录时我们还不知道您在电脑上扫码登录的是不是同一个人。"
			p.Fix = "请先点本页的“完善资料：使用微信头像昵称”并允许授权，我们就能认出是同一个人并显示这个号码；如果不是您的号码，请换一个号码绑定。"
		}
		renderDemo(w, http.StatusConflict, "page", p)
		return
	}
	// Post/redirect/get: a reload does not post again.
	http.Redirect(w, r, "/?bound=1", http.StatusSeeOther)
}

func renderDemo(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = demoTemplates.ExecuteTemplate(w, name, data)
}

// demoTemplates escape everything (html/template): nicknames are user input.
var demoTemplates = template.Must(template.New("").Parse(`
{{define "head"}}<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>绑定手机号 · wechat_auth demo</title>
<style>
body{margin:0;font-family:-apple-system,"PingFang SC","Helvetica Neue",sans-serif;background:#ededed;color:#111}
main{background:#fff;margin:0 auto;max-width:480px;min-height:100vh;padding:32px 24px;box-sizing:border-box}
.who{display:flex;align-items:center;gap:12px}.who img{width:56px;height:56px;border-radius:8px}
.nick{font-size:20px}.openid{color:#888;font-size:12px;word-break:break-all}
.ok{color:#07c160}.err{background:#fff2f0;border-left:4px solid #fa5151;padding:8px 12px}
input{font-size:17px;padding:8px;width:100%;box-sizing:border-box;margin:8px 0}
button{font-size:17px;padding:10px;width:100%;border:0;border-radius:4px;background:#07c160;color:#fff}
.btn{display:block;text-align:center;font-size:15px;padding:8px;border:1px solid #07c160;border-radius:4px;color:#07c160;text-decoration:none}
.foot{margin-top:32px;font-size:14px}.jssdk{color:#888;font-size:13px}
.tabs{display:flex;gap:16px;margin:-16px 0 24px;font-size:15px}.tabs a{color:#576b95;text-decoration:none}
</style>
</head>
<body><main><nav class="tabs"><a id="tab-wechat" href="/">微信登录</a><a id="tab-staff" href="/staff">员工登录</a></nav>{{end}}

{{define "foot"}}<p class="foot"><a id="logout" href="/wechat_auth/logout?rd=/logged-out">退出登录</a></p>
</main></body></html>{{end}}

{{define "page"}}{{template "head"}}
{{if .OpenID}}<div class="who">{{if .Avatar}}<img src="{{.Avatar}}" alt="头像">{{end}}
<div><div class="nick" id="nickname">{{.Nickname}}</div>
<div class="openid">{{if eq .Source "web"}}<span id="source">电脑扫码登录（网站应用）</span>{{else}}<span id="source">微信内登录（公众号）</span>{{end}}</div>
<div class="openid">openid <span id="openid">{{.OpenID}}</span></div>
{{if .UnionID}}<div class="openid">unionid <span id="unionid">{{.UnionID}}</span></div>{{end}}</div></div>
{{if and (ne .Source "web") (ne .Scope "snsapi_userinfo")}}{{/* Compliant consent: the site signs in silently (snsapi_base); the
visitor asks for the profile scope by pressing this, so WeChat shows its consent page, not the snapshot page. */}}
<p><a id="profile" class="btn" href="/wechat_auth/login?scope=snsapi_userinfo&amp;rd=/">完善资料：使用微信头像昵称</a></p>
{{if not .UnionID}}<p class="jssdk" id="link-hint">在电脑上扫码绑定过手机号？点“完善资料”：静默登录拿不到 UnionID，授权后才有；同一个人在电脑和微信里的 UnionID 相同，绑定就能找到。</p>{{end}}{{end}}{{end}}
{{if .Title}}<div class="err" id="error"><p><b>{{.Title}}</b></p><p>{{.Error}}</p><p>{{.Fix}}</p></div>{{end}}
{{if .OpenID}}
{{if .Phone}}<p>已绑定手机号：<b id="phone">{{.Phone}}</b>{{if .Bound}} <span class="ok" id="bound">绑定成功</span>{{end}}</p>
{{else}}<p>还没有绑定手机号。</p>{{end}}
<form method="post" action="/bind">
<label for="phone-input">{{if .Phone}}换绑手机号{{else}}绑定手机号{{end}}</label>
<input id="phone-input" name="phone" type="tel" inputmode="numeric" maxlength="20" placeholder="13800138000" value="{{.Entered}}" required>
<button id="bind" type="submit">绑定</button>
</form>
{{/* The gateway signs wx.config for its pages: the page loads the helper and names
the JS-SDK APIs it uses. Inside WeChat the page would load jweixin-1.6.0.js first;
the demo runs offline, so it shows the signature it got instead. */}}
<p class="jssdk">微信 JS-SDK：<span id="jssdk">正在获取签名…</span></p>
<script src="/wechat_auth/jssdk.js"></script>
<script>
wechatJSSDK.config(['updateAppMessageShareData', 'updateTimelineShareData']).then(function (wx) {
  var el = document.getElementById('jssdk');
  el.textContent = '已就绪';
  el.className = 'signed';
  wx.updateAppMessageShareData({title: '绑定手机号', desc: 'wechat_auth demo', link: location.href.split('#')[0], imgUrl: ''});
}, function (err) {
  var el = document.getElementById('jssdk');
  if (err.code === 'no_jweixin') {
    el.textContent = '已签名 ' + err.config.signature.slice(0, 8) + '…（在微信中加载 jweixin 后调用 wx.config）';
    el.className = 'signed';
  } else {
    el.textContent = '签名失败：' + err.message;
  }
});
</script>
{{end}}
{{template "foot"}}{{end}}

{{define "bye"}}{{template "head"}}
<h2 id="bye">已退出登录</h2>
<p>网关的会话已清除。再次打开 <a id="again" href="/">绑定手机号</a> 会重新经过微信授权。</p>
<p>模拟器记得你选过的测试用户和已同意的授权，所以会直接回来；要换一个用户，先在<a id="switch" href="{{.}}/mock/users">模拟器的用户页</a>选择或退出。</p>
</main></body></html>{{end}}
`))
