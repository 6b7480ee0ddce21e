package wechattest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

const (
	app    = wechattest.DefaultAppID
	secret = wechattest.DefaultAppSecret
)

// call sends a raw request, as a third-party SDK would, and decodes the JSON answer.
func call(t *testing.T, method, rawURL, body string) map[string]any {
	t.Helper()
	resp, data := raw(t, method, rawURL, body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s %s: %d %s %s", method, rawURL, resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: not JSON: %s", rawURL, data)
	}
	return m
}

func errcode(m map[string]any) int {
	f, _ := m["errcode"].(float64)
	return int(f)
}

var ridRE = regexp.MustCompile(`, rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

func TestJSONAPIErrorCodesForBadParameters(t *testing.T) {
	srv := newServer(t)
	code := srv.IssueCode(app, "alice", "snsapi_base")
	b := srv.URL
	for _, tc := range []struct {
		name, method, url, body string
		code                    int
	}{
		{"access_token: no appid", "GET", b + "/sns/oauth2/access_token?secret=" + secret + "&code=" + code + "&grant_type=authorization_code", "", 41002},
		{"access_token: unknown appid", "GET", b + "/sns/oauth2/access_token?appid=wxnope&secret=x&code=c&grant_type=authorization_code", "", 40013},
		{"access_token: no secret", "GET", b + "/sns/oauth2/access_token?appid=" + app + "&code=" + code + "&grant_type=authorization_code", "", 41004},
		{"access_token: wrong secret", "GET", b + "/sns/oauth2/access_token?appid=" + app + "&secret=nope&code=" + code + "&grant_type=authorization_code", "", 40125},
		{"access_token: no code", "GET", b + "/sns/oauth2/access_token?appid=" + app + "&secret=" + secret + "&grant_type=authorization_code", "", 41008},
		{"access_token: bad grant_type", "GET", b + "/sns/oauth2/access_token?appid=" + app + "&secret=" + secret + "&code=" + code + "&grant_type=client_credential", "", 40002},
		{"refresh: no appid", "GET", b + "/sns/oauth2/refresh_token?grant_type=refresh_token&refresh_token=x", "", 41002},
		{"refresh: no refresh_token", "GET", b + "/sns/oauth2/refresh_token?appid=" + app + "&grant_type=refresh_token", "", 41003},
		{"refresh: bad grant_type", "GET", b + "/sns/oauth2/refresh_token?appid=" + app + "&grant_type=x&refresh_token=x", "", 40002},
		{"userinfo: no access_token", "GET", b + "/sns/userinfo?openid=o", "", 41001},
		{"userinfo: no openid", "GET", b + "/sns/userinfo?access_token=x", "", 41009},
		{"auth: unknown token", "GET", b + "/sns/auth?access_token=x&openid=o", "", 40014},
		{"token: bad grant_type", "GET", b + "/cgi-bin/token?grant_type=x&appid=" + app + "&secret=" + secret, "", 40002},
		{"token: wrong secret", "GET", b + "/cgi-bin/token?grant_type=client_credential&appid=" + app + "&secret=nope", "", 40001},
		{"token: unknown appid", "GET", b + "/cgi-bin/token?grant_type=client_credential&appid=wxnope&secret=nope", "", 40013},
		{"stable_token: GET", "GET", b + "/cgi-bin/stable_token", "", 43002},
		{"stable_token: bad JSON", "POST", b + "/cgi-bin/stable_token", "{", 47001},
		{"stable_token: wrong secret", "POST", b + "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"` + app + `","secret":"x"}`, 40125},
		{"stable_token: no appid", "POST", b + "/cgi-bin/stable_token", `{"grant_type":"client_credential","secret":"x"}`, 41002},
		{"user/info: no token", "GET", b + "/cgi-bin/user/info?openid=o", "", 41001},
		{"user/info: bad token", "GET", b + "/cgi-bin/user/info?access_token=bogus&openid=o", "", 40001},
		{"menu/create: GET", "GET", b + "/cgi-bin/menu/create?access_token=bogus", "", 43002},
		{"menu/get: bad token", "GET", b + "/cgi-bin/menu/get?access_token=bogus", "", 40001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := call(t, tc.method, tc.url, tc.body)
			msg, _ := m["errmsg"].(string)
			if errcode(m) != tc.code || !ridRE.MatchString(msg) {
				t.Errorf("got %v, want errcode %d and errmsg ending in rid: xxxxxxxx-xxxxxxxx-xxxxxxxx", m, tc.code)
			}
		})
	}
}

func TestTokenResponseHasWeChatsFieldsAndTypes(t *testing.T) {
	srv := newServer(t, wechattest.WithBoundApp(app, secret, "op"))
	m := call(t, "GET", srv.URL+"/sns/oauth2/access_token?appid="+app+"&secret="+secret+"&code="+srv.IssueCode(app, "alice", "snsapi_userinfo")+"&grant_type=authorization_code", "")
	for k, kind := range map[string]string{"access_token": "string", "expires_in": "number", "refresh_token": "string", "openid": "string", "scope": "string", "unionid": "string"} {
		if got := jsonKind(m[k]); got != kind {
			t.Errorf("%s: %s, want %s", k, got, kind)
		}
	}
	if _, ok := m["is_snapshotuser"]; ok {
		t.Errorf("is_snapshotuser present for a normal user: %v", m)
	}
	if _, ok := m["errcode"]; ok {
		t.Errorf("success carries errcode: %v", m)
	}
	if !regexp.MustCompile(`^o[A-Za-z0-9_-]{27}$`).MatchString(m["openid"].(string)) {
		t.Errorf("openid %q does not look like WeChat's", m["openid"])
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case nil:
		return "missing"
	}
	return "other"
}

func TestCgiBinTokenInvalidatesThePreviousTokenAfterOverlap(t *testing.T) {
	clock := wechattest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := newServer(t, wechattest.WithClock(clock))
	tokenURL := srv.URL + "/cgi-bin/token?grant_type=client_credential&appid=" + app + "&secret=" + secret
	first := call(t, "GET", tokenURL, "")["access_token"].(string)
	second := call(t, "GET", tokenURL, "")["access_token"].(string)
	if first == second {
		t.Fatal("cgi-bin/token returned the same token twice")
	}
	use := func(tok string) int {
		return errcode(call(t, "GET", srv.URL+"/cgi-bin/menu/get?access_token="+tok, ""))
	}
	if use(first) != 46003 || use(second) != 46003 {
		t.Fatal("both tokens should work during the overlap (46003 = valid token, no menu)")
	}
	clock.Advance(5 * time.Minute)
	if got := use(first); got != 40001 {
		t.Errorf("previous token after the overlap: errcode %d, want it rejected", got)
	}
	if got := use(second); got != 46003 {
		t.Errorf("latest token: errcode %d, want valid", got)
	}
	call(t, "GET", tokenURL, "")
	call(t, "GET", tokenURL, "") // a fourth call invalidates the second at once
	if got := use(second); got != 40001 {
		t.Errorf("token two generations old: errcode %d, want 40001", got)
	}
	// cgi-bin/token is isolated from stable_token.
	c, _ := wechat.New(wechat.Config{AppID: app, AppSecret: secret, APIBase: srv.URL, Now: clock.Now})
	st, _ := c.BasicToken(context.Background())
	call(t, "GET", tokenURL, "")
	if got := use(st); got != 46003 {
		t.Errorf("stable token after cgi-bin/token: errcode %d, want still valid", got)
	}
	clock.Advance(7200 * time.Second)
	if got := use(st); got != 42001 {
		t.Errorf("stable token after 7200s: errcode %d, want 42001", got)
	}
}

func TestStableTokenExpiresInCountsDown(t *testing.T) {
	clock := wechattest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := newServer(t, wechattest.WithClock(clock))
	body := `{"grant_type":"client_credential","appid":"` + app + `","secret":"` + secret + `"}`
	a := call(t, "POST", srv.URL+"/cgi-bin/stable_token", body)
	clock.Advance(time.Hour)
	b := call(t, "POST", srv.URL+"/cgi-bin/stable_token", body)
	if a["access_token"] != b["access_token"] || a["expires_in"].(float64) != 7200 || b["expires_in"].(float64) != 3600 {
		t.Errorf("stable_token: %v then %v", a, b)
	}
}

func TestMenuCreateRejectsEscapesAndBadJSON(t *testing.T) {
	srv := newServer(t)
	c, _ := wechat.New(wechat.Config{AppID: app, AppSecret: secret, APIBase: srv.URL})
	tok, _ := c.BasicToken(context.Background())
	create := srv.URL + "/cgi-bin/menu/create?access_token=" + tok
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"\\u0026 from an HTML-escaping encoder", `{"button":[{"type":"view","name":"a","url":"https://x/?a=1\u0026b=2"}]}`, 40033},
		{"truncated", `{"button":[`, 47001},
		{"not an object", `[1,2]`, 47001},
		{"no buttons", `{"button":[]}`, 40016},
		{"ok", `{"button":[{"type":"view","name":"a","url":"https://x/?a=1&b=2"}]}`, 0},
	} {
		if got := errcode(call(t, "POST", create, tc.body)); got != tc.code {
			t.Errorf("%s: errcode %d, want %d", tc.name, got, tc.code)
		}
	}
	if m := srv.Menu(app); m == nil || m.Button[0].URL != "https://x/?a=1&b=2" {
		t.Errorf("stored menu = %+v", m)
	}
	// Menu returns a copy.
	srv.Menu(app).Button[0].Name = "changed"
	if srv.Menu(app).Button[0].Name != "a" {
		t.Error("Menu() exposed the stored menu")
	}
	self := call(t, "GET", srv.URL+"/cgi-bin/get_current_selfmenu_info?access_token="+tok, "")
	if self["is_menu_open"].(float64) != 1 || self["selfmenu_info"] == nil {
		t.Errorf("selfmenu = %v", self)
	}
}

func TestFaultsApplyToTheNextNCallsAndCallsAreRecorded(t *testing.T) {
	srv := newServer(t)
	srv.Fail("/sns/auth", 2, wechattest.FaultBusy)
	url := srv.URL + "/sns/auth?access_token=x&openid=o"
	got := []int{errcode(call(t, "GET", url, "")), errcode(call(t, "GET", url, "")), errcode(call(t, "GET", url, ""))}
	if got[0] != -1 || got[1] != -1 || got[2] != 40014 {
		t.Errorf("errcodes = %v, want -1 -1 40014", got)
	}
	if n := srv.CallCount("/sns/auth"); n != 3 {
		t.Errorf("CallCount = %d", n)
	}
	if c := srv.Calls()[0]; c.Method != "GET" || c.Query.Get("openid") != "o" || c.Time.IsZero() {
		t.Errorf("call = %+v", c)
	}
	srv.ResetCalls()
	if len(srv.Calls()) != 0 {
		t.Error("ResetCalls kept calls")
	}
}

func TestCloseReleasesAHangingHandler(t *testing.T) {
	srv := wechattest.NewServer()
	srv.Fail("/sns/auth", 1, wechattest.FaultHang)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/sns/auth")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for srv.CallCount("/sns/auth") == 0 {
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a hanging handler")
	}
	<-errc
}

func TestSummaryListsAppsSecretsUsersAndURLs(t *testing.T) {
	sim := wechattest.New(wechattest.WithBoundApp("wxA", "secretA", "op"), wechattest.WithUser(wechattest.User{Name: "u1", Nickname: "小明"}))
	s := sim.Summary("http://127.0.0.1:9001")
	for _, want := range []string{"wxA", "secretA", "op", "u1", "小明", "localhost", "http://127.0.0.1:9001/connect/oauth2/authorize", "http://127.0.0.1:9001/sns/oauth2/access_token", "/mock/users"} {
		if !strings.Contains(s, want) {
			t.Errorf("Summary lacks %q:\n%s", want, s)
		}
	}
}

func TestDefaults(t *testing.T) {
	sim := wechattest.New()
	if a := sim.Apps(); len(a) != 1 || a[0].ID != wechattest.DefaultAppID || a[0].Secret != wechattest.DefaultAppSecret {
		t.Errorf("apps = %+v", a)
	}
	names := map[string]bool{}
	for _, u := range sim.Users() {
		names[u.Name] = u.Snapshot
	}
	if len(names) != 4 || !names["snap"] || names["alice"] {
		t.Errorf("users = %+v", sim.Users())
	}
	if sim.UnionID(wechattest.DefaultAppID, "alice") != "" {
		t.Error("default app should not be bound to an Open Platform")
	}
}
