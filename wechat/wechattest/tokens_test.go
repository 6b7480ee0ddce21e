package wechattest_test

import (
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

func TestStableTokenForceRefreshIsCountedAndSpaced(t *testing.T) {
	// 2025-01-01 10:00 in Beijing.
	clock := wechattest.NewClock(time.Date(2025, 1, 1, 2, 0, 0, 0, time.UTC))
	srv := newServer(t, wechattest.WithClock(clock))
	stable := func(force bool) string {
		f := "false"
		if force {
			f = "true"
		}
		m := call(t, "POST", srv.URL+"/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"`+app+`","secret":"`+secret+`","force_refresh":`+f+`}`)
		return m["access_token"].(string)
	}
	use := func(tok string) int {
		return errcode(call(t, "GET", srv.URL+"/cgi-bin/menu/get?access_token="+tok, ""))
	}
	first := stable(false)
	if stable(false) != first {
		t.Fatal("normal mode renewed the token")
	}
	second := stable(true)
	if second == first {
		t.Fatal("force_refresh kept the token")
	}
	if got := use(first); got != 40001 {
		t.Errorf("token replaced by force_refresh: errcode %d, want 40001 at once", got)
	}
	if stable(true) != second {
		t.Error("a second force_refresh within 30 s renewed the token")
	}
	clock.Advance(30 * time.Second)
	cur := stable(true)
	if cur == second {
		t.Error("force_refresh 30 s later kept the token")
	}
	for i := 3; i <= 20; i++ {
		clock.Advance(30 * time.Second)
		cur = stable(true)
	}
	if n := srv.DailyCount(app, "/cgi-bin/stable_token#force"); n != 20 {
		t.Fatalf("force refreshes counted: %d, want 20", n)
	}
	clock.Advance(time.Minute)
	if stable(true) != cur {
		t.Error("a 21st force_refresh in one day renewed the token")
	}
	if got := use(cur); got != 46003 {
		t.Errorf("current token after the refused force_refresh: errcode %d, want valid", got)
	}
	// The count resets at midnight in Beijing (16:00 UTC).
	clock.Advance(14 * time.Hour)
	if stable(true) == cur {
		t.Error("force_refresh on the next day kept the token")
	}
}

func TestDailyQuotaAnswers45009(t *testing.T) {
	srv := newServer(t, wechattest.WithDailyQuota("/cgi-bin/token", 2))
	tokenURL := srv.URL + "/cgi-bin/token?grant_type=client_credential&appid=" + app + "&secret=" + secret
	for i, want := range []int{0, 0, 45009} {
		if got := errcode(call(t, "GET", tokenURL, "")); got != want {
			t.Errorf("call %d: errcode %d, want %d", i+1, got, want)
		}
	}
	if n := srv.DailyCount(app, "/cgi-bin/token"); n != 2 {
		t.Errorf("DailyCount = %d, want 2", n)
	}
}

func TestGetTicketIssuesJSAPITicketsCountedPerDay(t *testing.T) {
	clock := wechattest.NewClock(time.Date(2025, 1, 1, 2, 0, 0, 0, time.UTC))
	srv := newServer(t, wechattest.WithClock(clock), wechattest.WithDailyQuota("/cgi-bin/ticket/getticket", 2))
	tok := stableToken(t, srv)
	u := srv.URL + "/cgi-bin/ticket/getticket?access_token=" + tok + "&type=jsapi"
	resp, body := raw(t, "GET", u, "")
	m, err := strictDecode(body)
	if err != nil {
		t.Fatal(err)
	}
	ticket, _ := m["ticket"].(string)
	if want := `{"errcode":0,"errmsg":"ok","ticket":"` + ticket + `","expires_in":7200}`; string(body) != want || ticket == "" ||
		resp.Header.Get("Content-Type") != weChatJSONType {
		t.Fatalf("getticket body %s, want %s", body, want)
	}
	if srv.JSAPITicket(app) != ticket || !srv.ValidJSAPITicket(app, ticket) || srv.ValidJSAPITicket("wxother", ticket) {
		t.Error("the issued ticket is not the app's valid ticket")
	}
	if got := errcode(call(t, "GET", u, "")); got != 0 || srv.DailyCount(app, "/cgi-bin/ticket/getticket") != 2 {
		t.Errorf("second getticket: errcode %d, count %d", got, srv.DailyCount(app, "/cgi-bin/ticket/getticket"))
	}
	if got := errcode(call(t, "GET", u, "")); got != 45009 {
		t.Errorf("third getticket over a quota of 2: errcode %d, want 45009", got)
	}
	for _, tc := range []struct {
		url  string
		code int
	}{
		{srv.URL + "/cgi-bin/ticket/getticket?access_token=" + tok + "&type=wx_card_nope", 40097},
		{srv.URL + "/cgi-bin/ticket/getticket?access_token=" + tok, 40097},
		{srv.URL + "/cgi-bin/ticket/getticket?access_token=bogus&type=jsapi", 40001},
		{srv.URL + "/cgi-bin/ticket/getticket?type=jsapi", 41001},
	} {
		if got := errcode(call(t, "GET", tc.url, "")); got != tc.code {
			t.Errorf("%s: errcode %d, want %d", tc.url, got, tc.code)
		}
	}
	clock.Advance(7200 * time.Second)
	if srv.ValidJSAPITicket(app, ticket) {
		t.Error("a ticket is valid after 7200 s")
	}
}

func TestUnionIDOnlyWhereWeChatSendsIt(t *testing.T) {
	srv := newServer(t, wechattest.WithBoundApp(app, secret, "op"))
	exch := func(user, scope string) map[string]any {
		return call(t, "GET", srv.URL+"/sns/oauth2/access_token?appid="+app+"&secret="+secret+"&code="+srv.IssueCode(app, user, scope)+"&grant_type=authorization_code", "")
	}
	if _, ok := exch("alice", "snsapi_base")["unionid"]; ok {
		t.Error("code exchange for snsapi_base carries a unionid")
	}
	if got := exch("alice", "snsapi_userinfo")["unionid"]; got != srv.UnionID(app, "alice") || got == "" {
		t.Errorf("code exchange for snsapi_userinfo: unionid %v", got)
	}
	tok := stableToken(t, srv)
	follower := call(t, "GET", srv.URL+"/cgi-bin/user/info?access_token="+tok+"&openid="+srv.OpenID(app, "alice"), "")
	if follower["unionid"] != srv.UnionID(app, "alice") {
		t.Errorf("follower of a bound app: %v, want its unionid", follower)
	}
	for _, k := range []string{"nickname", "sex", "city", "province", "country", "headimgurl"} {
		if v, ok := follower[k]; !ok || (v != "" && v != float64(0)) {
			t.Errorf("follower %s = %v (present %v), want the emptied field", k, v, ok)
		}
	}
	nonFollower := call(t, "GET", srv.URL+"/cgi-bin/user/info?access_token="+tok+"&openid="+srv.OpenID(app, "bob"), "")
	if _, ok := nonFollower["unionid"]; ok || len(nonFollower) != 3 {
		t.Errorf("non-follower: %v, want subscribe, openid and tagid_list only", nonFollower)
	}
}

func TestSimulatorValidatesMenusByItsOwnRules(t *testing.T) {
	srv := newServer(t)
	create := srv.URL + "/cgi-bin/menu/create?access_token=" + stableToken(t, srv)
	long := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"four buttons", `{"button":[{"type":"click","name":"a","key":"a"},{"type":"click","name":"b","key":"b"},{"type":"click","name":"c","key":"c"},{"type":"click","name":"d","key":"d"}]}`, 40016},
		{"unknown type", `{"button":[{"type":"nope","name":"a","key":"a"}]}`, 40017},
		{"17-byte name", `{"button":[{"type":"click","name":"` + long(17) + `","key":"a"}]}`, 40018},
		{"6 Chinese characters (18 bytes)", `{"button":[{"type":"click","name":"一二三四五六","key":"a"}]}`, 40018},
		{"5 Chinese characters (15 bytes)", `{"button":[{"type":"click","name":"一二三四五","key":"a"}]}`, 0},
		{"129-byte key", `{"button":[{"type":"click","name":"a","key":"` + long(129) + `"}]}`, 40019},
		{"click without key", `{"button":[{"type":"click","name":"a"}]}`, 40019},
		{"view without url", `{"button":[{"type":"view","name":"a"}]}`, 40020},
		{"1025-byte url", `{"button":[{"type":"view","name":"a","url":"https://x.example/` + long(1007) + `"}]}`, 40020},
		{"six sub-buttons", `{"button":[{"name":"m","sub_button":[{"type":"click","name":"1","key":"1"},{"type":"click","name":"2","key":"2"},{"type":"click","name":"3","key":"3"},{"type":"click","name":"4","key":"4"},{"type":"click","name":"5","key":"5"},{"type":"click","name":"6","key":"6"}]}]}`, 40023},
		{"sub without type", `{"button":[{"name":"m","sub_button":[{"name":"1","key":"1"}]}]}`, 40024},
		{"61-byte sub name", `{"button":[{"name":"m","sub_button":[{"type":"click","name":"` + long(61) + `","key":"1"}]}]}`, 40025},
		{"60-byte sub name", `{"button":[{"name":"m","sub_button":[{"type":"click","name":"` + long(60) + `","key":"1"}]}]}`, 0},
		{"sub without key", `{"button":[{"name":"m","sub_button":[{"type":"scancode_push","name":"1"}]}]}`, 40026},
		{"sub view without url", `{"button":[{"name":"m","sub_button":[{"type":"view","name":"1"}]}]}`, 40027},
		{"miniprogram without appid", `{"button":[{"type":"miniprogram","name":"a","url":"https://x.example/","pagepath":"p"}]}`, 40166},
		{"miniprogram without pagepath", `{"button":[{"type":"miniprogram","name":"a","url":"https://x.example/","appid":"wxa"}]}`, 40165},
		{"article_id without id", `{"button":[{"type":"article_id","name":"a"}]}`, 40007},
		{"Chinese as \\u escapes", `{"button":[{"type":"click","name":"\u83dc","key":"a"}]}`, 40033},
		{"every type", `{"button":[{"name":"a","sub_button":[{"type":"click","name":"1","key":"k"},{"type":"view","name":"2","url":"https://x.example/"},{"type":"miniprogram","name":"3","url":"https://x.example/","appid":"wxa","pagepath":"p"},{"type":"location_select","name":"4","key":"k"},{"type":"media_id","name":"5","media_id":"m"}]},{"name":"b","sub_button":[{"type":"scancode_waitmsg","name":"1","key":"k"},{"type":"pic_sysphoto","name":"2","key":"k"},{"type":"pic_photo_or_album","name":"3","key":"k"},{"type":"pic_weixin","name":"4","key":"k"},{"type":"view_limited","name":"5","media_id":"m"}]},{"name":"c","sub_button":[{"type":"article_id","name":"1","article_id":"a"},{"type":"article_view_limited","name":"2","article_id":"a"},{"type":"scancode_push","name":"3","key":"k"}]}]}`, 0},
	} {
		if got := errcode(call(t, "POST", create, tc.body)); got != tc.code {
			t.Errorf("%s: errcode %d, want %d", tc.name, got, tc.code)
		}
	}
}
