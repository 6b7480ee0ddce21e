package wechatauth

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
)

// Every page has a name, a status, text for the visitor and a JSON answer
// for a program; names are unique and fit `page <name>` and placeholders.
func TestEveryPageHasText(t *testing.T) {
	seen := map[string]pageID{}
	for id := pageID(1); id < pageCount; id++ {
		row := pageTable[id]
		if row.name == "" || strings.IndexFunc(row.name, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 {
			t.Errorf("page %d: name %q must be lowercase letters", id, row.name)
		}
		if other, dup := seen[row.name]; dup {
			t.Errorf("pages %d and %d share the name %q", other, id, row.name)
		}
		seen[row.name] = id
		if http.StatusText(row.status) == "" || row.status >= 300 && row.status < 400 {
			t.Errorf("%s: status %d is not a page's", row.name, row.status)
		}
		if row.jsonOnly {
			if row.heading != "" || len(row.lines) != 0 || row.tmpl != "" {
				t.Errorf("%s: a JSON-only answer has no page text", row.name)
			}
		} else if row.heading == "" || len(row.lines) == 0 || strings.Contains(strings.Join(row.lines, ""), "{") && !strings.Contains(strings.Join(row.lines, ""), "{host}") {
			t.Errorf("%s: heading %q, lines %q: a page says what happened and what to do", row.name, row.heading, row.lines)
		}
		if pageTemplates[row.tmpl] == nil && !row.jsonOnly {
			t.Errorf("%s: no template %q", row.name, row.tmpl)
		}
		if row.code == "" || row.msg == "" || strings.IndexFunc(row.msg, func(r rune) bool { return r > unicode.MaxASCII }) >= 0 {
			t.Errorf("%s: JSON code %q, message %q: both set, the message in English", row.name, row.code, row.msg)
		}
		if row.loginURL && row.action == "" && !row.jsonOnly {
			t.Errorf("%s: a page that sends to the login names its button", row.name)
		}
	}
	if len(seen) != int(pageCount)-1 {
		t.Errorf("%d pages named, %d ids", len(seen), pageCount-1)
	}
}

// Each page renders with its status, heading, lines (the host filled in)
// and button, and the site's name where the page names the site.
func TestEveryPageRenders(t *testing.T) {
	p := &visitorPages{siteName: "报表系统"}
	for id := pageID(1); id < pageCount; id++ {
		row := pageTable[id]
		if row.jsonOnly {
			continue
		}
		w := httptest.NewRecorder()
		p.write(w, id, pageValues{ActionURL: "/wechat_auth/login?rd=%2Fx", Host: "shop.example.com", PageURL: "https://shop.example.com/x", Ref: "errcode 40029"})
		body := w.Body.String()
		if w.Code != row.status || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: status %d, Cache-Control %q", row.name, w.Code, w.Header().Get("Cache-Control"))
		}
		want := []string{"<h1>" + template.HTMLEscapeString(row.heading) + "</h1>"}
		if row.action != "" {
			want = append(want, `href="/wechat_auth/login?rd=%2Fx"`, ">"+row.action+"</a>")
		} else if strings.Contains(body, `class="btn"`) {
			t.Errorf("%s: a button without a label: %.600s", row.name, body)
		}
		if row.tmpl == "error" {
			for _, l := range row.linesAbout("shop.example.com") {
				want = append(want, template.HTMLEscapeString(l))
			}
		}
		for _, s := range want {
			if !strings.Contains(body, s) {
				t.Errorf("%s: page lacks %q: %.600s", row.name, s, body)
			}
		}
		if strings.Contains(body, "{host}") || strings.Contains(body, "{{") {
			t.Errorf("%s: a placeholder is left: %.600s", row.name, body)
		}
	}
	w := httptest.NewRecorder()
	p.write(w, pageRelayRefused, pageValues{Host: "evil.example"})
	if !strings.Contains(w.Body.String(), "这个登录中转站不为 evil.example 提供微信登录") {
		t.Errorf("relayrefused without its host: %s", w.Body)
	}
	for _, id := range []pageID{pageOpenInWeChat, pageSubscribe, pageDeclined, pageDeclinedKept} {
		w := httptest.NewRecorder()
		p.write(w, id, pageValues{ActionURL: "/x"})
		if !strings.Contains(w.Body.String(), "“报表系统”") {
			t.Errorf("%s: the page does not name the site: %.600s", pageTable[id].name, w.Body)
		}
	}
}

// An API request gets the page's JSON answer; the ones that send to the
// login carry login_url and WWW-Authenticate.
func TestAPIRequestsGetThePagesJSON(t *testing.T) {
	for _, tc := range []struct {
		id    pageID
		login string
	}{{pageSignIn, "https://shop.example.com/wechat_auth/login?rd=%2F"}, {pageOpenInWeChat, ""}, {pageFollowerUnknown, ""}} {
		row := pageTable[tc.id]
		r := httptest.NewRequest(http.MethodGet, "/api/orders", nil)
		r.Header.Set("Accept", "application/json")
		w := httptest.NewRecorder()
		builtinPages.show(w, r, tc.id, pageValues{ActionURL: "https://shop.example.com/wechat_auth/login?rd=%2F"})
		var got jsonError
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s: not JSON: %v: %s", row.name, err, w.Body)
		}
		if w.Code != row.status || got.Error != row.code || got.Message != row.msg || got.LoginURL != tc.login {
			t.Errorf("%s: %d %+v, want %d %s %q login_url %q", row.name, w.Code, got, row.status, row.code, row.msg, tc.login)
		}
		if auth := w.Header().Get("WWW-Authenticate"); (auth != "") != (tc.login != "") {
			t.Errorf("%s: WWW-Authenticate %q", row.name, auth)
		}
	}
}

// A JSON-only answer is JSON whatever the request asked for.
func TestJSONOnlyAnswersAreJSONForBrowsersToo(t *testing.T) {
	w := httptest.NewRecorder()
	builtinPages.show(w, httptest.NewRequest(http.MethodGet, "/", nil), pageSignIn, pageValues{ActionURL: "/wechat_auth/login"})
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"login_url":"/wechat_auth/login"`) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

// A page outside Caddy (no server in the context) is the built-in one.
func TestPagesOutsideCaddyAreBuiltIn(t *testing.T) {
	w := httptest.NewRecorder()
	builtinPages.show(w, httptest.NewRequest(http.MethodGet, "/", nil), pageWeChatDown, pageValues{ActionURL: "/retry"})
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "微信暂时无法响应") {
		t.Errorf("%d %.300s", w.Code, w.Body)
	}
}
