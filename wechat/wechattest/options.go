package wechattest

import (
	"fmt"
	"time"
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
	// Website marks an Open Platform website application (网站应用, added with
	// WithWebsiteApp): it signs people in on desktop browsers through
	// /connect/qrconnect with scope snsapi_login, never through the Official
	// Account's /connect/oauth2/authorize (which answers 10016 for it).
	Website bool
	// Domains are a website application's own callback domain settings
	// (授权回调域), as ParseDomain reads them; Official Accounts use the
	// simulator's WithDomains instead.
	Domains []string
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
		s.apps = append(s.apps, newAppState(App{ID: appID, Secret: secret, OpenPlatform: openPlatform}))
	}
}

// WithUser adds a test user.
func WithUser(u User) Option { return func(s *Simulator) { s.users = append(s.users, u) } }

// WithDomains sets the registered callback domains (网页授权域名), each written
// as ParseDomain accepts it: "wx.example.com", "wx.example.com/mp", optionally
// with a scheme ("https://wx.example.com"). redirect_uri must match one as
// WeChat matches it: see ParseDomain. The default is localhost, 127.0.0.1 and
// [::1], whose ports are ignored so loopback tests work. WithDomains panics on
// a setting WeChat's console would refuse, as httptest.NewRequest does on bad
// input; check user input with ParseDomain first.
func WithDomains(settings ...string) Option {
	return func(s *Simulator) {
		for _, v := range settings {
			d, err := ParseDomain(v)
			if err != nil {
				panic(fmt.Sprintf("wechattest.WithDomains: %v", err))
			}
			s.domains = append(s.domains, d)
		}
	}
}

// WithAnyBrowser lets any User-Agent use the authorize page; by default only the
// WeChat client may, as on the real platform.
func WithAnyBrowser() Option { return func(s *Simulator) { s.anyBrowser = true } }

// WithClock makes the simulator tell time by c (default: the real time).
func WithClock(c *Clock) Option { return func(s *Simulator) { s.clock = c } }

// WithDailyQuota limits path (e.g. "/cgi-bin/ticket/getticket") to n calls
// per account and day (days start at midnight Beijing time, as WeChat's
// quotas do); the call after the n-th answers 45009. n <= 0 removes the limit.
// The defaults are WeChat's documented ones: 2000 for /cgi-bin/token and
// 500000 for /cgi-bin/stable_token.
func WithDailyQuota(path string, n int) Option {
	return func(s *Simulator) { s.quotas[path] = n }
}

// defaultUsers have Chinese nicknames (and an emoji) so encoding bugs show.
var defaultUsers = []User{
	{Name: "alice", Nickname: "张三", Subscribed: true},
	{Name: "bob", Nickname: "李四 🐟"},
	{Name: "carol", Nickname: "王五"},
	{Name: "snap", Nickname: snapshotNickname, Snapshot: true},
}

// defaultQuotas are WeChat's documented daily limits (docs/wechat.md §4).
func defaultQuotas() map[string]int {
	return map[string]int{"/cgi-bin/token": 2000, "/cgi-bin/stable_token": 500000}
}

const (
	codeTTL         = 5 * time.Minute
	webTokenTTL     = 7200 * time.Second
	refreshTokenTTL = 30 * 24 * time.Hour
	basicTokenTTL   = 7200 * time.Second
	ticketTTL       = 7200 * time.Second
	// tokenOverlap is how long the previous cgi-bin/token token keeps working,
	// and the last stretch of a stable token's life in which stable_token renews it.
	tokenOverlap = 5 * time.Minute
	// forceRefreshPerDay and forceRefreshGap limit stable_token's
	// force_refresh: "强制刷新模式每天限用20次且需间隔30秒"; outside them the
	// call answers as in normal mode, with the current token.
	forceRefreshPerDay = 20
	forceRefreshGap    = 30 * time.Second
	// snapshotNickname is what WeChat shows for snapshot-page virtual users.
	snapshotNickname = "微信用户"
)

// beijing is the time zone in which WeChat's daily quotas reset.
var beijing = time.FixedZone("CST", 8*60*60)

// day names the quota day t falls in.
func day(t time.Time) string { return t.In(beijing).Format("2006-01-02") }
