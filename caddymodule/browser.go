package wechatauth

import (
	"net/http"
	"strings"
)

// isWeChat reports whether the request comes from the WeChat client that can
// complete Official Account authorization: its in-app browser on phones and
// desktop. WeCom (企业微信) also says MicroMessenger but is not that client,
// so it is tested first (docs/wechat.md §7).
func isWeChat(r *http.Request) bool {
	ua := r.Header.Get("User-Agent")
	if strings.Contains(ua, "wxwork/") {
		return false
	}
	return strings.Contains(ua, "MicroMessenger/")
}

// isPhone reports whether the browser runs on a phone: "Mobi" in the
// User-Agent, the usual test (iPhone Safari, Android phones' browsers;
// tablets leave it out). Outside WeChat a phone cannot use desktop_login:
// the website app's QR code would be on the screen of the phone that has to
// scan it.
func isPhone(r *http.Request) bool {
	return strings.Contains(r.Header.Get("User-Agent"), "Mobi")
}

// isAPIRequest reports whether a redirect would be useless to the caller:
// fetch/XHR calls and clients asking for JSON get a 401 with login_url.
func isAPIRequest(r *http.Request) bool {
	if strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") {
		return true
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// isNavigation reports whether the request may be answered with a redirect
// without losing anything: a form POST redirected to WeChat would come back
// as a GET and lose what the visitor typed.
func isNavigation(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Method == http.MethodHead
}
