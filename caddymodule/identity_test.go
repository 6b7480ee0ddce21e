package wechatauth

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// headerVariants spells a header name in every way a client might to slip it
// past a case-sensitive or "-"-only filter (issue 12: dots too).
func headerVariants(name string) []string {
	under := strings.ReplaceAll(name, "-", "_")
	out := []string{name, strings.ToLower(name), strings.ToUpper(name), under, strings.ToLower(under), strings.ToUpper(under)}
	// Mixed: alternate case letter by letter, and mix "-" and "_".
	var alt strings.Builder
	for i, c := range name {
		if i%2 == 0 {
			alt.WriteString(strings.ToUpper(string(c)))
		} else {
			alt.WriteString(strings.ToLower(string(c)))
		}
	}
	out = append(out, alt.String(), strings.Replace(name, "-", "_", 1), strings.Replace(under, "_", "-", 1))
	// Dots, which PHP and CGI also fold into "_" (X.WeChat.OpenID reads as
	// HTTP_X_WECHAT_OPENID), alone and mixed with "_" and "-".
	dotted := strings.ReplaceAll(name, "-", ".")
	out = append(out, dotted, strings.ToLower(dotted), strings.ToUpper(dotted),
		strings.Replace(dotted, ".", "_", 1), strings.Replace(name, "-", ".", 1))
	return out
}

var ourHeaders = []string{"X-WeChat-OpenID", "X-WeChat-UnionID", "X-WeChat-Scope", "X-WeChat-Nickname", "X-WeChat-Avatar", "X-WeChat-Subscribed", "X-WeChat-Source", "X-WeChat-Anything-Else", "X-WeChat-"}

func TestIsIdentityHeaderCatchesEveryVariantOfOurHeaders(t *testing.T) {
	n := newHeaderNames(defaultHeaderPrefix)
	for _, name := range append(append([]string{}, ourHeaders...), "Remote-User") {
		for _, v := range headerVariants(name) {
			if !n.isIdentityHeader(v) {
				t.Errorf("isIdentityHeader(%q) = false", v)
			}
		}
	}
}

func TestIsIdentityHeaderLeavesOtherHeadersAlone(t *testing.T) {
	n := newHeaderNames(defaultHeaderPrefix)
	for _, k := range []string{"X-WeChat", "X-WeChatOpenID", "X-Wechat", "WeChat-OpenID", "X-Forwarded-For", "Cookie", "User-Agent", "Remote-Users", "Remote-Use", "X-Remote-User", "RemoteUser", "Remote", "", "X-We-Chat-OpenID", "X-WeChat—OpenID"} {
		if n.isIdentityHeader(k) {
			t.Errorf("isIdentityHeader(%q) = true", k)
		}
	}
}

func TestIsIdentityHeaderFollowsACustomPrefix(t *testing.T) {
	n := newHeaderNames("X-Auth-")
	for _, name := range []string{"X-Auth-OpenID", "X-Auth-Scope", "X-Auth-Whatever", "Remote-User"} {
		for _, v := range headerVariants(name) {
			if !n.isIdentityHeader(v) {
				t.Errorf("prefix X-Auth-: isIdentityHeader(%q) = false", v)
			}
		}
	}
	for _, k := range []string{"X-Authorization", "X-Auth", "Authorization"} {
		if n.isIdentityHeader(k) {
			t.Errorf("prefix X-Auth-: isIdentityHeader(%q) = true", k)
		}
	}
	under := newHeaderNames("x_my_")
	for _, k := range []string{"X-My-OpenID", "x_my_openid", "X_MY-OPENID"} {
		if !under.isIdentityHeader(k) {
			t.Errorf("prefix x_my_: isIdentityHeader(%q) = false", k)
		}
	}
}

func TestStripIdentityRemovesEveryVariantAndKeepsTheRest(t *testing.T) {
	n := newHeaderNames(defaultHeaderPrefix)
	h := http.Header{}
	for _, name := range append(append([]string{}, ourHeaders...), "Remote-User") {
		for _, v := range headerVariants(name) {
			h[v] = []string{"forged", "forged-again"} // raw keys: not canonicalized
			h.Add(v, "forged")                        // and canonicalized
		}
	}
	keep := http.Header{"Accept": {"text/html"}, "X-Forwarded-For": {"1.2.3.4"}, "Cookie": {"a=b"}, "X-Wechat": {"not ours"}}
	for k, v := range keep {
		h[k] = v
	}
	n.stripIdentity(h, nil)
	if !reflect.DeepEqual(h, keep) {
		t.Errorf("after stripIdentity: %v\nwant %v", h, keep)
	}
}

// TestStripIdentityKeepsEveryHeaderAnEarlierHandlerSet: a second handler
// strips what the client sent but keeps every header the first one set from
// the verified identity (two directives on one site), Source included.
func TestStripIdentityKeepsEveryHeaderAnEarlierHandlerSet(t *testing.T) {
	n := newHeaderNames(defaultHeaderPrefix)
	prior := newAdmitted(newIdentity(validSession(), sourceMP), nil)
	h := http.Header{}
	n.apply(h, nil, prior)
	n.applyFollow(h, nil, prior, following)
	want := http.Header{}
	for k, v := range h {
		want[k] = v
	}
	h["X-Wechat-Foo"] = []string{"forged"}
	n.stripIdentity(h, prior)
	if !reflect.DeepEqual(h, want) {
		t.Errorf("after stripIdentity with the earlier handler's identity: %v\nwant %v", h, want)
	}
	if len(want) < 7 {
		t.Errorf("apply set only %d headers: %v", len(want), want)
	}
}

func TestApplySetsHeadersAndPlaceholders(t *testing.T) {
	n := newHeaderNames(defaultHeaderPrefix)
	s := validSession()
	id := newIdentity(s, sourceMP)
	h := http.Header{}
	repl := caddy.NewReplacer()
	n.apply(h, repl, newAdmitted(id, nil))
	want := map[string]string{
		"X-Wechat-Openid":   s.OpenID,
		"X-Wechat-Unionid":  s.UnionID,
		"X-Wechat-Scope":    s.Scope,
		"X-Wechat-Nickname": "%E5%BC%A0%E4%B8%89%F0%9F%98%80",
		"X-Wechat-Avatar":   s.Avatar,
		"X-Wechat-Source":   "mp",
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("header %s = %q, want [%q]", k, got, v)
		}
	}
	if len(h) != len(want) {
		t.Errorf("apply set %d headers, want %d: %v", len(h), len(want), h)
	}
	placeholders := map[string]string{
		"{http.auth.user.id}":       s.OpenID,
		"{http.auth.user.unionid}":  s.UnionID,
		"{http.auth.user.scope}":    s.Scope,
		"{http.auth.user.nickname}": s.Nickname,
		"{http.auth.user.avatar}":   s.Avatar,
		"{http.auth.user.source}":   "mp",
	}
	for ph, v := range placeholders {
		if got := repl.ReplaceAll(ph, "MISSING"); got != v {
			t.Errorf("%s = %q, want %q", ph, got, v)
		}
	}
}

// TestApplySaysWebForADesktopSession: a desktop_login session, verified
// by a handler with desktop_login, goes upstream as X-WeChat-Source: web.
func TestApplySaysWebForADesktopSession(t *testing.T) {
	hd, now := newTestHandlerWith(t, testPair(1), func(h *Handler) {
		h.DesktopLogin = &DesktopLogin{AppID: "wxd1d1d1d1d1d1d1d1", AppSecret: "websecret"}
	})
	s := Session{AppID: "wxd1d1d1d1d1d1d1d1", OpenID: "o1", UnionID: "u1", Scope: "snsapi_login", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()}
	id := hd.sessions.verify(sealSession(t, hd, s))
	if id == nil {
		t.Fatal("the desktop session was refused")
	}
	n := newHeaderNames(defaultHeaderPrefix)
	h := http.Header{"X-Wechat-Source": {"mp"}}
	repl := caddy.NewReplacer()
	n.apply(h, repl, newAdmitted(id, nil))
	if got := h.Values("X-WeChat-Source"); !reflect.DeepEqual(got, []string{"web"}) {
		t.Errorf("X-WeChat-Source = %q, want [web]", got)
	}
	if got := repl.ReplaceAll("{http.auth.user.source}", ""); got != "web" {
		t.Errorf("{http.auth.user.source} = %q, want web", got)
	}
}

func TestApplyOmitsEmptyOptionalHeadersAndOverwritesForgedOnes(t *testing.T) {
	n := newHeaderNames(defaultHeaderPrefix)
	s := Session{AppID: testAppID, OpenID: "o1", Scope: "snsapi_base"}
	h := http.Header{"X-Wechat-Openid": {"forged", "forged2"}}
	n.apply(h, nil, newAdmitted(newIdentity(s, sourceMP), nil)) // nil replacer: headers only, no panic
	if got := h.Values("X-WeChat-OpenID"); !reflect.DeepEqual(got, []string{"o1"}) {
		t.Errorf("OpenID = %q", got)
	}
	for _, k := range []string{"X-WeChat-UnionID", "X-WeChat-Nickname", "X-WeChat-Avatar"} {
		if _, ok := h[http.CanonicalHeaderKey(k)]; ok {
			t.Errorf("%s set for a session without it", k)
		}
	}
	repl := caddy.NewReplacer()
	n.apply(http.Header{}, repl, newAdmitted(newIdentity(s, sourceMP), nil))
	for _, k := range []string{"http.auth.user.unionid", "http.auth.user.nickname", "http.auth.user.avatar"} {
		if v, ok := repl.Get(k); !ok || v != "" {
			t.Errorf("%s = %v, %v; want set to empty (so a stale value cannot leak)", k, v, ok)
		}
	}
}

func TestApplyUsesTheCustomPrefix(t *testing.T) {
	n := newHeaderNames("X-Auth-")
	h := http.Header{}
	n.apply(h, nil, newAdmitted(newIdentity(validSession(), sourceMP), nil))
	if h.Get("X-Auth-OpenID") != validSession().OpenID || h.Get("X-WeChat-OpenID") != "" {
		t.Errorf("custom prefix headers: %v", h)
	}
}

func TestNicknameIsPercentEncodedUTF8AndHeaderSafe(t *testing.T) {
	n := newHeaderNames(defaultHeaderPrefix)
	for _, nick := range []string{"张三", "😀🐼", "小明 (Ming)", "a\r\nX-WeChat-OpenID: forged", "tab\there", "100%", "a+b=c&d", "é\x00\x7f", "👨‍👩‍👧"} {
		s := validSession()
		s.Nickname = nick
		h := http.Header{}
		n.apply(h, nil, newAdmitted(newIdentity(s, sourceMP), nil))
		v := h.Get("X-WeChat-Nickname")
		for i := 0; i < len(v); i++ {
			if v[i] < 0x21 || v[i] > 0x7e {
				t.Errorf("nickname %q: header value %q holds byte %#x", nick, v, v[i])
				break
			}
		}
		back, err := url.PathUnescape(v)
		if err != nil || back != nick {
			t.Errorf("nickname %q: header %q decodes to %q (%v)", nick, v, back, err)
		}
	}
}

// TestApplyWritesNoPlaceholderMap: the identity answers its placeholders
// itself (built once per session), so a request's fresh replacer gets no
// map entries, and no allocation, from apply.
func TestApplyWritesNoPlaceholderMap(t *testing.T) {
	n := newHeaderNames(defaultHeaderPrefix)
	id := newIdentity(validSession(), sourceMP)
	h := http.Header{}
	repls := make([]*caddy.Replacer, 101) // AllocsPerRun calls once more than asked
	for i := range repls {
		repls[i] = caddy.NewReplacer()
		repls[i].Map(func(string) (any, bool) { return nil, false }) // as Caddy's HTTP server does
	}
	a := newAdmitted(id, nil) // the request's header values, allocated by the gate
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		n.apply(h, repls[i], a)
		i++
	})
	if allocs != 0 {
		t.Errorf("apply allocated %.1f times per request, want 0", allocs)
	}
	if got := repls[0].ReplaceAll("{http.auth.user.id} {http.auth.user.source}", "?"); got != id.sess.OpenID+" mp" {
		t.Errorf("placeholders = %q", got)
	}
}

// TestALaterApplyWins: of two wechat_auth handlers of one request (two
// apps), the placeholders say the later one's identity.
func TestALaterApplyWins(t *testing.T) {
	n := newHeaderNames(defaultHeaderPrefix)
	repl := caddy.NewReplacer()
	n.apply(http.Header{}, repl, newAdmitted(newIdentity(Session{AppID: "wx1", OpenID: "first", Scope: "snsapi_base"}, sourceMP), nil))
	n.apply(http.Header{}, repl, newAdmitted(newIdentity(Session{AppID: "wx2", OpenID: "second", UnionID: "u2", Scope: "snsapi_login"}, sourceWeb), nil))
	if got := repl.ReplaceAll("{http.auth.user.id} {http.auth.user.unionid} {http.auth.user.source}", "?"); got != "second u2 web" {
		t.Errorf("placeholders after two handlers = %q, want the second's", got)
	}
}

// TestStripIdentityKeepsWhatEveryEarlierHandlerSet: three wechat_auth
// handlers on one request, the first two with different prefixes: the
// third keeps both earlier handlers' headers (each admitted request's values
// chain to the earlier ones'), and drops the client's.
func TestStripIdentityKeepsWhatEveryEarlierHandlerSet(t *testing.T) {
	outer, inner := newHeaderNames(defaultHeaderPrefix), newHeaderNames("X-Inner-")
	id := newIdentity(validSession(), sourceMP)
	h := http.Header{}
	first := newAdmitted(id, nil)
	outer.apply(h, nil, first)
	second := newAdmitted(id, first)
	inner.apply(h, nil, second)
	want := http.Header{}
	for k, v := range h {
		want[k] = v
	}
	h["X-Wechat-Foo"], h["X-Inner-Foo"] = []string{"forged"}, []string{"forged"}
	inner.stripIdentity(h, second)
	outer.stripIdentity(h, second)
	if !reflect.DeepEqual(h, want) {
		t.Errorf("after the third handler's strip: %v\nwant %v", h, want)
	}
}
