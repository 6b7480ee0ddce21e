package wechattest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

const weChatJSONType = "application/json; encoding=utf-8"

// raw sends a request and returns the response and its exact body.
func raw(t *testing.T, method, rawURL, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, rawURL, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

var ridTail = regexp.MustCompile(`rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}"}$`)

// withoutRid replaces the per-request rid so bodies can be compared exactly.
func withoutRid(b []byte) string { return ridTail.ReplaceAllString(string(b), `rid: RID"}`) }

// strictDecode decodes one JSON value and fails on anything a strict parser
// would refuse: trailing bytes (a newline included), invalid UTF-8, duplicate
// keys, and \u escapes of & < > that WeChat does not write.
func strictDecode(data []byte) (map[string]any, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("not UTF-8")
	}
	for _, esc := range []string{`\u0026`, `\u003c`, `\u003e`} {
		if bytes.Contains(data, []byte(esc)) {
			return nil, fmt.Errorf("contains %s", esc)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := noDuplicateKeys(dec); err != nil {
		return nil, err
	}
	if off := dec.InputOffset(); off != int64(len(data)) {
		return nil, fmt.Errorf("%d trailing bytes %q after the value", int64(len(data))-off, data[off:])
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// noDuplicateKeys reads one value token by token, refusing repeated keys.
func noDuplicateKeys(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			if seen[k.(string)] {
				return fmt.Errorf("duplicate key %q", k)
			}
			seen[k.(string)] = true
			if err := noDuplicateKeys(dec); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := noDuplicateKeys(dec); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

func TestStrictDecoderRefusesWhatWeChatNeverSends(t *testing.T) {
	for _, bad := range []string{`{"a":1}` + "\n", `{"a":1} `, `{"a":1,"a":2}`, `{"u":"a\u0026b"}`, `{"a":1}{}`, "{\"a\":\"\xff\"}"} {
		if _, err := strictDecode([]byte(bad)); err == nil {
			t.Errorf("strictDecode(%q) accepted it", bad)
		}
	}
	if _, err := strictDecode([]byte(`{"a":[{"b":1},{"b":2}],"c":"&<>"}`)); err != nil {
		t.Errorf("strictDecode refused a good body: %v", err)
	}
}

func TestBodiesAreByteExactAsWeChatWritesThem(t *testing.T) {
	srv := newServer(t, wechattest.WithBoundApp(app, secret, "op"))
	tok := stableToken(t, srv)
	openID, unionID := srv.OpenID(app, "alice"), srv.UnionID(app, "alice")
	for _, tc := range []struct {
		name, method, url, body, want string
	}{
		{"success: menu/create", "POST", srv.URL + "/cgi-bin/menu/create?access_token=" + tok,
			`{"button":[{"type":"view","name":"<订单&>","url":"https://shop.example.com/?a=1&b=<2>"}]}`,
			`{"errcode":0,"errmsg":"ok"}`},
		{"success with & < >: menu/get", "GET", srv.URL + "/cgi-bin/menu/get?access_token=" + tok, "",
			`{"menu":{"button":[{"type":"view","name":"<订单&>","url":"https://shop.example.com/?a=1&b=<2>","sub_button":[]}],"menuid":208396939}}`},
		{"success: follower", "GET", srv.URL + "/cgi-bin/user/info?access_token=" + tok + "&openid=" + openID, "",
			`{"subscribe":1,"openid":"` + openID + `","nickname":"","sex":0,"language":"zh_CN","city":"","province":"","country":"","headimgurl":"","subscribe_time":1709285400,"unionid":"` + unionID + `","remark":"","groupid":0,"tagid_list":[],"subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene":0,"qr_scene_str":""}`},
		{"success: non-follower", "GET", srv.URL + "/cgi-bin/user/info?access_token=" + tok + "&openid=" + srv.OpenID(app, "bob"), "",
			`{"subscribe":0,"openid":"` + srv.OpenID(app, "bob") + `","tagid_list":[]}`},
		{"error: unknown code", "GET", srv.URL + "/sns/oauth2/access_token?appid=" + app + "&secret=" + secret + "&code=nope&grant_type=authorization_code", "",
			`{"errcode":40029,"errmsg":"invalid code, rid: RID"}`},
		{"error: bad token", "GET", srv.URL + "/cgi-bin/menu/get?access_token=bogus", "",
			`{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest, rid: RID"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := raw(t, tc.method, tc.url, tc.body)
			if ct := resp.Header.Get("Content-Type"); ct != weChatJSONType {
				t.Errorf("Content-Type %q, want %q", ct, weChatJSONType)
			}
			if got := withoutRid(body); got != tc.want {
				t.Errorf("body\n %s\nwant\n %s", got, tc.want)
			}
		})
	}
}

func TestFaultBodiesAreByteExact(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct {
		f    wechattest.Fault
		want string
	}{
		{wechattest.FaultBusy, `{"errcode":-1,"errmsg":"system error, rid: RID"}`},
		{wechattest.Fault{ErrCode: 40164, ClientIP: "203.0.113.7"}, `{"errcode":40164,"errmsg":"invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: RID"}`},
		{wechattest.FaultIPNotWhitelisted, `{"errcode":40164,"errmsg":"invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist rid: RID"}`},
		{wechattest.FaultTokenIPNotWhitelisted, `{"errcode":61004,"errmsg":"access clientip is not registered, not in ip-white-list, rid: RID"}`},
		{wechattest.FaultAwaitingAdmin, `{"errcode":89503,"errmsg":"此次调用需要管理员确认,请耐心等候, rid: RID"}`},
		{wechattest.FaultSecretFrozen, `{"errcode":40243,"errmsg":"AppSecret已被冻结，请登录MP解冻后再次调用。, rid: RID"}`},
		{wechattest.FaultQuota, `{"errcode":45009,"errmsg":"reach max api daily quota limit, rid: RID"}`},
		{wechattest.FaultMinuteQuota, `{"errcode":45011,"errmsg":"api minute-quota reach limit  mustslower  retry next minute, rid: RID"}`},
	} {
		srv.Fail("/cgi-bin/token", 1, tc.f)
		resp, body := raw(t, "GET", srv.URL+"/cgi-bin/token?grant_type=client_credential&appid="+app+"&secret="+secret, "")
		if got := withoutRid(body); got != tc.want || resp.Header.Get("Content-Type") != weChatJSONType {
			t.Errorf("fault %d: %s %q, want %s", tc.f.ErrCode, resp.Header.Get("Content-Type"), got, tc.want)
		}
	}
}

// stableToken fetches the basic token as any SDK would.
func stableToken(t *testing.T, srv *wechattest.Server) string {
	t.Helper()
	m := call(t, "POST", srv.URL+"/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"`+app+`","secret":"`+secret+`"}`)
	tok, _ := m["access_token"].(string)
	if tok == "" {
		t.Fatalf("stable_token: %v", m)
	}
	return tok
}

// TestEveryJSONBodyPassesAStrictParser calls every JSON API the simulator
// serves, in success and in error, and decodes each body strictly.
func TestEveryJSONBodyPassesAStrictParser(t *testing.T) {
	srv := newServer(t, wechattest.WithBoundApp(app, secret, "op"), wechattest.WithComponent(wechattest.Component{
		AppID: "wxcomponent0000001", Secret: "csecret", Token: "t", EncodingAESKey: strings.Repeat("a", 43), Authorizers: []string{app}}))
	b := srv.URL
	tok := stableToken(t, srv)
	ticket, _ := srv.PushTicket()
	ctokBody := call(t, "POST", b+"/cgi-bin/component/api_component_token", `{"component_appid":"wxcomponent0000001","component_appsecret":"csecret","component_verify_ticket":"`+ticket+`"}`)
	ctok, _ := ctokBody["component_access_token"].(string)
	ccode := srv.IssueComponentCode(app, "wxcomponent0000001", "alice", "snsapi_base")
	comp := "&component_appid=wxcomponent0000001&component_access_token=" + ctok
	code := srv.IssueCode(app, "bob", "snsapi_userinfo")
	exch := func(code string) string {
		return b + "/sns/oauth2/access_token?appid=" + app + "&secret=" + secret + "&code=" + code + "&grant_type=authorization_code"
	}
	_, body := raw(t, "GET", exch(code), "")
	web, err := strictDecode(body)
	if err != nil {
		t.Fatalf("code exchange: %v: %q", err, body)
	}
	at, rt, oid := web["access_token"].(string), web["refresh_token"].(string), web["openid"].(string)
	reqs := []struct{ method, url, body string }{
		{"GET", exch(code), ""}, // 40163
		{"GET", exch(srv.IssueCode(app, "snap", "snsapi_userinfo")), ""},
		{"GET", b + "/sns/oauth2/refresh_token?appid=" + app + "&grant_type=refresh_token&refresh_token=" + rt, ""},
		{"GET", b + "/sns/oauth2/refresh_token?appid=" + app + "&grant_type=refresh_token&refresh_token=x", ""},
		{"GET", b + "/sns/userinfo?access_token=" + at + "&openid=" + oid + "&lang=zh_CN", ""},
		{"GET", b + "/sns/userinfo?access_token=x&openid=" + oid, ""},
		{"GET", b + "/sns/auth?access_token=" + at + "&openid=" + oid, ""},
		{"GET", b + "/sns/auth?access_token=x&openid=o", ""},
		{"GET", b + "/cgi-bin/token?grant_type=client_credential&appid=" + app + "&secret=" + secret, ""},
		{"GET", b + "/cgi-bin/token?grant_type=client_credential&appid=" + app + "&secret=x", ""},
		{"POST", b + "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"` + app + `","secret":"` + secret + `","force_refresh":true}`},
		{"POST", b + "/cgi-bin/stable_token", `{`},
		{"GET", b + "/cgi-bin/user/info?access_token=" + tok + "&openid=" + srv.OpenID(app, "alice"), ""},
		{"GET", b + "/cgi-bin/user/info?access_token=" + tok + "&openid=" + srv.OpenID(app, "bob"), ""},
		{"GET", b + "/cgi-bin/ticket/getticket?access_token=" + tok + "&type=jsapi", ""},
		{"GET", b + "/cgi-bin/ticket/getticket?access_token=" + tok + "&type=nope", ""},
		{"GET", b + "/cgi-bin/menu/get?access_token=" + tok, ""}, // 46003
		{"GET", b + "/cgi-bin/get_current_selfmenu_info?access_token=" + tok, ""},
		{"POST", b + "/cgi-bin/menu/create?access_token=" + tok, `{"button":[{"name":"菜单","sub_button":[{"type":"click","name":"a&b","key":"k"}]},{"type":"view","name":"v","url":"https://x.example/?a=1&b=2"}]}`},
		{"POST", b + "/cgi-bin/menu/create?access_token=" + tok, `{"button":[{"type":"click","name":"a","key":""}]}`},
		{"GET", b + "/cgi-bin/menu/get?access_token=" + tok, ""},
		{"GET", b + "/cgi-bin/get_current_selfmenu_info?access_token=" + tok, ""},
		{"GET", b + "/cgi-bin/menu/delete?access_token=" + tok, ""},
		{"POST", b + "/cgi-bin/component/api_component_token", `{"component_appid":"wxcomponent0000001","component_appsecret":"csecret","component_verify_ticket":"x"}`},
		{"GET", b + "/sns/oauth2/component/access_token?appid=" + app + "&code=" + ccode + "&grant_type=authorization_code" + comp, ""},
		{"GET", b + "/sns/oauth2/component/access_token?appid=" + app + "&code=" + ccode + "&grant_type=authorization_code" + comp, ""}, // 40163
		{"GET", b + "/sns/oauth2/component/refresh_token?appid=" + app + "&grant_type=refresh_token&refresh_token=x" + comp, ""},
	}
	seen := map[string]bool{"/sns/oauth2/access_token": true}
	for _, r := range reqs {
		resp, body := raw(t, r.method, r.url, r.body)
		if _, err := strictDecode(body); err != nil || resp.Header.Get("Content-Type") != weChatJSONType {
			t.Errorf("%s %s: %v (Content-Type %q): %q", r.method, r.url, err, resp.Header.Get("Content-Type"), body)
		}
		seen[resp.Request.URL.Path] = true
	}
	for _, p := range srv.Paths() {
		if p != "/connect/oauth2/authorize" && p != "/connect/qrconnect" && !seen[p] { // the two HTML pages
			t.Errorf("%s serves JSON but this test never decoded it: add it", p)
		}
	}
}

func TestSummaryListsExactlyTheServedPaths(t *testing.T) {
	srv := newServer(t)
	s := srv.Summary("http://sim")
	for _, p := range srv.Paths() {
		if !strings.Contains(s, "http://sim"+p+"\n") {
			t.Errorf("Summary lacks %s", p)
		}
		resp, _ := raw(t, "GET", srv.URL+p, "")
		if resp.StatusCode == http.StatusNotFound {
			t.Errorf("%s is listed but not served", p)
		}
	}
	if n := strings.Count(s, "http://sim/"); n != len(srv.Paths())+2 { // + the user picker and the phone's scan page
		t.Errorf("Summary lists %d URLs, want the %d served paths, the picker and the scan page:\n%s", n, len(srv.Paths()), s)
	}
}
