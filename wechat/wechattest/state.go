package wechattest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// Simulator is the WeChat simulator as an http.Handler. Create it with New (or
// NewServer for a running server).
type Simulator struct {
	clock      *Clock
	apps       []*appState
	users      []User
	domains    []Domain
	anyBrowser bool
	component  *componentState // the third-party platform, if WithComponent
	quotas     map[string]int  // path → calls per account and day
	routes     []route
	mux        *http.ServeMux
	done       chan struct{} // closed by Server.Close to release hanging handlers
	closeOnce  sync.Once

	mu         sync.Mutex
	codes      map[string]*grant
	webTokens  map[string]*grant
	refreshes  map[string]*grant
	consents   map[string]*consentTicket
	consented  map[string]bool      // app+"\x00"+user → already allowed snsapi_userinfo
	qrs        map[string]*qrTicket // qrconnect uuid → the desktop login it stands for
	basic      map[string]*basicToken
	tickets    map[string]*basicToken // jsapi tickets
	counts     map[string]int         // app+"\x00"+path+"\x00"+day → calls counted against a quota
	faults     map[string][]faultQueue
	calls      []Call
	nextMenuID int64
	wecom      wecomState // the WeCom corps (wecom.go)

	// Web token lifecycle (webtokens.go): SetProfile's nicknames and avatars
	// by user (guarded by mu), and WithRotatingRefreshTokens.
	profiles      map[string]profile
	rotateRefresh bool
}

// appState is an app with its per-app state; guarded by Simulator.mu.
type appState struct {
	App
	domains      []Domain // a website app's own callback domains (parsed App.Domains)
	cgiToken     string   // latest cgi-bin/token token
	stableToken  string   // current stable_token token
	lastForce    time.Time
	ticket       string // latest jsapi ticket
	menu         []menuButton
	menuID       int64
	subscribed   map[string]time.Time // user → subscribe time, for SetSubscribed(on)
	unsubscribed map[string]bool      // user → SetSubscribed(off) overrides User.Subscribed
}

func newAppState(a App) *appState {
	return &appState{App: a, subscribed: map[string]time.Time{}, unsubscribed: map[string]bool{}}
}

// grant is what a code, web access_token or refresh_token stands for.
type grant struct {
	app      string
	user     string
	scope    string
	snapshot bool
	expires  time.Time
	used     bool // codes only
	// component is the third-party platform's AppID when the grant was
	// issued on its behalf (authorize with component_appid); only that
	// platform's sns/oauth2/component calls accept it.
	component string
	// withdrawn: the user withdrew the app's authorization (Withdraw).
	withdrawn bool
}

// basicToken is a basic access_token or a jsapi ticket.
type basicToken struct {
	app      string
	expires  time.Time
	revokeAt time.Time // set when a newer cgi-bin/token token replaced it
}

// New returns a Simulator configured by opts.
func New(opts ...Option) *Simulator {
	s := &Simulator{
		done:       make(chan struct{}),
		quotas:     defaultQuotas(),
		codes:      map[string]*grant{},
		webTokens:  map[string]*grant{},
		refreshes:  map[string]*grant{},
		consents:   map[string]*consentTicket{},
		consented:  map[string]bool{},
		qrs:        map[string]*qrTicket{},
		basic:      map[string]*basicToken{},
		tickets:    map[string]*basicToken{},
		counts:     map[string]int{},
		faults:     map[string][]faultQueue{},
		nextMenuID: 208396938,
	}
	for _, o := range opts {
		o(s)
	}
	if len(s.apps) == 0 {
		WithApp(DefaultAppID, DefaultAppSecret)(s)
	}
	if len(s.users) == 0 {
		s.users = append(s.users, defaultUsers...)
	}
	if len(s.domains) == 0 {
		WithDomains("localhost", "127.0.0.1", "[::1]")(s)
	}
	s.buildRoutes()
	if s.component != nil && s.component.cfg.PushEvery > 0 {
		go s.pushTickets(s.component.cfg.PushEvery)
	}
	return s
}

func (s *Simulator) now() time.Time { return s.clock.Now() }

// app returns the app with id, or nil.
func (s *Simulator) app(id string) *appState {
	for _, a := range s.apps {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// user returns the user named name.
func (s *Simulator) user(name string) (User, bool) {
	for _, u := range s.users {
		if u.Name == name {
			return u, true
		}
	}
	return User{}, false
}

// Apps returns the configured apps.
func (s *Simulator) Apps() []App {
	out := make([]App, len(s.apps))
	for i, a := range s.apps {
		out[i] = a.App
	}
	return out
}

// Users returns the configured test users.
func (s *Simulator) Users() []User { return slices.Clone(s.users) }

// Domains returns the registered callback domain settings, as ParseDomain reads them.
func (s *Simulator) Domains() []string {
	out := make([]string, len(s.domains))
	for i, d := range s.domains {
		out[i] = d.String()
	}
	return out
}

// derive makes a 28-character id like WeChat's ("o6_bmjrPTlm6_2sgVt7hMZOPfL2M"):
// stable for the same parts, so openids survive restarts of `caddy wechat-mock`.
func derive(parts ...string) string {
	m := hmac.New(sha256.New, []byte("wechattest"))
	m.Write([]byte(strings.Join(parts, "\x00")))
	return "o" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:27]
}

// OpenID returns user's openid for appID: stable, and different for each app.
func (s *Simulator) OpenID(appID, user string) string { return derive("openid", appID, user) }

// UnionID returns user's unionid as appID sees it: the same for every app bound to
// the same Open Platform account, "" for unbound or unknown apps.
func (s *Simulator) UnionID(appID, user string) string {
	a := s.app(appID)
	if a == nil || a.OpenPlatform == "" {
		return ""
	}
	return derive("unionid", a.OpenPlatform, user)
}

// identity is who a grant stands for as the app sees it; snapshot users get
// virtual ids that never equal the real user's.
func (s *Simulator) identity(g *grant) (openID, unionID string) {
	if g.snapshot {
		openID = derive("snapshot-openid", g.app, g.user)
		if a := s.app(g.app); a != nil && a.OpenPlatform != "" {
			unionID = derive("snapshot-unionid", a.OpenPlatform, g.user)
		}
		return openID, unionID
	}
	return s.OpenID(g.app, g.user), s.UnionID(g.app, g.user)
}

// userByOpenID finds the (non-snapshot) user behind openID for app.
func (s *Simulator) userByOpenID(app, openID string) (User, bool) {
	for _, u := range s.users {
		if s.OpenID(app, u.Name) == openID {
			return u, true
		}
	}
	return User{}, false
}

// IssueCode issues an authorization code as if user had authorized appID with
// scope; tests use it to skip the browser part.
func (s *Simulator) IssueCode(appID, user, scope string) string {
	u, _ := s.user(user)
	return s.issueCode(appID, user, scope, u.Snapshot, "")
}

// IssueComponentCode is IssueCode for a code the third-party platform
// componentAppID asked for on behalf of appID.
func (s *Simulator) IssueComponentCode(appID, componentAppID, user, scope string) string {
	return s.issueCode(appID, user, scope, false, componentAppID)
}

func (s *Simulator) issueCode(appID, user, scope string, snapshot bool, component string) string {
	code := randomID(32)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = &grant{app: appID, user: user, scope: scope, snapshot: snapshot, expires: s.now().Add(codeTTL),
		component: component}
	return code
}

// SetSubscribed makes user follow (or unfollow) appID.
func (s *Simulator) SetSubscribed(appID, user string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.app(appID)
	if a == nil {
		return
	}
	if on {
		a.subscribed[user] = s.now()
		delete(a.unsubscribed, user)
	} else {
		delete(a.subscribed, user)
		a.unsubscribed[user] = true
	}
}

// subscribedSince tells whether u follows a and since when; callers hold s.mu.
func (s *Simulator) subscribedSince(a *appState, u User) (time.Time, bool) {
	if t, ok := a.subscribed[u.Name]; ok {
		return t, true
	}
	if u.Subscribed && !a.unsubscribed[u.Name] {
		return time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC), true
	}
	return time.Time{}, false
}

// Menu returns a copy of appID's current custom menu, or nil if it has none.
func (s *Simulator) Menu(appID string) *wechat.Menu {
	s.mu.Lock()
	a := s.app(appID)
	if a == nil || a.menu == nil {
		s.mu.Unlock()
		return nil
	}
	data := encodeJSON(struct {
		Button []menuButton `json:"button"`
		MenuID int64        `json:"menuid"`
	}{a.menu, a.menuID})
	s.mu.Unlock()
	// The shared type is filled from the wire form, so callers get a deep copy.
	var m wechat.Menu
	_ = json.Unmarshal(data, &m)
	return &m
}

// JSAPITicket returns the jsapi ticket last issued to appID by
// cgi-bin/ticket/getticket, "" before the first, so tests can check a
// wx.config signature the way the page's JS-SDK would be judged.
func (s *Simulator) JSAPITicket(appID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.app(appID); a != nil {
		return a.ticket
	}
	return ""
}

// DailyCount returns how many calls of path appID made today (Beijing time)
// that count against a daily quota: /cgi-bin/token, /cgi-bin/stable_token,
// the force_refresh calls of stable_token (path "/cgi-bin/stable_token#force")
// and /cgi-bin/ticket/getticket.
func (s *Simulator) DailyCount(appID, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[appID+"\x00"+path+"\x00"+day(s.now())]
}

// countLocked counts one call of path by app and reports whether it is within
// the path's daily quota; callers hold s.mu.
func (s *Simulator) countLocked(app, path string) bool {
	k := app + "\x00" + path + "\x00" + day(s.now())
	if limit := s.quotas[path]; limit > 0 && s.counts[k] >= limit {
		return false
	}
	s.counts[k]++
	return true
}

// randomID returns n characters of [A-Za-z0-9], the alphabet of WeChat's codes and tokens.
func randomID(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
