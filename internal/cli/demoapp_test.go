package cli

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// asVisitor sends a request to the demo app as the gateway would for openID.
func asVisitor(t *testing.T, app *demoApp, method, target, openID string, form url.Values, headers map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if openID != "" {
		r.Header.Set("X-WeChat-OpenID", openID)
		r.Header.Set("X-WeChat-Nickname", url.PathEscape("李四 🐟"))
	}
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	app.ServeHTTP(w, r)
	return w
}

func bindAs(t *testing.T, app *demoApp, openID, phone string) *httptest.ResponseRecorder {
	t.Helper()
	return asVisitor(t, app, http.MethodPost, "/bind", openID, url.Values{"phone": {phone}}, nil)
}

func TestDemoAppBindsAMainlandMobileAndShowsIt(t *testing.T) {
	app := &demoApp{}
	for _, typed := range []string{"13800138000", " 138 0013 8000 ", "138-0013-8000"} {
		w := bindAs(t, app, "o-bob", typed)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/?bound=1" {
			t.Fatalf("binding %q: %d %q, want 303 to /?bound=1\n%s", typed, w.Code, w.Header().Get("Location"), w.Body)
		}
	}
	w := asVisitor(t, app, http.MethodGet, "/?bound=1", "o-bob", nil, nil)
	if body := w.Body.String(); !strings.Contains(body, `id="phone">13800138000<`) || !strings.Contains(body, "绑定成功") || !strings.Contains(body, "李四 🐟") {
		t.Errorf("the page does not show the bound number and the decoded nickname:\n%s", body)
	}
}

func TestDemoAppRejectsAnythingButAnElevenDigitMainlandMobile(t *testing.T) {
	app := &demoApp{}
	for _, phone := range []string{"", "12800138000", "10800138000", "1380013800", "138001380000", "+8613800138000",
		"1380013800a", "２３８００１３８０００", "13800138000\n1", "13800138000; DROP TABLE"} {
		w := bindAs(t, app, "o-bob", phone)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "手机号格式不正确") {
			t.Errorf("binding %q: %d, want 400 手机号格式不正确", phone, w.Code)
		}
	}
	if got := app.book.phone("mp:o-bob"); got != "" {
		t.Errorf("a malformed number was bound: %q", got)
	}
}

func TestDemoAppRebindingReplacesTheNumberAndFreesTheOldOne(t *testing.T) {
	app := &demoApp{}
	bindAs(t, app, "o-bob", "13800138000")
	if w := bindAs(t, app, "o-bob", "13900139000"); w.Code != http.StatusSeeOther {
		t.Fatalf("rebinding: %d\n%s", w.Code, w.Body)
	}
	if got := app.book.phone("mp:o-bob"); got != "13900139000" {
		t.Errorf("bob's number after rebinding = %q, want 13900139000", got)
	}
	if w := bindAs(t, app, "o-alice", "13800138000"); w.Code != http.StatusSeeOther {
		t.Errorf("bob's old number is still held after he rebound: %d\n%s", w.Code, w.Body)
	}
}

func TestDemoAppRefusesANumberBoundToSomeoneElse(t *testing.T) {
	app := &demoApp{}
	bindAs(t, app, "o-bob", "13800138000")
	w := bindAs(t, app, "o-alice", "13800138000")
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "已被其他微信账号绑定") {
		t.Errorf("alice taking bob's number: %d, want 409 已被其他微信账号绑定\n%s", w.Code, w.Body)
	}
	if app.book.phone("mp:o-alice") != "" || app.book.phone("mp:o-bob") != "13800138000" {
		t.Errorf("bindings changed: alice %q bob %q", app.book.phone("mp:o-alice"), app.book.phone("mp:o-bob"))
	}
	// Binding one's own number again is no conflict.
	if w := bindAs(t, app, "o-bob", "13800138000"); w.Code != http.StatusSeeOther {
		t.Errorf("bob binding his own number again: %d", w.Code)
	}
}

func TestDemoAppConcurrentBindsGiveANumberToOneOpenIDOnly(t *testing.T) {
	app := &demoApp{}
	var wg sync.WaitGroup
	codes := make([]int, 32)
	for i := range codes {
		wg.Go(func() {
			codes[i] = bindAs(t, app, "o-"+string(rune('a'+i)), "13800138000").Code
		})
	}
	wg.Wait()
	won := 0
	for _, c := range codes {
		if c == http.StatusSeeOther {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d visitors bound the same number, want 1 (codes %v)", won, codes)
	}
}

func TestDemoAppEscapesNicknameAndAvatar(t *testing.T) {
	app := &demoApp{}
	w := asVisitor(t, app, http.MethodGet, "/", "o-x", nil, map[string]string{
		"X-WeChat-Nickname": url.PathEscape(`<script>alert(1)</script>"'&`),
		"X-WeChat-Avatar":   "javascript:alert(2)",
	})
	body := w.Body.String()
	if strings.Contains(body, "<script>alert(1)") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the nickname is not HTML-escaped:\n%s", body)
	}
	if strings.Contains(body, "javascript:alert(2)") {
		t.Errorf("a javascript: avatar URL reached the page:\n%s", body)
	}
}

func TestDemoAppRefusesVisitorsWithoutAnOpenID(t *testing.T) {
	app := &demoApp{}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		target := "/"
		if method == http.MethodPost {
			target = "/bind"
		}
		w := asVisitor(t, app, method, target, "", url.Values{"phone": {"13800138000"}}, nil)
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "没有收到微信身份") {
			t.Errorf("%s %s without X-WeChat-OpenID: %d, want 401", method, target, w.Code)
		}
	}
	if len(app.book.byPhone) != 0 {
		t.Error("a number was bound without an openid")
	}
}

func TestDemoAppRefusesABindPostedFromAnotherSite(t *testing.T) {
	app := &demoApp{}
	w := asVisitor(t, app, http.MethodPost, "/bind", "o-bob", url.Values{"phone": {"13800138000"}},
		map[string]string{"Origin": "https://evil.example"})
	if w.Code != http.StatusForbidden || app.book.phone("mp:o-bob") != "" {
		t.Errorf("cross-site bind: %d, bound %q; want 403 and nothing bound", w.Code, app.book.phone("mp:o-bob"))
	}
}

func TestDemoAppOffersTheProfileButtonOnlyToSilentlySignedInVisitors(t *testing.T) {
	app := &demoApp{}
	base := asVisitor(t, app, http.MethodGet, "/", "o-bob", nil, map[string]string{"X-WeChat-Scope": "snsapi_base", "X-WeChat-Nickname": ""}).Body.String()
	if !strings.Contains(base, `id="profile" class="btn" href="/wechat_auth/login?scope=snsapi_userinfo&amp;rd=/"`) || !strings.Contains(base, "完善资料") {
		t.Errorf("a snsapi_base visitor is not offered the button that asks for the profile:\n%s", base)
	}
	full := asVisitor(t, app, http.MethodGet, "/", "o-bob", nil, map[string]string{"X-WeChat-Scope": "snsapi_userinfo"}).Body.String()
	if strings.Contains(full, `id="profile"`) {
		t.Errorf("a visitor who shared the profile is still offered the button:\n%s", full)
	}
}

func TestDemoAppBindsByUnionIDSoBothAppsFindTheNumber(t *testing.T) {
	app := &demoApp{}
	web := map[string]string{"X-WeChat-UnionID": "u-bob", "X-WeChat-Source": "web", "X-WeChat-Scope": "snsapi_login"}
	if w := asVisitor(t, app, http.MethodPost, "/bind", "o-web-bob", url.Values{"phone": {"13800138000"}}, web); w.Code != http.StatusSeeOther {
		t.Fatalf("desktop bind: %d %s", w.Code, w.Body)
	}
	page := asVisitor(t, app, http.MethodGet, "/", "o-web-bob", nil, web).Body.String()
	if !strings.Contains(page, `id="source">电脑扫码登录`) || strings.Contains(page, `id="profile"`) {
		t.Errorf("a desktop visitor is not shown as such, or is offered 完善资料:\n%s", page)
	}
	// The same person in WeChat: another openid, the same unionid.
	mp := map[string]string{"X-WeChat-UnionID": "u-bob", "X-WeChat-Source": "mp", "X-WeChat-Scope": "snsapi_userinfo"}
	if body := asVisitor(t, app, http.MethodGet, "/", "o-mp-bob", nil, mp).Body.String(); !strings.Contains(body, `id="phone">13800138000<`) {
		t.Errorf("bob in WeChat does not find the number bound on the computer:\n%s", body)
	}
	// Signed in silently later (no unionid), bob's openid is known to be his.
	base := map[string]string{"X-WeChat-Source": "mp", "X-WeChat-Scope": "snsapi_base"}
	if body := asVisitor(t, app, http.MethodGet, "/", "o-mp-bob", nil, base).Body.String(); !strings.Contains(body, `id="phone">13800138000<`) {
		t.Errorf("bob signed in silently after the link does not find his number:\n%s", body)
	}
	// An openid never seen with a unionid is all there is: the page says
	// how to link it.
	body := asVisitor(t, app, http.MethodGet, "/", "o-mp-eve", nil, base).Body.String()
	if strings.Contains(body, `id="phone"`) || !strings.Contains(body, `id="link-hint"`) || !strings.Contains(body, `id="profile"`) {
		t.Errorf("a silently signed-in visitor without unionid: want no number, the 完善资料 button and the hint:\n%s", body)
	}
	// A web openid equal to an mp openid is another key: apps never meet by openid.
	if body := asVisitor(t, app, http.MethodGet, "/", "o-web-bob", nil, base).Body.String(); strings.Contains(body, `id="phone"`) {
		t.Errorf("an mp visitor with the web openid found the number:\n%s", body)
	}
}

func TestDemoAppMovesANumberBoundBeforeTheUnionIDWasKnownToTheUnionID(t *testing.T) {
	app := &demoApp{}
	base := map[string]string{"X-WeChat-Source": "mp", "X-WeChat-Scope": "snsapi_base"}
	asVisitor(t, app, http.MethodPost, "/bind", "o-mp-bob", url.Values{"phone": {"13800138000"}}, base)
	full := map[string]string{"X-WeChat-UnionID": "u-bob", "X-WeChat-Source": "mp", "X-WeChat-Scope": "snsapi_userinfo"}
	asVisitor(t, app, http.MethodGet, "/", "o-mp-bob", nil, full)
	if app.book.phone("unionid:u-bob") != "13800138000" || app.book.phone("mp:o-mp-bob") != "" {
		t.Fatalf("after 完善资料: unionid %q, openid %q; want the number moved to the unionid",
			app.book.phone("unionid:u-bob"), app.book.phone("mp:o-mp-bob"))
	}
	// The number now belongs to the person: the desktop finds it, and it
	// is still taken for anyone else.
	web := map[string]string{"X-WeChat-UnionID": "u-bob", "X-WeChat-Source": "web", "X-WeChat-Scope": "snsapi_login"}
	if body := asVisitor(t, app, http.MethodGet, "/", "o-web-bob", nil, web).Body.String(); !strings.Contains(body, `id="phone">13800138000<`) {
		t.Errorf("the desktop does not find the moved number:\n%s", body)
	}
	if w := bindAs(t, app, "o-carol", "13800138000"); w.Code != http.StatusConflict {
		t.Errorf("carol binding bob's moved number: %d, want 409", w.Code)
	}
	// A unionid that has a number of its own keeps it: nothing is merged over it.
	asVisitor(t, app, http.MethodPost, "/bind", "o-mp-dave", url.Values{"phone": {"13900139000"}}, base)
	dave := map[string]string{"X-WeChat-UnionID": "u-bob", "X-WeChat-Source": "mp", "X-WeChat-Scope": "snsapi_userinfo"}
	asVisitor(t, app, http.MethodGet, "/", "o-mp-dave", nil, dave)
	if app.book.phone("unionid:u-bob") != "13800138000" || app.book.phone("mp:o-mp-dave") != "13900139000" {
		t.Errorf("adoption overwrote a unionid's own number: unionid %q, openid %q", app.book.phone("unionid:u-bob"), app.book.phone("mp:o-mp-dave"))
	}
}

// Bound on the computer (by unionid), the number may be the silently
// signed-in visitor's own: the 409 points to 完善资料 instead of "another
// account". Bound by another openid, it is someone else's.
func TestDemoAppConflictWithAUnionIDNumberPointsToTheProfileButton(t *testing.T) {
	app := &demoApp{}
	web := map[string]string{"X-WeChat-UnionID": "u-bob", "X-WeChat-Source": "web", "X-WeChat-Scope": "snsapi_login"}
	asVisitor(t, app, http.MethodPost, "/bind", "o-web-bob", url.Values{"phone": {"13800138000"}}, web)
	base := map[string]string{"X-WeChat-Source": "mp", "X-WeChat-Scope": "snsapi_base"}
	w := asVisitor(t, app, http.MethodPost, "/bind", "o-mp-bob", url.Values{"phone": {"13800138000"}}, base)
	if body := w.Body.String(); w.Code != http.StatusConflict || !strings.Contains(body, "完善资料") || strings.Contains(body, "已被其他微信账号绑定") {
		t.Errorf("silent visitor, number bound by unionid: %d, want 409 pointing to 完善资料\n%s", w.Code, body)
	}
	bindAs(t, app, "o-alice", "13900139000")
	w = asVisitor(t, app, http.MethodPost, "/bind", "o-mp-bob", url.Values{"phone": {"13900139000"}}, base)
	if body := w.Body.String(); w.Code != http.StatusConflict || !strings.Contains(body, "已被其他微信账号绑定") {
		t.Errorf("number bound by another openid: %d, want 409 已被其他微信账号绑定\n%s", w.Code, body)
	}
}
