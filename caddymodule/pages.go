package wechatauth

import (
	"bytes"
	"embed"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/wxgate/caddy-wechat-auth/internal/qrsvg"
	"github.com/wxgate/caddy-wechat-auth/wechat"
)

//go:embed pages/*.html
var pageFiles embed.FS

// pageTemplates holds one parsed template set per page, each with the shared
// layout. Parsing happens once per process; the sets are read-only after.
var pageTemplates = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"error", "declined", "declinedkept", "snapshot", "openinwechat", "subscribe"} {
		m[name] = template.Must(template.ParseFS(pageFiles, "pages/layout.html", "pages/"+name+".html"))
	}
	return m
}()

// page is what every visitor-facing page shows: what happened (Heading,
// Lines) and what to do (the action button).
type page struct {
	Title       string
	Heading     string
	Lines       []string
	ActionURL   string
	ActionLabel string
	Ref         string // a short reference for support, never a secret
	UserInfo    bool
	QR          template.HTML
	QRImage     string // the account's QR code image URL (require_subscribe)
	PageURL     string
	// Refresh, when set, sends the browser there after a few seconds.
	Refresh string
	// SiteName is the site's own name (site_name), "" for none.
	SiteName string
	// DevLoopback: api_base or open_base is on this machine (the
	// simulator), so the open-in-WeChat page tells the developer how to
	// sign in from a desktop browser.
	DevLoopback bool
}

// writePage renders a page with the status. It never fails in a way the
// visitor sees as a stack: a template error falls back to plain text.
func writePage(w http.ResponseWriter, status int, name string, p page) {
	writeTemplate(w, status, pageTemplates[name], p)
}

// writeTemplate renders a page set's layout with p.
func writeTemplate(w http.ResponseWriter, status int, t *template.Template, p page) {
	if p.Title == "" {
		p.Title = p.Heading
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		buf.Reset()
		buf.WriteString(template.HTMLEscapeString(p.Heading))
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// qrSVG renders text as an inline SVG QR code, so the open-in-WeChat page
// needs no image endpoint and no external service.
func qrSVG(text string) template.HTML {
	return template.HTML(qrsvg.SVG(text)) // built from numbers only
}

func (h *Handler) writeOpenInWeChat(w http.ResponseWriter, pageURL string) {
	// 403, not 200: forward-auth callers treat any 2xx as "let them in".
	h.writeSitePage(w, http.StatusForbidden, "openinwechat", page{
		Title:       "请在微信中打开",
		QR:          qrSVG(pageURL),
		PageURL:     pageURL,
		DevLoopback: loopbackURL(h.APIBase) || loopbackURL(h.OpenBase),
	})
}

// writeDeclined answers a visitor who declined consent. One who pressed
// 完善资料 while signed in silently keeps that session: a short note, then
// back to the page, rather than a page that asks to authorize again.
func (h *Handler) writeDeclined(w http.ResponseWriter, r *http.Request, f flowState, retry string) {
	if f.Scope == wechat.ScopeUserInfo && h.identityFrom(r) != nil {
		h.writeSitePage(w, http.StatusOK, "declinedkept", page{Title: "未获取头像和昵称", ActionURL: f.Return, Refresh: f.Return})
		return
	}
	h.writeSitePage(w, http.StatusOK, "declined", page{Title: "未完成授权", UserInfo: f.Scope == wechat.ScopeUserInfo, ActionURL: retry})
}

func writeDenied(w http.ResponseWriter) {
	writePage(w, http.StatusForbidden, "error", page{
		Heading: "请在微信中打开此页面",
		Lines:   []string{"这个页面只能在微信客户端中使用。请把链接发送到微信，在微信中打开。"},
	})
}

func writeBadHost(w http.ResponseWriter) {
	writePage(w, http.StatusBadRequest, "error", page{
		Heading: "无法识别的网址",
		Lines:   []string{"请求中的域名无效，无法完成微信登录。请检查地址栏中的网址是否正确，或从公众号菜单重新打开。"},
	})
}

func writeWeChatDown(w http.ResponseWriter, retryURL string) {
	writePage(w, http.StatusServiceUnavailable, "error", page{
		Heading:     "微信暂时无法响应",
		Lines:       []string{"微信登录服务暂时繁忙或无法连接，你的信息没有丢失。请稍等片刻后点击下方按钮重试。"},
		ActionURL:   retryURL,
		ActionLabel: "重试",
	})
}

func writeInternal(w http.ResponseWriter) {
	writePage(w, http.StatusInternalServerError, "error", page{
		Heading: "登录暂时无法完成",
		Lines:   []string{"服务器内部出现问题，已记录。请稍后重试。"},
	})
}

func writeNotFound(w http.ResponseWriter) {
	writePage(w, http.StatusNotFound, "error", page{
		Heading:   "页面不存在",
		Lines:     []string{"这个登录相关的地址不存在。请返回首页重新打开。"},
		ActionURL: "/", ActionLabel: "返回首页",
	})
}

// loopbackURL reports whether a base URL setting points at this machine.
func loopbackURL(setting string) bool {
	v, err := expand(caddy.NewReplacer(), "", setting)
	if err != nil || v == "" {
		return false
	}
	u, err := url.Parse(v)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
