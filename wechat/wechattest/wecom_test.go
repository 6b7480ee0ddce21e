package wechattest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// wecomEnv is a site on loopback (its host:port the app's 可信域名), a
// simulator playing wechattest.DefaultCorp, and a client for the app.
type wecomEnv struct {
	sim    *wechattest.Server
	site   *httptest.Server
	client *wechat.WeComClient
	clock  *wechattest.Clock

	mu  sync.Mutex
	got []url.Values // callback queries, in order
}

func newWeComEnv(t *testing.T, edit func(*wechattest.Corp)) *wecomEnv {
	t.Helper()
	e := &wecomEnv{clock: wechattest.NewClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))}
	e.site = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.got = append(e.got, r.URL.Query())
		e.mu.Unlock()
		w.Write([]byte("callback"))
	}))
	t.Cleanup(e.site.Close)
	_, port, _ := net.SplitHostPort(e.site.Listener.Addr().String())
	corp := wechattest.DefaultCorp(port)
	if edit != nil {
		edit(&corp)
	}
	e.sim = newServer(t, wechattest.WithCorp(corp), wechattest.WithClock(e.clock))
	var err error
	e.client, err = wechat.NewWeCom(wechat.WeComConfig{CorpID: corp.ID, AgentID: "1000002", Secret: wechattest.DefaultAgentSecret,
		APIBase: e.sim.URL, OpenBase: e.sim.URL, LoginBase: e.sim.URL, Now: e.clock.Now, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *wecomEnv) last(t *testing.T) url.Values {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.got) == 0 {
		t.Fatal("the site's callback was never reached")
	}
	return e.got[len(e.got)-1]
}

// signIn opens the in-client authorize URL in user's WeCom and returns the callback query.
func (e *wecomEnv) signIn(t *testing.T, user, scope, consent string) url.Values {
	t.Helper()
	b := wechattest.NewWeComBrowser(user)
	b.Consent = consent
	p := b.Get(t, e.client.AuthorizeURL(e.site.URL+"/cb", scope, "st4te"))
	if p.Body != "callback" {
		t.Fatalf("authorize did not reach the callback: %d %s\n%s", p.Status, p.Body, b.HopsString())
	}
	return e.last(t)
}

// checkClean fails when err's text carries a secret, code or token.
func checkClean(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, wechattest.DefaultAgentSecret) {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error text leaks %q: %v", s, err)
		}
	}
}

func TestWeComMemberSignsInSilentlyAndTheCodeRedeemsOnce(t *testing.T) {
	e := newWeComEnv(t, nil)
	ctx := context.Background()
	q := e.signIn(t, "zhangsan", wechat.WeComScopeBase, "")
	if q.Get("state") != "st4te" || q.Get("code") == "" {
		t.Fatalf("callback query %v, want code and state", q)
	}
	id, err := e.client.Identity(ctx, q.Get("code"))
	if err != nil || id.UserID != "zhangsan" || id.UserTicket != "" || id.OpenID != "" {
		t.Fatalf("Identity = %+v, %v; want member zhangsan without user_ticket", id, err)
	}
	u, err := e.client.User(ctx, id.UserID)
	if err != nil || u.Name != "张三" || !slices.Equal(u.Department, []int64{3}) || u.MainDepartment != 3 {
		t.Fatalf("User = %+v, %v", u, err)
	}
	_, err = e.client.Identity(ctx, q.Get("code"))
	if wechat.Code(err) != 40029 || !strings.Contains(err.Error(), "restart sign-in") {
		t.Fatalf("second redemption: %v, want 40029 with its hint", err)
	}
	checkClean(t, err, q.Get("code"))
	// 5 minutes on the simulator's clock end a code.
	q = e.signIn(t, "wangwu", wechat.WeComScopeBase, "")
	e.clock.Advance(5*time.Minute + time.Second)
	if _, err := e.client.Identity(ctx, q.Get("code")); wechat.Code(err) != 40029 {
		t.Fatalf("code after 5 minutes: %v, want 40029", err)
	}
	// One gettoken served all of these calls.
	if n := countCalls(e.sim, "/cgi-bin/gettoken"); n != 1 {
		t.Fatalf("gettoken called %d times, want 1 (the token is cached)", n)
	}
}

func countCalls(sim *wechattest.Server, path string) int {
	n := 0
	for _, c := range sim.Calls() {
		if c.Path == path {
			n++
		}
	}
	return n
}

func TestWeComPrivateInfoConsentGivesAUserTicketForDetails(t *testing.T) {
	e := newWeComEnv(t, nil)
	ctx := context.Background()
	// Declined: back to the callback with the state only.
	if q := e.signIn(t, "zhangsan", wechat.WeComScopePrivateInfo, "deny"); q.Has("code") || q.Get("state") != "st4te" {
		t.Fatalf("declined consent: callback %v, want state only", q)
	}
	// No answer: the consent page.
	b := wechattest.NewWeComBrowser("zhangsan")
	b.Consent = ""
	if p := b.Get(t, e.client.AuthorizeURL(e.site.URL+"/cb", wechat.WeComScopePrivateInfo, "s")); !strings.Contains(p.Body, "敏感信息") {
		t.Fatalf("privateinfo without an answer shows %d %s, want the consent page", p.Status, p.Body)
	}
	q := e.signIn(t, "zhangsan", wechat.WeComScopePrivateInfo, "allow")
	id, err := e.client.Identity(ctx, q.Get("code"))
	if err != nil || id.UserTicket == "" || !id.TicketExpires.Equal(e.clock.Now().Add(1800*time.Second)) {
		t.Fatalf("Identity = %+v, %v; want a user_ticket living 1800 s", id, err)
	}
	d, err := e.client.UserDetail(ctx, id.UserTicket)
	if err != nil || d.UserID != "zhangsan" || d.Mobile != "13800000001" || d.Gender != "1" {
		t.Fatalf("UserDetail = %+v, %v", d, err)
	}
	// Consent is remembered: no page the next time, even without an answer.
	if q := e.signIn(t, "zhangsan", wechat.WeComScopePrivateInfo, ""); q.Get("code") == "" {
		t.Fatalf("remembered consent: callback %v", q)
	}
	e.clock.Advance(1801 * time.Second)
	_, err = e.client.UserDetail(ctx, id.UserTicket)
	if wechat.Code(err) == 0 {
		t.Fatal("an expired user_ticket still gave details")
	}
	checkClean(t, err, id.UserTicket)
	// A member outside the visible range gets a userid but no user_ticket.
	q = e.signIn(t, "lisi", wechat.WeComScopePrivateInfo, "allow")
	if id, err := e.client.Identity(ctx, q.Get("code")); err != nil || id.UserID != "lisi" || id.UserTicket != "" {
		t.Fatalf("outside the visible range: %+v, %v; want userid lisi, no user_ticket", id, err)
	}
}

func TestWeComNonMembersCustomersAndLinkedCorpMembers(t *testing.T) {
	e := newWeComEnv(t, nil)
	ctx := context.Background()
	id, err := e.client.Identity(ctx, e.signIn(t, "bob", wechat.WeComScopeBase, "").Get("code"))
	if err != nil || id.IsMember() || id.OpenID == "" || id.ExternalUserID == "" {
		t.Fatalf("customer bob: %+v, %v; want openid and external_userid", id, err)
	}
	id, err = e.client.Identity(ctx, e.signIn(t, "carol", wechat.WeComScopeBase, "").Get("code"))
	if err != nil || id.IsMember() || id.OpenID == "" || id.ExternalUserID != "" {
		t.Fatalf("non-member carol: %+v, %v; want openid only", id, err)
	}
	id, err = e.client.Identity(ctx, e.signIn(t, "wwlinked000000001/zhaoliu", wechat.WeComScopeBase, "").Get("code"))
	corp, user, linked := id.LinkedCorp()
	if err != nil || !linked || corp != "wwlinked000000001" || user != "zhaoliu" {
		t.Fatalf("linked member: %+v, %v", id, err)
	}
	// The older API capitalises its fields; the client reads both shapes.
	id, err = e.client.IdentityOld(ctx, e.signIn(t, "wangwu", wechat.WeComScopeBase, "").Get("code"))
	if err != nil || id.UserID != "wangwu" || id.DeviceID == "" {
		t.Fatalf("IdentityOld = %+v, %v", id, err)
	}
	call := e.sim.Calls()
	if last := call[len(call)-1]; last.Path != "/cgi-bin/user/getuserinfo" {
		t.Fatalf("IdentityOld called %s", last.Path)
	}
}

func TestWeComDesktopLoginByScanningAsAMember(t *testing.T) {
	e := newWeComEnv(t, nil)
	desk := wechattest.NewDesktopBrowser()
	login := e.client.LoginURL(e.site.URL+"/cb", "d3sk")
	page := desk.Get(t, login)
	if !strings.Contains(page.Body, "企业微信") || page.ScanURL() == "" {
		t.Fatalf("login page: %d %s", page.Status, page.Body)
	}
	// lisi is outside the app's visible range: WeCom says 无权限 and the code stays unanswered.
	phone := wechattest.NewWeComBrowser("lisi")
	if p := phone.Get(t, page.ScanURL()); !strings.Contains(p.Body, "无权限") {
		t.Fatalf("scan by lisi: %s", p.Body)
	}
	phone = wechattest.NewWeComBrowser("zhangsan")
	phone.Consent = "allow"
	phone.Get(t, page.ScanURL())
	if p := desk.Get(t, e.sim.URL+"/wwlogin/sso/poll?uuid="+strings.TrimPrefix(page.ScanURL(), e.sim.URL+"/mock/wecom/scan?uuid=")); p.Body != "callback" {
		t.Fatalf("poll after confirming: %d %s", p.Status, p.Body)
	}
	q := e.last(t)
	id, err := e.client.Identity(context.Background(), q.Get("code"))
	if err != nil || id.UserID != "zhangsan" || id.UserTicket != "" || q.Get("state") != "d3sk" {
		t.Fatalf("desktop login: %v %+v, %v; want zhangsan, no user_ticket", q, id, err)
	}
	// Personal WeChat cannot use the in-client authorize of a corp.
	b := wechattest.NewBrowser("zhangsan")
	if p := b.Get(t, e.client.AuthorizeURL(e.site.URL+"/cb", wechat.WeComScopeBase, "s")); !strings.Contains(p.Body, "请在企业微信客户端打开链接") {
		t.Fatalf("WeChat on the WeCom authorize: %s", p.Body)
	}
}

func TestWeComSetupErrcodesAndTheirHints(t *testing.T) {
	ctx := context.Background()
	e := newWeComEnv(t, func(c *wechattest.Corp) {
		c.Apps[0].DeniedAPIs = []string{"/cgi-bin/department/simplelist"}
	})
	host := strings.TrimPrefix(e.site.URL, "http://")
	// 50001: the redirect host differs from the 可信域名 by its port.
	otherPort := "localhost:1"
	b := wechattest.NewWeComBrowser("zhangsan")
	if p := b.Get(t, e.client.AuthorizeURL("http://"+otherPort+"/cb", wechat.WeComScopeBase, "s")); p.Header.Get("X-WeChat-Mock-Error") != "50001" {
		t.Fatalf("authorize for an untrusted host: %s", p.Body)
	}
	code := e.sim.IssueWeComCode(wechattest.DefaultCorpID, 0, "zhangsan", wechat.WeComScopeBase, strings.Replace(host, "127.0.0.1", "localhost", 1)+"0")
	_, err := e.client.Identity(ctx, code)
	if wechat.Code(err) != 50001 || !strings.Contains(err.Error(), "可信域名") {
		t.Fatalf("code for an untrusted host: %v", err)
	}
	checkClean(t, err, code)
	// 40056: an agentid that is no app.
	if p := b.Get(t, strings.Replace(e.client.AuthorizeURL(e.site.URL+"/cb", wechat.WeComScopeBase, "s"), "agentid=1000002", "agentid=999", 1)); p.Header.Get("X-WeChat-Mock-Error") != "40056" {
		t.Fatalf("authorize with agentid 999: %s", p.Body)
	}
	// 60011: user/get of a member outside the visible range; 48002: an API the app lacks.
	if _, err := e.client.User(ctx, "lisi"); wechat.Code(err) != 60011 || !strings.Contains(err.Error(), "可见范围") {
		t.Fatalf("User(lisi): %v", err)
	}
	if _, err := e.client.Departments(ctx, 0); wechat.Code(err) != 48002 {
		t.Fatalf("Departments without permission: %v", err)
	}
	// 40001 and 40013 from gettoken name what to copy again.
	for _, tc := range []struct {
		corp, secret string
		code         int
		says         string
	}{{wechattest.DefaultCorpID, "wrongsecret", 40001, "Secret"}, {"wwnosuchcorp", wechattest.DefaultAgentSecret, 40013, "企业ID"}} {
		c, _ := wechat.NewWeCom(wechat.WeComConfig{CorpID: tc.corp, AgentID: "1000002", Secret: tc.secret, APIBase: e.sim.URL, MaxRetries: -1})
		_, err := c.Token(ctx)
		if wechat.Code(err) != tc.code || !strings.Contains(err.Error(), tc.says) {
			t.Fatalf("Token with %s/%s: %v", tc.corp, tc.secret, err)
		}
		checkClean(t, err, tc.secret)
	}
}

func TestWeComUntrustedIPGetsTokensButNoData(t *testing.T) {
	e := newWeComEnv(t, func(c *wechattest.Corp) { c.Apps[0].TrustedIPs = []string{"203.0.113.7"} })
	ctx := context.Background()
	if _, err := e.client.Token(ctx); err != nil {
		t.Fatalf("gettoken from an untrusted IP: %v (WeCom hands out the token)", err)
	}
	q := e.signIn(t, "zhangsan", wechat.WeComScopeBase, "")
	_, err := e.client.Identity(ctx, q.Get("code"))
	var ae *wechat.APIError
	if !errors.As(err, &ae) || ae.Code != 60020 || !strings.Contains(ae.Hint(), "127.0.0.1") {
		t.Fatalf("Identity from an untrusted IP: %v; want 60020 naming 127.0.0.1", err)
	}
}

func TestWeComTokenIsFetchedOnceAndRefetchedWhenRejected(t *testing.T) {
	e := newWeComEnv(t, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = e.client.Token(ctx) }()
	}
	wg.Wait()
	if n := countCalls(e.sim, "/cgi-bin/gettoken"); n != 1 {
		t.Fatalf("8 concurrent Token calls made %d gettoken calls, want 1", n)
	}
	// Expired on WeCom's side before the cache thinks so: 42001, one refetch, success.
	e.sim.Fail("/cgi-bin/user/get", 1, wechattest.Fault{ErrCode: 42001})
	if _, err := e.client.User(ctx, "zhangsan"); err != nil {
		t.Fatalf("User after a 42001: %v", err)
	}
	if n := countCalls(e.sim, "/cgi-bin/gettoken"); n != 2 {
		t.Fatalf("gettoken calls after a rejected token: %d, want 2", n)
	}
	// Near the end of its 7200 s the token is replaced ahead of expiry.
	e.clock.Advance(7200*time.Second - 4*time.Minute)
	if _, err := e.client.Token(ctx); err != nil || countCalls(e.sim, "/cgi-bin/gettoken") != 3 {
		t.Fatalf("token 4 minutes before expiry was not refreshed: %v", err)
	}
}

func TestWeComDepartmentsIncludeTheirSubDepartments(t *testing.T) {
	e := newWeComEnv(t, func(c *wechattest.Corp) { c.Apps[0].VisibleDepartments = []int64{1} })
	tree, err := e.client.Departments(context.Background(), 0)
	if err != nil || len(tree) != 4 {
		t.Fatalf("Departments = %v, %v", tree, err)
	}
	sub, err := e.client.Departments(context.Background(), 2)
	if err != nil || len(sub) != 2 {
		t.Fatalf("Departments(2) = %v, %v; want 2 and 3", sub, err)
	}
	if all, err := e.client.Departments(context.Background(), 1); err != nil || len(all) != 4 {
		t.Fatalf("Departments(1) = %v, %v; want 1 and every level below it", all, err)
	}
	if !wechat.WithinDepartments([]int64{3}, []int64{2}, tree) || wechat.WithinDepartments([]int64{4}, []int64{2}, tree) {
		t.Fatal("WithinDepartments: 后端组 (3) is in 研发部 (2), 销售部 (4) is not")
	}
}

// TestWeComJSONBodiesPassAStrictParser calls every WeCom API, in success and
// in error, decodes each body strictly, and checks Summary lists the paths.
func TestWeComJSONBodiesPassAStrictParser(t *testing.T) {
	e := newWeComEnv(t, nil)
	b := e.sim.URL
	tok, err := e.client.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(e.site.URL, "http://")
	ticketCode := e.sim.IssueWeComCode(wechattest.DefaultCorpID, wechattest.DefaultAgentID, "zhangsan", "snsapi_privateinfo", host)
	id, err := e.client.Identity(context.Background(), ticketCode)
	if err != nil || id.UserTicket == "" {
		t.Fatalf("privateinfo code: %+v, %v", id, err)
	}
	code := func(user string) string {
		return e.sim.IssueWeComCode(wechattest.DefaultCorpID, 0, user, "snsapi_base", host)
	}
	reqs := []struct{ method, url, body string }{
		{"GET", b + "/cgi-bin/gettoken?corpid=" + wechattest.DefaultCorpID + "&corpsecret=" + wechattest.DefaultAgentSecret, ""},
		{"GET", b + "/cgi-bin/gettoken?corpid=" + wechattest.DefaultCorpID + "&corpsecret=x", ""},
		{"GET", b + "/cgi-bin/auth/getuserinfo?access_token=" + tok + "&code=" + code("zhangsan"), ""},
		{"GET", b + "/cgi-bin/auth/getuserinfo?access_token=" + tok + "&code=" + code("bob"), ""},
		{"GET", b + "/cgi-bin/auth/getuserinfo?access_token=" + tok + "&code=x", ""},
		{"GET", b + "/cgi-bin/user/getuserinfo?access_token=" + tok + "&code=" + code("wangwu"), ""},
		{"GET", b + "/cgi-bin/user/getuserinfo?access_token=x&code=x", ""},
		{"POST", b + "/cgi-bin/auth/getuserdetail?access_token=" + tok, `{"user_ticket":"` + id.UserTicket + `"}`},
		{"POST", b + "/cgi-bin/auth/getuserdetail?access_token=" + tok, `{"user_ticket":"x"}`},
		{"GET", b + "/cgi-bin/user/get?access_token=" + tok + "&userid=zhangsan", ""},
		{"GET", b + "/cgi-bin/user/get?access_token=" + tok + "&userid=lisi", ""},
		{"GET", b + "/cgi-bin/department/simplelist?access_token=" + tok, ""},
		{"GET", b + "/cgi-bin/department/simplelist?access_token=" + tok + "&id=99", ""},
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		resp, body := raw(t, r.method, r.url, r.body)
		if _, err := strictDecode(body); err != nil || resp.Header.Get("Content-Type") != weChatJSONType {
			t.Errorf("%s %s: %v (Content-Type %q): %q", r.method, r.url, err, resp.Header.Get("Content-Type"), body)
		}
		seen[resp.Request.URL.Path] = true
	}
	s := e.sim.Summary("http://sim")
	if !strings.Contains(s, "WeCom corp "+wechattest.DefaultCorpID) || !strings.Contains(s, "member zhangsan") {
		t.Errorf("Summary does not list the corp and its members:\n%s", s)
	}
	for _, p := range e.sim.Paths() {
		wecom := slices.Contains([]string{"/cgi-bin/gettoken", "/cgi-bin/auth/getuserinfo", "/cgi-bin/user/getuserinfo",
			"/cgi-bin/auth/getuserdetail", "/cgi-bin/user/get", "/cgi-bin/department/simplelist"}, p)
		if wecom != seen[p] {
			t.Errorf("%s: a WeCom API %v, decoded %v", p, wecom, seen[p])
		}
		if !strings.Contains(s, "http://sim"+p+"\n") {
			t.Errorf("Summary lacks %s", p)
		}
	}
}

func TestWeComUserAgentsAreWeComAndNotWeChat(t *testing.T) {
	e := newWeComEnv(t, nil)
	// Windows WeCom also says WindowsWechat: still WeCom.
	b := wechattest.NewWeComBrowser("zhangsan")
	b.UserAgent = wechattest.WeComWindowsUA
	if p := b.Get(t, e.client.AuthorizeURL(e.site.URL+"/cb", wechat.WeComScopeBase, "s")); p.Body != "callback" {
		t.Fatalf("Windows WeCom on the WeCom authorize: %s", p.Body)
	}
	// WeCom opening an Official Account's authorize URL gets the open-in-WeChat page.
	oa := e.sim.URL + "/connect/oauth2/authorize?appid=" + wechattest.DefaultAppID + "&redirect_uri=" +
		url.QueryEscape(e.site.URL+"/cb") + "&response_type=code&scope=snsapi_base&state=s#wechat_redirect"
	for _, ua := range []string{wechattest.WeComIPhoneUA, wechattest.WeComWindowsUA} {
		b.UserAgent = ua
		if p := b.Get(t, oa); p.Body == "callback" {
			t.Fatalf("%s passed the Official Account's authorize", ua)
		}
	}
}

// An admin changing the corp while the simulator runs: a ticket-holder
// removed from the visible range gets 60021 from getuserdetail and 60011
// from user/get; a new department under 研发部 shows in simplelist at once.
func TestWeComEditCorpWhileRunning(t *testing.T) {
	e := newWeComEnv(t, nil)
	ctx := context.Background()
	q := e.signIn(t, "zhangsan", wechat.WeComScopePrivateInfo, "allow")
	id, err := e.client.Identity(ctx, q.Get("code"))
	if err != nil || id.UserTicket == "" {
		t.Fatalf("Identity = %+v, %v; want a user_ticket", id, err)
	}
	if !e.sim.EditCorp(wechattest.DefaultCorpID, func(c *wechattest.Corp) {
		c.Apps[0].VisibleDepartments = []int64{4}
		c.Departments = append(c.Departments, wechattest.Department{ID: 5, ParentID: 4, Name: "华南销售"})
	}) {
		t.Fatal("EditCorp did not find the default corp")
	}
	if _, err := e.client.UserDetail(ctx, id.UserTicket); wechat.Code(err) != 60021 || !strings.Contains(err.Error(), "可见范围") {
		t.Fatalf("UserDetail after leaving the visible range: %v, want 60021 with its hint", err)
	}
	if _, err := e.client.User(ctx, "zhangsan"); wechat.Code(err) != 60011 {
		t.Fatalf("User after leaving the visible range: %v, want 60011", err)
	}
	tree, err := e.client.Departments(ctx, 0)
	if err != nil || len(tree) != 2 || tree[0].ID != 4 || tree[1].ID != 5 {
		t.Fatalf("Departments(0) after the edit = %+v, %v; want 4 and its new child 5", tree, err)
	}
	if e.sim.EditCorp("wwnosuchcorp", func(*wechattest.Corp) {}) {
		t.Fatal("EditCorp of an unknown corp reported success")
	}
	if c := e.sim.Corps()[0]; len(c.Departments) != 5 || slices.Equal(c.Apps[0].VisibleDepartments, []int64{2}) {
		t.Fatalf("Corps() after the edit = %+v", c)
	}
}

// agent/get describes the token's own app (visible range, 可信域名, not
// disabled) and refuses another app's agentid with 301002, an error the
// operator must fix.
func TestWeComAgentGetDescribesTheTokensOwnApp(t *testing.T) {
	e := newWeComEnv(t, func(c *wechattest.Corp) {
		c.Apps = append(c.Apps, wechattest.CorpApp{AgentID: 1000003, Secret: "othersecret0123456789abcdefghijklmnopqrst", VisibleUsers: []string{"lisi"}})
	})
	a, err := e.client.Agent(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(e.site.Listener.Addr().String())
	if a.AgentID != 1000002 || a.Close != 0 || a.RedirectDomain != "localhost:"+port || a.VisibleNobody() ||
		fmt.Sprint(a.AllowParties.PartyID) != "[2]" || len(a.AllowUserInfos.User) != 1 || a.AllowUserInfos.User[0].UserID != "wangwu" {
		t.Errorf("agent/get = %+v", a)
	}
	other, err := wechat.NewWeCom(wechat.WeComConfig{CorpID: wechattest.DefaultCorpID, AgentID: "1000003", Secret: wechattest.DefaultAgentSecret, APIBase: e.sim.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Agent(context.Background())
	if wechat.Code(err) != 301002 || !wechat.IsWeComConfig(err) || !strings.Contains(err.Error(), "another agent") {
		t.Errorf("agent/get for another app's agentid: %v (config %v), want 301002", err, wechat.IsWeComConfig(err))
	}
}
