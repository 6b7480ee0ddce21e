package wechatauth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The site's host as the default corp's app trusts it (可信域名, port included).
const wecomTestHost = "127.0.0.1:8443"

// wecomTestEnv is the simulator playing wechattest.DefaultCorp as a real
// server on loopback, and a sign-in for its app configured by edit.
type wecomTestEnv struct {
	sim   *wechattest.Server
	clock *wechattest.Clock
	in    *wecomSignIn
}

func newWeComTestEnv(t *testing.T, edit func(*WeCom)) *wecomTestEnv {
	t.Helper()
	return newWeComTestEnvOf(t, wechattest.DefaultCorp("8443"), edit)
}

// newWeComTestEnvOf is newWeComTestEnv for a corp of the test's own.
func newWeComTestEnvOf(t *testing.T, corp wechattest.Corp, edit func(*WeCom)) *wecomTestEnv {
	t.Helper()
	e := &wecomTestEnv{clock: wechattest.NewClock(time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC))}
	e.sim = wechattest.NewServer(wechattest.WithCorp(corp), wechattest.WithClock(e.clock))
	t.Cleanup(e.sim.Close)
	cfg := &WeCom{CorpID: wechattest.DefaultCorpID, AgentID: "1000002", Secret: wechattest.DefaultAgentSecret,
		APIBase: e.sim.URL, OpenBase: e.sim.URL, LoginBase: e.sim.URL}
	if edit != nil {
		edit(cfg)
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	api, err := cfg.client(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.in = newWeComSignIn(cfg, api, newWeComDepartments(api, time.Duration(cfg.DepartmentsTTL), e.clock.Now), zap.NewNop())
	return e
}

// signIn redeems a code WeCom issued to user (a member's userid, or a
// non-member's name) for a redirect on host.
func (e *wecomTestEnv) signIn(user, scope, host string) (*wecomMember, error) {
	code := e.sim.IssueWeComCode(wechattest.DefaultCorpID, wechattest.DefaultAgentID, user, scope, host)
	return e.in.member(context.Background(), code)
}

func wantRefused(t *testing.T, who string, m *wecomMember, err error, reason string) *wecomRefusal {
	t.Helper()
	var r *wecomRefusal
	if !errors.As(err, &r) || r.Reason != reason {
		t.Fatalf("%s: member = %+v, %v; want refused: %s", who, m, err, reason)
	}
	return r
}

func TestWeComMembersTheAppSeesSignIn(t *testing.T) {
	e := newWeComTestEnv(t, nil)
	m, err := e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost)
	if err != nil || m.CorpID != wechattest.DefaultCorpID || m.UserID != "zhangsan" || m.Name != "张三" ||
		!slices.Equal(m.Departments, []int64{3}) || m.PrivateInfo || m.OpenID != "" {
		t.Fatalf("zhangsan: %+v, %v", m, err)
	}
	// wangwu is in the visible range by name, not by department.
	if m, err := e.signIn("wangwu", wechat.WeComScopeBase, wecomTestHost); err != nil || m.Name != "王五" {
		t.Fatalf("wangwu: %+v, %v", m, err)
	}
	// lisi (销售部) is a member outside the app's visible range: WeCom's
	// getuserinfo still names him, user/get refuses (60011).
	m, err = e.signIn("lisi", wechat.WeComScopeBase, wecomTestHost)
	if r := wantRefused(t, "lisi", m, err, wecomRefusedInvisible); wechat.Code(r.Err) != 60011 || !strings.Contains(r.Error(), "可见范围") {
		t.Fatalf("lisi's refusal %v: want WeCom's 60011 with its visible-range hint for the log", r)
	}
	// The code was spent by the refused attempt: a second go starts over.
	code := e.sim.IssueWeComCode(wechattest.DefaultCorpID, wechattest.DefaultAgentID, "zhangsan", wechat.WeComScopeBase, wecomTestHost)
	if _, err := e.in.member(context.Background(), code); err != nil {
		t.Fatal(err)
	}
	if _, err := e.in.member(context.Background(), code); !wechat.IsInvalidCode(err) {
		t.Fatalf("a code redeemed twice: %v, want WeCom's 40029 (the callback restarts the login)", err)
	}
}

func TestWeComNonMembersCustomersAndLinkedCorpsAreRefusedUnlessAllowed(t *testing.T) {
	e := newWeComTestEnv(t, nil)
	m, err := e.signIn("alice", wechat.WeComScopeBase, wecomTestHost)
	wantRefused(t, "non-member alice", m, err, wecomRefusedNonMember)
	m, err = e.signIn("bob", wechat.WeComScopeBase, wecomTestHost)
	wantRefused(t, "customer bob", m, err, wecomRefusedCustomer)
	m, err = e.signIn("wwlinked000000001/zhaoliu", wechat.WeComScopeBase, wecomTestHost)
	wantRefused(t, "linked member zhaoliu", m, err, wecomRefusedLinkedCorp)

	e = newWeComTestEnv(t, func(c *WeCom) { c.AllowCustomers = true; c.AllowLinkedCorps = []string{"wwlinked000000001"} })
	if m, err := e.signIn("bob", wechat.WeComScopeBase, wecomTestHost); err != nil || m.OpenID == "" || m.ExternalUserID == "" || m.UserID != "" {
		t.Fatalf("customer bob under allow_customers: %+v, %v", m, err)
	}
	m, err = e.signIn("alice", wechat.WeComScopeBase, wecomTestHost)
	wantRefused(t, "non-member alice under allow_customers", m, err, wecomRefusedNonMember)
	if m, err := e.signIn("wwlinked000000001/zhaoliu", wechat.WeComScopeBase, wecomTestHost); err != nil ||
		m.CorpID != "wwlinked000000001" || m.UserID != "zhaoliu" {
		t.Fatalf("linked member under allow_linked_corps: %+v, %v", m, err)
	}

	e = newWeComTestEnv(t, func(c *WeCom) { c.AllowNonMembers = true; c.AllowUsers = []string{"wwlinked000000001/ZhaoLiu"} })
	if m, err := e.signIn("alice", wechat.WeComScopeBase, wecomTestHost); err != nil || m.OpenID == "" || m.ExternalUserID != "" {
		t.Fatalf("non-member alice under allow_non_members: %+v, %v", m, err)
	}
	if m, err := e.signIn("wwlinked000000001/zhaoliu", wechat.WeComScopeBase, wecomTestHost); err != nil || m.UserID != "zhaoliu" {
		t.Fatalf("linked member named in allow_users: %+v, %v", m, err)
	}
}

func TestWeComAllowUsersAndDepartmentsWithSubDepartments(t *testing.T) {
	// 研发部 (2) includes 后端组 (3): zhangsan may enter, wangwu (总部, 1) may not.
	e := newWeComTestEnv(t, func(c *WeCom) { c.AllowDepartments = []int64{2} })
	if m, err := e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost); err != nil || m.UserID != "zhangsan" {
		t.Fatalf("zhangsan under allow_departments 2: %+v, %v", m, err)
	}
	m, err := e.signIn("wangwu", wechat.WeComScopeBase, wecomTestHost)
	wantRefused(t, "wangwu under allow_departments 2", m, err, wecomRefusedNotAllowed)
	// A member in the visible range by name, in an allowed department by id.
	e = newWeComTestEnv(t, func(c *WeCom) { c.AllowDepartments = []int64{1} })
	if _, err := e.signIn("wangwu", wechat.WeComScopeBase, wecomTestHost); err != nil {
		t.Fatalf("wangwu under allow_departments 1: %v", err)
	}
	// The root department (1) holds every member even when the app's tree
	// stops below it: with only 后端组 (3) visible, the tree the app gets
	// has no 研发部 (2) and no 1 to walk up to.
	corp := wechattest.DefaultCorp("8443")
	corp.Apps[0].VisibleDepartments = []int64{3}
	e = newWeComTestEnvOf(t, corp, func(c *WeCom) { c.AllowDepartments = []int64{1} })
	if m, err := e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost); err != nil || m.UserID != "zhangsan" {
		t.Fatalf("zhangsan (后端组, the only visible department) under allow_departments 1: %+v, %v", m, err)
	}
	e = newWeComTestEnvOf(t, corp, func(c *WeCom) { c.AllowDepartments = []int64{4} })
	m, err = e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost)
	wantRefused(t, "zhangsan under allow_departments 4 (销售部)", m, err, wecomRefusedNotAllowed)
	// allow_users ignores case, as WeCom does; the visible range still holds.
	e = newWeComTestEnv(t, func(c *WeCom) { c.AllowUsers = []string{"WangWu", "lisi"} })
	if _, err := e.signIn("wangwu", wechat.WeComScopeBase, wecomTestHost); err != nil {
		t.Fatalf("wangwu under allow_users WangWu: %v", err)
	}
	m, err = e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost)
	wantRefused(t, "zhangsan under allow_users", m, err, wecomRefusedNotAllowed)
	m, err = e.signIn("lisi", wechat.WeComScopeBase, wecomTestHost)
	wantRefused(t, "lisi named in allow_users but outside the visible range", m, err, wecomRefusedInvisible)
}

func TestWeComPrivateInfoAddsTheMembersDetails(t *testing.T) {
	e := newWeComTestEnv(t, func(c *WeCom) { c.Scope = wecomScopePrivateInfo })
	m, err := e.signIn("zhangsan", wechat.WeComScopePrivateInfo, wecomTestHost)
	if err != nil || !m.PrivateInfo || m.Mobile != "13800000001" || m.Email != "zhangsan@example.com" || m.Gender != "1" || m.Avatar == "" {
		t.Fatalf("zhangsan under privateinfo: %+v, %v", m, err)
	}
	// A base code (a declined consent, a desktop login) signs in without them.
	if m, err := e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost); err != nil || m.PrivateInfo || m.Mobile != "" {
		t.Fatalf("zhangsan with a base code: %+v, %v", m, err)
	}
}

func TestWeComSetupErrorsNameTheSettingAndNeverTheSecret(t *testing.T) {
	e := newWeComTestEnv(t, nil)
	var ce *wecomConfigError
	// 50001: the callback's host is not the app's 可信域名 (the port differs).
	_, err := e.signIn("zhangsan", wechat.WeComScopeBase, "127.0.0.1:9443")
	if !errors.As(err, &ce) || wechat.Code(err) != 50001 || !strings.Contains(err.Error(), "可信域名") {
		t.Fatalf("code for an untrusted host: %v, want a config error naming 可信域名", err)
	}
	// 60020: the server's IP is not among the app's 企业可信IP.
	e.sim.EditCorp(wechattest.DefaultCorpID, func(c *wechattest.Corp) { c.Apps[0].TrustedIPs = []string{"203.0.113.9"} })
	_, err = e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost)
	if !errors.As(err, &ce) || wechat.Code(err) != 60020 || !strings.Contains(err.Error(), "企业可信IP") || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("untrusted IP: %v, want a config error naming 企业可信IP and this server's IP", err)
	}
	// 40001: the secret does not match (gettoken).
	e = newWeComTestEnv(t, func(c *WeCom) { c.Secret = "not-the-secret-of-this-app" })
	_, err = e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost)
	if !errors.As(err, &ce) || wechat.Code(err) != 40001 || !strings.Contains(err.Error(), "Secret") {
		t.Fatalf("wrong secret: %v, want a config error naming the Secret", err)
	}
	for _, s := range []string{wechattest.DefaultAgentSecret, "not-the-secret-of-this-app"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error text carries the secret: %v", err)
		}
	}
	// 48002: the app may not read members.
	e = newWeComTestEnv(t, nil)
	e.sim.EditCorp(wechattest.DefaultCorpID, func(c *wechattest.Corp) { c.Apps[0].DeniedAPIs = []string{"/cgi-bin/user/get"} })
	if _, err = e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost); !errors.As(err, &ce) || wechat.Code(err) != 48002 {
		t.Fatalf("user/get denied: %v, want a config error (48002)", err)
	}
}

func TestWeComDepartmentTreeIsKeptAndFetchedAgainForANewDepartment(t *testing.T) {
	e := newWeComTestEnv(t, func(c *WeCom) { c.AllowDepartments = []int64{2} })
	const list = "/cgi-bin/department/simplelist"
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := e.sim.CallCount(list); n != 1 {
		t.Fatalf("8 concurrent sign-ins fetched the department tree %d times, want 1", n)
	}
	// The admin creates 平台组 (6) under 研发部 and moves wangwu into it.
	e.sim.EditCorp(wechattest.DefaultCorpID, func(c *wechattest.Corp) {
		c.Departments = append(c.Departments, wechattest.Department{ID: 6, ParentID: 2, Name: "平台组"})
		c.Members[2].Departments = []int64{6}
	})
	// Within 30s of the last fetch the kept tree decides: 6 is unknown.
	m, err := e.signIn("wangwu", wechat.WeComScopeBase, wecomTestHost)
	wantRefused(t, "wangwu in a department created seconds ago", m, err, wecomRefusedNotAllowed)
	if n := e.sim.CallCount(list); n != 1 {
		t.Fatalf("an unknown department fetched the tree within 30s (%d fetches)", n)
	}
	e.clock.Advance(wecomDepartmentsRefetch)
	if _, err := e.signIn("wangwu", wechat.WeComScopeBase, wecomTestHost); err != nil {
		t.Fatalf("wangwu in 平台组 under 研发部, 30s later: %v", err)
	}
	if n := e.sim.CallCount(list); n != 2 {
		t.Fatalf("the unknown department made %d fetches in all, want 2", n)
	}
	// Known departments use the kept tree until departments_ttl ends.
	e.clock.Advance(defaultWeComDepartmentsTTL - time.Second)
	if _, err := e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost); err != nil || e.sim.CallCount(list) != 2 {
		t.Fatalf("within the TTL: %v, %d fetches", err, e.sim.CallCount(list))
	}
	e.clock.Advance(time.Second)
	if _, err := e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost); err != nil || e.sim.CallCount(list) != 3 {
		t.Fatalf("after the TTL: %v, %d fetches, want 3", err, e.sim.CallCount(list))
	}
	// A failed fetch keeps the old tree: 60020 from now on, yet members still sign in by it.
	e.clock.Advance(defaultWeComDepartmentsTTL)
	e.sim.EditCorp(wechattest.DefaultCorpID, func(c *wechattest.Corp) { c.Apps[0].DeniedAPIs = []string{list} })
	if _, err := e.signIn("zhangsan", wechat.WeComScopeBase, wecomTestHost); err != nil {
		t.Fatalf("with the tree's refetch refused (48002): %v, want the kept tree used", err)
	}
}
