package wechattest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Component is a third-party platform (第三方平台) the simulator plays
// WeChat for: its credentials as the Open Platform console shows them, the
// accounts authorized to it, and where its pushes go.
type Component struct {
	// AppID and Secret are the platform's own AppID and AppSecret.
	AppID, Secret string
	// Token is the message Token (消息校验Token) pushes are signed with.
	Token string
	// EncodingAESKey is the 43-character 消息加解密Key pushes are encrypted with.
	EncodingAESKey string
	// Domains are the platform's 公众号开发域名 settings (at most 3 on WeChat):
	// redirect_uri must lie on one of them or on <authorizer AppID>.<setting>.
	// Written as WithDomains takes them; none means only the loopback defaults.
	Domains []string
	// Authorizers are the Official Accounts authorized to the platform at
	// start; each becomes an app of the simulator (without a secret) unless
	// one with that AppID exists.
	Authorizers []string
	// PushURL is the 授权事件接收URL pushes are POSTed to; "" means pushes
	// are built but not sent (PushTicket still issues the ticket).
	PushURL string
	// PushEvery is the ticket push period (WeChat: 10 minutes); 0 means only
	// on demand (PushTicket).
	PushEvery time.Duration
	// AllowedIPs, when set, is the platform's 白名单IP: api_component_token
	// from any other caller address answers 61004.
	AllowedIPs []string
}

// The credentials of a test platform, as the console would show them.
const (
	DefaultComponentAppID  = "wxcomponent0000001"
	DefaultComponentSecret = "componentsecret0123456789abcdef0"
	DefaultComponentToken  = "platformtoken"
	DefaultComponentAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// componentState is the platform's live state, guarded by Simulator.mu
// except key, domains and cfg, which never change, but for cfg.PushURL,
// guarded by pushMu (SetPushURL).
type componentState struct {
	cfg        Component
	key        []byte
	domains    []Domain
	authorized map[string]bool      // authorizer AppID → authorized now
	tickets    map[string]time.Time // component_verify_ticket → issued at
	latest     string               // newest ticket
	tokens     map[string]time.Time // component_access_token → expires
	pushMu     sync.Mutex           // one push at a time, in order
}

// Simulator-side lifetimes of the platform's credentials.
const (
	verifyTicketTTL   = 12 * time.Hour     // "component_verify_ticket 的有效时间为12小时"
	componentTokenTTL = 7200 * time.Second // api_component_token's expires_in
)

// WithComponent makes the simulator play WeChat for a third-party platform.
// It panics on an EncodingAESKey or domain setting WeChat's console would
// refuse, as WithDomains does.
func WithComponent(c Component) Option {
	return func(s *Simulator) {
		key, err := aesKey(c.EncodingAESKey)
		if err != nil {
			panic("wechattest.WithComponent: " + err.Error())
		}
		cs := &componentState{cfg: c, key: key, authorized: map[string]bool{},
			tickets: map[string]time.Time{}, tokens: map[string]time.Time{}}
		for _, v := range c.Domains {
			d, err := ParseDomain(v)
			if err != nil {
				panic(fmt.Sprintf("wechattest.WithComponent: %v", err))
			}
			cs.domains = append(cs.domains, d)
		}
		for _, id := range c.Authorizers {
			cs.authorized[id] = true
			if s.app(id) == nil {
				s.apps = append(s.apps, newAppState(App{ID: id}))
			}
		}
		s.component = cs
	}
}

// componentFor returns the platform appID names, nil if none.
func (s *Simulator) componentFor(appID string) *componentState {
	if s.component == nil || s.component.cfg.AppID != appID || appID == "" {
		return nil
	}
	return s.component
}

// componentDomains are the redirect_uri settings for authorizer: each
// 公众号开发域名 and its <authorizer AppID>. subdomain.
func (cs *componentState) componentDomains(authorizer string) []Domain {
	var out []Domain
	for _, d := range cs.domains {
		out = append(out, d)
		if !isLoopback(d.Host) {
			sub := d
			sub.Host = strings.ToLower(authorizer) + "." + d.Host
			out = append(out, sub)
		}
	}
	if len(out) == 0 {
		for _, h := range []string{"localhost", "127.0.0.1", "[::1]"} {
			out = append(out, Domain{Host: h})
		}
	}
	return out
}

// componentAuthorizeError checks the component part of an authorize
// request; 0 means fine.
func (s *Simulator) componentAuthorizeError(appID, componentAppID string) int {
	cs := s.componentFor(componentAppID)
	if cs == nil {
		return 40013
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !cs.authorized[appID] {
		return errNotAuthorized
	}
	return 0
}

// errNotAuthorized is the authorize page's answer when the account has not
// authorized the platform named by component_appid.
const errNotAuthorized = 10015

// handleComponentToken is POST cgi-bin/component/api_component_token.
func (s *Simulator) handleComponentToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.fail(w, r, 43002)
		return
	}
	var req struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_appsecret"`
		Ticket string `json:"component_verify_ticket"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.fail(w, r, 47001)
		return
	}
	cs := s.componentFor(req.AppID)
	switch {
	case req.AppID == "":
		s.fail(w, r, 41002)
		return
	case cs == nil:
		s.fail(w, r, 61011)
		return
	case req.Secret == "":
		s.fail(w, r, 41004)
		return
	case req.Secret != cs.cfg.Secret:
		s.fail(w, r, 40125)
		return
	case !ipAllowed(cs.cfg.AllowedIPs, callerIP(r)):
		s.fail(w, r, 61004)
		return
	}
	now := s.now()
	s.mu.Lock()
	issued, ok := cs.tickets[req.Ticket]
	switch {
	case !ok:
		s.mu.Unlock()
		s.fail(w, r, 61006)
		return
	case !now.Before(issued.Add(verifyTicketTTL)):
		s.mu.Unlock()
		s.fail(w, r, 61005)
		return
	}
	tok := randomID(86)
	cs.tokens[tok] = now.Add(componentTokenTTL)
	s.mu.Unlock()
	s.writeJSON(w, map[string]any{"component_access_token": tok, "expires_in": int(componentTokenTTL.Seconds())})
}

// ipAllowed reports whether ip passes the platform's whitelist (none set: all pass).
func ipAllowed(allowed []string, ip string) bool {
	if len(allowed) == 0 {
		return true
	}
	got := net.ParseIP(ip)
	for _, a := range allowed {
		if want := net.ParseIP(a); want != nil && got != nil && want.Equal(got) {
			return true
		}
	}
	return false
}

// componentTokenValid checks a component_access_token of cs; callers hold s.mu.
func (s *Simulator) componentTokenValidLocked(cs *componentState, tok string) int {
	exp, ok := cs.tokens[tok]
	switch {
	case tok == "":
		return 41001
	case !ok:
		return 40001
	case !s.now().Before(exp):
		return 42001
	}
	return 0
}

// Authorizers lists the accounts currently authorized to the platform.
func (s *Simulator) Authorizers() []string {
	if s.component == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, on := range s.component.authorized {
		if on {
			out = append(out, id)
		}
	}
	return out
}

// componentSummary is the platform's part of Summary, "" without one.
func (s *Simulator) componentSummary() string {
	cs := s.component
	if cs == nil {
		return ""
	}
	cs.pushMu.Lock()
	push := cs.cfg.PushURL
	cs.pushMu.Unlock()
	if push == "" {
		push = "nowhere (no push URL)"
	}
	auth := s.Authorizers()
	sort.Strings(auth)
	domains := strings.Join(domainNames(cs.domains), ", ") + " and <authorizer AppID>. subdomains"
	if len(cs.domains) == 0 {
		domains = "localhost, 127.0.0.1, [::1]"
	}
	return fmt.Sprintf("\nThird-party platform %s  %s  Token %s  EncodingAESKey %s\n  authorizers %s; 公众号开发域名 %s; pushes to %s\n",
		cs.cfg.AppID, cs.cfg.Secret, cs.cfg.Token, cs.cfg.EncodingAESKey, strings.Join(auth, ", "), domains, push)
}

// ExpireComponentTokens ends every component_access_token issued so far
// before its 2 hours, as a newer fetch elsewhere may: calls with one answer
// 42001.
func (s *Simulator) ExpireComponentTokens() {
	if s.component == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.component.tokens {
		s.component.tokens[t] = time.Time{}
	}
}
