package wechatauth

import (
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// v2FlowCookie is a flow cookie as the version before flow kinds wrote it.
func v2FlowCookie(f flowState) []byte {
	b := []byte{flowVersionV2}
	for _, s := range []string{f.State, f.Return, f.Scope} {
		b = appendString(b, s)
	}
	b = binary.AppendVarint(b, f.Created)
	b = append(b, 0)
	b = appendString(b, f.RelayBack)
	return appendString(b, f.RelayState)
}

// TestCallbackOfAnOlderVersionsFlowRestartsItsLoginSilently: a login in
// progress across an upgrade (its flow cookie names no flow) is started
// over by the flow it belongs to, to the same page, without asking WeChat
// for its code — the Official Account's inside WeChat, desktop_login's on
// a desktop browser.
func TestCallbackOfAnOlderVersionsFlowRestartsItsLoginSilently(t *testing.T) {
	for _, c := range []struct {
		name, scope, ua, target string
	}{
		{"official account", "snsapi_userinfo", "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50", "/connect/oauth2/authorize"},
		{"desktop", "snsapi_login", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120", "/connect/qrconnect"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, now := newTestHandlerWith(t, testPair(1), func(h *Handler) {
				h.DesktopLogin = &DesktopLogin{AppID: "wxd1d1d1d1d1d1d1d1", AppSecret: "websecret"}
			})
			state := strings.Repeat("L", stateLen)
			old := flowState{State: state, Return: "/bind.php?x=1", Scope: c.scope, Created: now.Unix()}
			name := h.logins.cookies.name(state)
			v, err := h.logins.cookies.codec.encode(name, v2FlowCookie(old))
			if err != nil {
				t.Fatal(err)
			}
			r := requestWithCookies(name + "=" + v)
			r.URL, _ = url.Parse("http://wx.example.com/wechat_auth/callback?code=061code&state=" + state)
			r.Host = "wx.example.com"
			r.Header.Set("User-Agent", c.ua)
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
				t.Fatal(err)
			}
			loc, _ := url.Parse(w.Header().Get("Location"))
			if w.Code != http.StatusFound || loc == nil || loc.Path != c.target {
				t.Fatalf("got %d to %q, want a 302 to %s (the code is never redeemed: no WeChat here)", w.Code, w.Header().Get("Location"), c.target)
			}
			newState := loc.Query().Get("state")
			var f flowState
			for _, ck := range w.Result().Cookies() {
				if ck.Name == h.logins.cookies.name(newState) {
					if p, err := h.logins.cookies.codec.decode(ck.Name, ck.Value); err == nil {
						_ = f.unmarshal(p)
					}
				}
			}
			if f.State != newState || f.Return != old.Return || f.Scope != c.scope || !f.Retry || f.Kind == legacyFlowKind {
				t.Fatalf("the restarted flow is %+v, want state %s returning to %s with scope %s, marked retried, with a kind", f, newState, old.Return, c.scope)
			}
		})
	}
}
