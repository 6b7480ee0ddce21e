package wechattest

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// The simulator as a WeCom (企业微信) corp: members in a department tree,
// self-built apps with an AgentId, a Secret, a visible range (可见范围),
// trusted domains (可信域名) and trusted IPs (企业可信IP). It keeps its own
// copy of WeCom's rules (docs/wechat.md, "WeCom"); the paths are WeCom's
// (qyapi.weixin.qq.com, open.weixin.qq.com, login.work.weixin.qq.com), all
// served from the one simulator address.

// Corp is a WeCom corp the simulator plays (WithCorp).
type Corp struct {
	// ID is the corp ID (企业ID), the appid of WeCom's authorize URLs.
	ID string
	// Departments is the department tree; the root has ParentID 0.
	Departments []Department
	// Members are the corp's staff.
	Members []Member
	// Apps are the corp's self-built apps.
	Apps []CorpApp
	// Customers names test users (User.Name, not members) who are customers
	// (客户) of the corp: signing in they get an external_userid besides the openid.
	Customers []string
}

// Department is one node of a corp's department tree.
type Department struct {
	ID, ParentID int64
	Name         string
}

// Member is a member of a corp; the simulator's UserHeader (or picker
// cookie) names them by UserID.
type Member struct {
	// UserID is the member's userid; a 互联企业 member reads "CorpId/userid".
	UserID string
	// Name is the member's name (UTF-8).
	Name string
	// Departments are the member's department ids; the first is the main one.
	Departments []int64
	// Mobile, Email, Gender ("1" male, "2" female) are returned by
	// getuserdetail only under snsapi_privateinfo consent.
	Mobile, Email, Gender string
}

// CorpApp is a self-built app (自建应用) of a corp.
type CorpApp struct {
	AgentID int64
	Secret  string
	// VisibleDepartments and VisibleUsers are the visible range (可见范围); a
	// department includes its sub-departments. Both empty: nobody.
	VisibleDepartments []int64
	VisibleUsers       []string
	// TrustedDomains are the 可信域名: hosts that redirect_uri must match
	// exactly, port included ("127.0.0.1:8080"); no scheme, path or wildcard.
	TrustedDomains []string
	// TrustedIPs are the 企业可信IP: when set, data APIs (not gettoken) called
	// from another IP answer 60020. Empty: any IP (as for apps made before 2022-06-20).
	TrustedIPs []string
	// DeniedAPIs are API paths the app lacks permission for: they answer 48002.
	DeniedAPIs []string
	// Disabled is an app stopped (停用) in the console: gettoken with its
	// Secret answers 40001 ("…应用已经停用", path 90313).
	Disabled bool
}

// Test corp defaults, for WithCorp(DefaultCorp()).
const (
	DefaultCorpID      = "ww0123456789abcdef"
	DefaultAgentID     = 1000002
	DefaultAgentSecret = "wecomsecret0123456789abcdefghijklmnopqrstu"
)

// DefaultCorp is a small corp: 总部 (1) with 研发部 (2, and its 后端组 3) and
// 销售部 (4); members zhangsan (3), lisi (4), wangwu (1) and a 互联企业 member;
// one app seeing department 2 (so 3 too) and wangwu, trusting the loopback
// hosts at port (e.g. "8080"; "" trusts the bare hosts); customer bob.
func DefaultCorp(port string) Corp {
	var hosts []string
	for _, h := range []string{"localhost", "127.0.0.1"} {
		if port != "" {
			h = net.JoinHostPort(h, port)
		}
		hosts = append(hosts, h)
	}
	return Corp{ID: DefaultCorpID,
		Departments: []Department{{1, 0, "总部"}, {2, 1, "研发部"}, {3, 2, "后端组"}, {4, 1, "销售部"}},
		Members: []Member{
			{UserID: "zhangsan", Name: "张三", Departments: []int64{3}, Mobile: "13800000001", Email: "zhangsan@example.com", Gender: "1"},
			{UserID: "lisi", Name: "李四", Departments: []int64{4}},
			{UserID: "wangwu", Name: "王五", Departments: []int64{1}},
			{UserID: "wwlinked000000001/zhaoliu", Name: "赵六", Departments: []int64{2}},
		},
		Apps: []CorpApp{{AgentID: DefaultAgentID, Secret: DefaultAgentSecret, VisibleDepartments: []int64{2},
			VisibleUsers: []string{"wangwu"}, TrustedDomains: hosts}},
		Customers: []string{"bob"},
	}
}

// WithCorp adds a WeCom corp. Its ID is recognised as the appid of
// /connect/oauth2/authorize (the in-client sign-in) and of /wwlogin/sso/login.
func WithCorp(c Corp) Option {
	return func(s *Simulator) { c := c.clone(); s.wecom.corps = append(s.wecom.corps, &c) }
}

// EditCorp changes a corp while the simulator runs, as an admin would in
// the console: a new department, a member moved, the visible range
// narrowed. edit gets a copy; the simulator swaps it in whole, so requests
// in flight see the corp before or after, never half-edited. It reports
// whether corpID is one the simulator plays.
func (s *Simulator) EditCorp(corpID string, edit func(*Corp)) bool {
	s.wecom.cmu.Lock()
	defer s.wecom.cmu.Unlock()
	for i, c := range s.wecom.corps {
		if c.ID == corpID {
			n := c.clone()
			edit(&n)
			n.ID = corpID
			s.wecom.corps[i] = &n
			return true
		}
	}
	return false
}

// clone copies c deeply enough that editing the copy never touches c.
func (c Corp) clone() Corp {
	c.Departments = slices.Clone(c.Departments)
	c.Members = slices.Clone(c.Members)
	for i := range c.Members {
		c.Members[i].Departments = slices.Clone(c.Members[i].Departments)
	}
	c.Apps = slices.Clone(c.Apps)
	for i := range c.Apps {
		a := &c.Apps[i]
		a.VisibleDepartments, a.VisibleUsers = slices.Clone(a.VisibleDepartments), slices.Clone(a.VisibleUsers)
		a.TrustedDomains, a.TrustedIPs, a.DeniedAPIs = slices.Clone(a.TrustedDomains), slices.Clone(a.TrustedIPs), slices.Clone(a.DeniedAPIs)
	}
	c.Customers = slices.Clone(c.Customers)
	return c
}

// The User-Agents of WeCom's clients (observed strings, docs/wechat.md
// "WeCom"): they say MicroMessenger too, and the Windows one WindowsWechat.
const (
	WeComIPhoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) " +
		"Mobile/15E148 wxwork/4.1.30 MicroMessenger/7.0.1 Language/zh ColorScheme/Light wwmver/3.26.13.714"
	WeComWindowsUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/107.0.0.0 Safari/537.36 " +
		"Language/zh wxwork/4.1.10 (MicroMessenger/6.2) WindowsWechat MailPlugin_Electron WeMail embeddisk"
)

// NewWeComBrowser is the WeCom client of a member (userid) or, for a test
// user's Name, of a person outside the corp.
func NewWeComBrowser(user string) *Browser {
	b := NewBrowser(user)
	b.UserAgent = WeComIPhoneUA
	return b
}

// isWeComUA tells WeCom's client from WeChat's and from browsers.
func isWeComUA(ua string) bool { return strings.Contains(ua, "wxwork/") }

// wecomState is the simulator's WeCom side; its own lock keeps it apart
// from the Official Account state.
type wecomState struct {
	// corps are replaced whole by EditCorp, never changed in place: a
	// *Corp read under cmu stays valid and unchanging for its reader.
	cmu   sync.RWMutex
	corps []*Corp

	mu        sync.Mutex
	codes     map[string]*wecomGrant
	tokens    map[string]*wecomToken
	tickets   map[string]*wecomGrant // user_ticket → grant
	consented map[string]time.Time   // corp/agent/userid → privateinfo consent given
	logins    map[string]*wecomLogin // desktop login uuid → login
}

// wecomGrant is what a code or user_ticket stands for.
type wecomGrant struct {
	corp      string
	agentID   int64 // 0 when the authorize URL named none
	user      string
	member    bool
	scope     string
	redirect  string // redirect_uri's host[:port], checked against the redeeming app's 可信域名
	desktop   bool
	ticketFor bool // consent for privateinfo was given
	expires   time.Time
	used      bool
}

type wecomToken struct {
	corp    string
	agentID int64
	expires time.Time
}

// wecomLogin is one QR code of the desktop login page.
type wecomLogin struct {
	corp                string
	agentID             int64
	redirectURI, state  string
	user                string
	confirmed, declined bool
	expires             time.Time
}

// WeCom's lifetimes: codes 5 minutes, tokens 7200 s, user_ticket 1800 s,
// privateinfo consent remembered 30 days.
const (
	wecomTokenTTL   = 7200 * time.Second
	wecomTicketTTL  = 1800 * time.Second
	wecomConsentTTL = 30 * 24 * time.Hour
)

func (w *wecomState) init() {
	if w.codes == nil {
		w.codes, w.tokens, w.tickets = map[string]*wecomGrant{}, map[string]*wecomToken{}, map[string]*wecomGrant{}
		w.consented, w.logins = map[string]time.Time{}, map[string]*wecomLogin{}
	}
}

func (w *wecomState) corp(id string) *Corp {
	w.cmu.RLock()
	defer w.cmu.RUnlock()
	for _, c := range w.corps {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// snapshot returns the corps as they are now.
func (w *wecomState) snapshot() []*Corp {
	w.cmu.RLock()
	defer w.cmu.RUnlock()
	return slices.Clone(w.corps)
}

func (c *Corp) app(agentID int64) *CorpApp {
	for i := range c.Apps {
		if c.Apps[i].AgentID == agentID {
			return &c.Apps[i]
		}
	}
	return nil
}

func (c *Corp) member(userID string) *Member {
	for i := range c.Members {
		if c.Members[i].UserID == userID {
			return &c.Members[i]
		}
	}
	return nil
}

// under reports whether department d is dept or one of its sub-departments.
func (c *Corp) under(d, dept int64) bool {
	for range len(c.Departments) + 1 {
		if d == dept {
			return true
		}
		i := slices.IndexFunc(c.Departments, func(x Department) bool { return x.ID == d })
		if i < 0 || c.Departments[i].ParentID == 0 {
			return false
		}
		d = c.Departments[i].ParentID
	}
	return false
}

// sees reports whether the app's visible range includes the member.
func (c *Corp) sees(a *CorpApp, m *Member) bool {
	if slices.Contains(a.VisibleUsers, m.UserID) {
		return true
	}
	for _, d := range m.Departments {
		for _, v := range a.VisibleDepartments {
			if c.under(d, v) {
				return true
			}
		}
	}
	return false
}

// trusts reports whether redirect_uri's host (with its port, if any) is one
// of the app's 可信域名, compared exactly.
func (a *CorpApp) trusts(redirectURI string) bool {
	u, err := url.Parse(redirectURI)
	return err == nil && u.Host != "" && slices.Contains(a.TrustedDomains, strings.ToLower(u.Host))
}

func redirectHost(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// Corps returns the WeCom corps the simulator plays.
func (s *Simulator) Corps() []Corp {
	var out []Corp
	for _, c := range s.wecom.snapshot() {
		out = append(out, c.clone())
	}
	return out
}

// wecomSummary adds the corps, their apps and members to Summary.
func (s *Simulator) wecomSummary(b *strings.Builder) {
	for _, c := range s.wecom.snapshot() {
		fmt.Fprintf(b, "\n\nWeCom corp %s (appid of the authorize and /wwlogin/sso/login URLs; X-WeChat-Mock-User names a member):", c.ID)
		for _, a := range c.Apps {
			fmt.Fprintf(b, "\n  app %d  secret %s  trusted domains %s", a.AgentID, a.Secret, strings.Join(a.TrustedDomains, ", "))
		}
		for _, m := range c.Members {
			fmt.Fprintf(b, "\n  member %-12s %s  departments %v", m.UserID, m.Name, m.Departments)
		}
	}
}
