// Package wechattest is a WeChat simulator for tests and local development, in the
// style of net/http/httptest: NewServer starts a real server on loopback serving the
// authorize page (open.weixin.qq.com) and the JSON APIs (api.weixin.qq.com) under
// WeChat's own paths, with WeChat's JSON shapes and errcodes. Its clock can be faked,
// faults injected and received calls inspected. `caddy wechat-mock` serves the same
// Simulator standalone.
package wechattest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// DefaultAppID and DefaultAppSecret identify the app a Simulator has when no WithApp
// or WithBoundApp option is given.
const (
	DefaultAppID     = "wx0123456789abcdef"
	DefaultAppSecret = "0123456789abcdef0123456789abcdef"
)

// App is an Official Account the simulator knows.
type App struct {
	ID     string
	Secret string
	// OpenPlatform is the Open Platform account the app is bound to; apps with the
	// same OpenPlatform share unionids. "" means unbound: no unionid.
	OpenPlatform string
}

// User is a test WeChat user.
type User struct {
	// Name is the login name used by X-WeChat-Mock-User and the picker.
	Name string
	// Nickname is UTF-8; Chinese and emoji are fine.
	Nickname string
	// HeadImgURL is the avatar; "" means one drawn by the simulator at /mock/avatar/<name>/132.
	HeadImgURL string
	// Snapshot makes every authorization yield a snapshot-page virtual identity (is_snapshotuser=1).
	Snapshot bool
	// Subscribed makes the user a follower of every app (SetSubscribed changes it per app).
	Subscribed bool
}

// Option configures a Simulator.
type Option func(*Simulator)

// WithApp adds an app not bound to an Open Platform account (no unionid).
func WithApp(appID, secret string) Option { return WithBoundApp(appID, secret, "") }

// WithBoundApp adds an app bound to the Open Platform account openPlatform; apps
// with the same openPlatform see the same unionid for a user.
func WithBoundApp(appID, secret, openPlatform string) Option {
	return func(s *Simulator) {
		s.apps = append(s.apps, &appState{App: App{ID: appID, Secret: secret, OpenPlatform: openPlatform},
			subscribed: map[string]time.Time{}, unsubscribed: map[string]bool{}})
	}
}

// WithUser adds a test user.
func WithUser(u User) Option { return func(s *Simulator) { s.users = append(s.users, u) } }

// WithDomains sets the registered callback domains (授权回调域名): hostnames only,
// compared exactly; the port of redirect_uri is ignored so loopback tests work.
// The default is localhost and 127.0.0.1.
func WithDomains(hosts ...string) Option {
	return func(s *Simulator) {
		for _, h := range hosts {
			s.domains = append(s.domains, strings.ToLower(h))
		}
	}
}

// WithAnyBrowser lets any User-Agent use the authorize page; by default only the
// WeChat client may, as on the real platform.
func WithAnyBrowser() Option { return func(s *Simulator) { s.anyBrowser = true } }

// WithClock makes the simulator tell time by c (default: the real time).
func WithClock(c *Clock) Option { return func(s *Simulator) { s.clock = c } }

// defaultUsers have Chinese nicknames (and an emoji) so encoding bugs show.
var defaultUsers = []User{
	{Name: "alice", Nickname: "张三", Subscribed: true},
	{Name: "bob", Nickname: "李四 🐟"},
	{Name: "carol", Nickname: "王五"},
	{Name: "snap", Nickname: snapshotNickname, Snapshot: true},
}

const (
	codeTTL         = 5 * time.Minute
	webTokenTTL     = 7200 * time.Second
	refreshTokenTTL = 30 * 24 * time.Hour
	basicTokenTTL   = 7200 * time.Second
	// tokenOverlap is how long the previous cgi-bin/token token keeps working,
	// and the last stretch of a stable token's life in which stable_token renews it.
	tokenOverlap = 5 * time.Minute
	// snapshotNickname is what WeChat shows for snapshot-page virtual users.
	snapshotNickname = "微信用户"
)

// Simulator is the WeChat simulator as an http.Handler. Create it with New (or
// NewServer for a running server).
type Simulator struct {
	clock      *Clock
	apps       []*appState
	users      []User
	domains    []string
	anyBrowser bool
	mux        *http.ServeMux
	done       chan struct{} // closed by Server.Close to release hanging handlers
	closeOnce  sync.Once

	mu         sync.Mutex
	codes      map[string]*grant
	webTokens  map[string]*grant
	refreshes  map[string]*grant
	consents   map[string]*consentTicket
	consented  map[string]bool // app+"\x00"+user → already allowed snsapi_userinfo
	basic      map[string]*basicToken
	faults     map[string][]faultQueue
	calls      []Call
	nextMenuID int64
}

// appState is an app with its per-app state; guarded by Simulator.mu.
type appState struct {
	App
	cgiToken     string // latest cgi-bin/token token
	stableToken  string // current stable_token token
	menu         *wechat.Menu
	subscribed   map[string]time.Time // user → subscribe time, for SetSubscribed(on)
	unsubscribed map[string]bool      // user → SetSubscribed(off) overrides User.Subscribed
}

// grant is what a code, web access_token or refresh_token stands for.
type grant struct {
	app      string
	user     string
	scope    string
	snapshot bool
	expires  time.Time
	used     bool // codes only
}

type basicToken struct {
	app      string
	expires  time.Time
	revokeAt time.Time // set when a newer cgi-bin/token token replaced it
}

// New returns a Simulator configured by opts.
func New(opts ...Option) *Simulator {
	s := &Simulator{
		done:       make(chan struct{}),
		codes:      map[string]*grant{},
		webTokens:  map[string]*grant{},
		refreshes:  map[string]*grant{},
		consents:   map[string]*consentTicket{},
		consented:  map[string]bool{},
		basic:      map[string]*basicToken{},
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
		s.domains = []string{"localhost", "127.0.0.1"}
	}
	s.routes()
	return s
}

func (s *Simulator) routes() {
	m := http.NewServeMux()
	m.HandleFunc("/connect/oauth2/authorize", s.handleAuthorize)
	m.HandleFunc("/connect/oauth2/authorize/confirm", s.handleConfirm)
	m.HandleFunc("/mock/users", s.handlePicker)
	m.HandleFunc("/mock/avatar/", s.handleAvatar)
	m.HandleFunc("/sns/oauth2/access_token", s.handleCodeToken)
	m.HandleFunc("/sns/oauth2/refresh_token", s.handleRefreshToken)
	m.HandleFunc("/sns/userinfo", s.handleUserInfo)
	m.HandleFunc("/sns/auth", s.handleAuth)
	m.HandleFunc("/cgi-bin/token", s.handleToken)
	m.HandleFunc("/cgi-bin/stable_token", s.handleStableToken)
	m.HandleFunc("/cgi-bin/user/info", s.handleFollower)
	m.HandleFunc("/cgi-bin/menu/create", s.handleMenuCreate)
	m.HandleFunc("/cgi-bin/menu/get", s.handleMenuGet)
	m.HandleFunc("/cgi-bin/menu/delete", s.handleMenuDelete)
	m.HandleFunc("/cgi-bin/get_current_selfmenu_info", s.handleSelfMenu)
	m.HandleFunc("/{$}", s.handleIndex)
	m.HandleFunc("/", s.handleNotFound)
	s.mux = m
}

// ServeHTTP records the call, applies a queued fault if any, then answers as WeChat.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	s.record(Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: string(body), Time: s.now()})
	if f, ok := s.nextFault(r.URL.Path); ok && s.applyFault(w, r, f) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Simulator) now() time.Time { return s.clock.Now() }

// Server is a Simulator listening on 127.0.0.1, like httptest.Server.
type Server struct {
	*Simulator
	// URL is the base URL, e.g. http://127.0.0.1:54321, for both APIBase and OpenBase.
	URL string
	ts  *httptest.Server
}

// NewServer starts a Simulator on a loopback port. Close it when done.
func NewServer(opts ...Option) *Server {
	sim := New(opts...)
	ts := httptest.NewServer(sim)
	return &Server{Simulator: sim, URL: ts.URL, ts: ts}
}

// Close releases hanging handlers and shuts the server down.
func (s *Server) Close() {
	s.Simulator.Close()
	s.ts.Close()
}

// Close releases handlers blocked by a Hang or Delay fault, so a server holding them
// can shut down. Server.Close calls it; standalone users call it before Shutdown.
func (s *Simulator) Close() { s.closeOnce.Do(func() { close(s.done) }) }

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

// Domains returns the registered callback domains.
func (s *Simulator) Domains() []string { return slices.Clone(s.domains) }

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
	return s.issueCode(appID, user, scope, u.Snapshot)
}

func (s *Simulator) issueCode(appID, user, scope string, snapshot bool) string {
	code := randomID(32)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = &grant{app: appID, user: user, scope: scope, snapshot: snapshot, expires: s.now().Add(codeTTL)}
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
	defer s.mu.Unlock()
	a := s.app(appID)
	if a == nil || a.menu == nil {
		return nil
	}
	// A deep copy, so callers cannot change the stored menu.
	data, _ := json.Marshal(a.menu)
	var m wechat.Menu
	_ = json.Unmarshal(data, &m)
	return &m
}

// Summary describes the apps, users and endpoints, for `caddy wechat-mock` to print.
func (s *Simulator) Summary(baseURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "WeChat simulator at %s\n\nApps (AppID / AppSecret):\n", baseURL)
	for _, a := range s.apps {
		fmt.Fprintf(&b, "  %s  %s", a.ID, a.Secret)
		if a.OpenPlatform != "" {
			fmt.Fprintf(&b, "  (Open Platform %s: unionid)", a.OpenPlatform)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nUsers (X-WeChat-Mock-User or the picker):\n")
	for _, u := range s.users {
		var flags []string
		if u.Snapshot {
			flags = append(flags, "snapshot")
		}
		if u.Subscribed {
			flags = append(flags, "follower")
		}
		fmt.Fprintf(&b, "  %-8s %s", u.Name, u.Nickname)
		if len(flags) > 0 {
			fmt.Fprintf(&b, "  (%s)", strings.Join(flags, ", "))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nCallback domains: %s", strings.Join(s.domains, ", "))
	if s.anyBrowser {
		b.WriteString(" (any browser may authorize)")
	} else {
		b.WriteString(" (authorize needs a WeChat User-Agent; --any-browser lifts that)")
	}
	fmt.Fprintf(&b, "\n\nUse %s as both api_base and open_base.\n", baseURL)
	fmt.Fprintf(&b, "  authorize   %s/connect/oauth2/authorize\n", baseURL)
	fmt.Fprintf(&b, "  user picker %s/mock/users\n", baseURL)
	for _, p := range []string{"/sns/oauth2/access_token", "/sns/oauth2/refresh_token", "/sns/userinfo", "/sns/auth",
		"/cgi-bin/token", "/cgi-bin/stable_token", "/cgi-bin/user/info", "/cgi-bin/menu/create", "/cgi-bin/menu/get",
		"/cgi-bin/menu/delete", "/cgi-bin/get_current_selfmenu_info"} {
		fmt.Fprintf(&b, "  api         %s%s\n", baseURL, p)
	}
	return b.String()
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

const jsonContentType = "application/json; encoding=utf-8"

func (s *Simulator) writeJSON(w http.ResponseWriter, v any) { s.writeJSONStatus(w, http.StatusOK, v) }

func (s *Simulator) writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// apiError is WeChat's error body.
type apiError struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// errBody builds WeChat's error body with its ", rid: …" tail.
func errBody(code int, msg string) apiError {
	if msg == "" {
		msg = "error"
	}
	return apiError{ErrCode: code, ErrMsg: fmt.Sprintf("%s, rid: %08x-%s-%s", msg, time.Now().Unix(), randomHex(8), randomHex(8))}
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)[:n]
}

// fail answers errcode code with WeChat's errmsg for it.
func (s *Simulator) fail(w http.ResponseWriter, code int) {
	s.writeJSON(w, errBody(code, errMsgs[code]))
}

// errMsgs are WeChat's errmsg texts.
var errMsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40013: "invalid appid",
	40014: "invalid access_token",
	40029: "invalid code",
	40030: "invalid refresh_token",
	40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
	40097: "invalid args",
	40125: "invalid appsecret",
	40163: "code been used",
	41001: "access_token missing",
	41002: "appid missing",
	41003: "refresh_token missing",
	41004: "appsecret missing",
	41008: "missing code",
	41009: "missing openid",
	42001: "access_token expired",
	42002: "refresh_token expired",
	43001: "require GET method",
	43002: "require POST method",
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit  mustslower  retry next minute",
	46003: "menu no exist",
	47001: "data format error",
	48001: "api unauthorized",
}

func (s *Simulator) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/cgi-bin/") || strings.HasPrefix(r.URL.Path, "/sns/") {
		// WeChat answers unknown API paths with 404 and a short text.
		http.Error(w, "404 Not Found", http.StatusNotFound)
		return
	}
	http.NotFound(w, r)
}
