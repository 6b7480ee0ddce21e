//go:build linux

package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// phpSite is examples/php running for real: php-fpm on a unix socket, Caddy
// with the example Caddyfile, the simulator as WeChat, SQLite in a temp dir.
type phpSite struct {
	URL  string // http://127.0.0.1:PORT
	DB   string // the SQLite file
	Sim  *wechattest.Server
	Sock string // php-fpm's socket
}

func randomKey(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// startPHPFPM runs Debian's php-fpm with a pool listening on a unix socket in
// dir, and returns the socket path.
func startPHPFPM(t *testing.T, dir string) string {
	t.Helper()
	fpm := needTool(t, "php-fpm", "php-fpm", "/usr/sbin/php-fpm*")
	sock := filepath.Join(dir, "php-fpm.sock")
	fpmLog, phpLog := filepath.Join(dir, "php-fpm.log"), filepath.Join(dir, "php-error.log")
	conf := writeFile(t, dir, "php-fpm.conf", fmt.Sprintf(`[global]
pid = %[1]s/php-fpm.pid
error_log = %[2]s
daemonize = no

[phone]
listen = %[3]s
listen.mode = 0600
pm = static
pm.max_children = 2
clear_env = yes
catch_workers_output = yes
php_admin_value[error_log] = %[4]s
php_admin_flag[log_errors] = on
php_admin_flag[display_errors] = off
`, dir, fpmLog, sock, phpLog))
	args := []string{"--nodaemonize", "--fpm-config", conf}
	if os.Geteuid() == 0 {
		args = append(args, "--allow-to-run-as-root")
	}
	p := startProcess(t, "php-fpm", nil, fpm, args, fpmLog, phpLog)
	p.waitReady(t, "socket", socketUp(sock))
	return sock
}

// startPHPAroundTheGateway serves examples/php from the php-fpm at sock
// through a Caddy without wechat_auth, as a server that reaches the app
// around the gateway would (a mis-set NetworkPolicy, a port left open), with
// php_fastcgi env lines ("NAME value"), and returns its URL.
func startPHPAroundTheGateway(t *testing.T, dir, sock string, env ...string) string {
	t.Helper()
	site := fmt.Sprintf("http://127.0.0.1:%d", testnet.Port(t))
	caddyfile := writeFile(t, dir, "Caddyfile", fmt.Sprintf(`{
	admin off
	default_bind 127.0.0.1
}

%s {
	root * %s
	php_fastcgi unix/%s {
		env %s
	}
}
`, site, filepath.Join(repoRoot, "examples", "php"), sock, strings.Join(env, "\n\t\tenv ")))
	startCaddy(t, "caddy-around", caddyfile, nil, site+"/")
	return site
}

func startPHPSite(t *testing.T) *phpSite {
	t.Helper()
	return startPHPSiteWith(t, filepath.Join(repoRoot, "examples", "php", "Caddyfile"), nil)
}

// startPHPSiteWith serves examples/php through the Caddyfile at example,
// against a simulator with opts, with extraEnv added.
func startPHPSiteWith(t *testing.T, example string, extraEnv []string, opts ...wechattest.Option) *phpSite {
	t.Helper()
	needTool(t, "php-sqlite3", "/usr/lib/php/*/pdo_sqlite.so")
	sim := wechattest.NewServer(opts...)
	t.Cleanup(sim.Close)

	dir := shortTempDir(t)
	sock := startPHPFPM(t, dir)

	port := testnet.Port(t)
	site := fmt.Sprintf("http://127.0.0.1:%d", port)
	// The example Caddyfile is imported unchanged; only the test's global
	// options (no admin API, loopback only) come from here.
	caddyfile := writeFile(t, dir, "Caddyfile", fmt.Sprintf(`{
	admin off
	default_bind 127.0.0.1
}

import %s
`, example))
	db := filepath.Join(dir, "phones.sqlite")
	env := append([]string{
		"SITE_ADDRESS=" + site,
		"PHP_APP_ROOT=" + filepath.Join(repoRoot, "examples", "php"),
		"PHP_FPM_SOCKET=" + sock,
		"PHONE_DB=" + db,
		"WECHAT_ASSERTION_ISSUER=" + site, // assertion.php fetches the keys from it
	}, wechatEnv(t, sim)...)
	startCaddy(t, "caddy", caddyfile, append(env, extraEnv...), site+"/")
	return &phpSite{URL: site, DB: db, Sim: sim, Sock: sock}
}

func (s *phpSite) openID(user string) string {
	return s.Sim.OpenID(wechattest.DefaultAppID, user)
}

// person is the key examples/php stores user's binding under on this site:
// the simulator's default app has no unionid, so the Official Account's openid.
func (s *phpSite) person(user string) string { return "mp:" + s.openID(user) }

func (s *phpSite) nickname(t *testing.T, user string) string {
	t.Helper()
	for _, u := range s.Sim.Users() {
		if u.Name == user {
			return u.Nickname
		}
	}
	t.Fatalf("simulator has no user %q", user)
	return ""
}

// rows runs query (two columns) with the sqlite3 CLI: first → second.
func (s *phpSite) rows(t *testing.T, query string) map[string]string {
	t.Helper()
	sqlite := needTool(t, "sqlite3", "sqlite3")
	got := map[string]string{}
	if _, err := os.Stat(s.DB); os.IsNotExist(err) {
		return got
	}
	cmd := exec.Command(sqlite, "-readonly", "-separator", "|", s.DB, query)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "|")
		if !ok {
			t.Fatalf("sqlite3 row %q", line)
		}
		got[k] = v
	}
	return got
}

// bindings reads person_phones back: person → phone.
func (s *phpSite) bindings(t *testing.T) map[string]string {
	t.Helper()
	return s.rows(t, "SELECT person, phone FROM person_phones ORDER BY person")
}

// wantLinks checks openid_unionids: "mp:<openid>" → unionid.
func (s *phpSite) wantLinks(t *testing.T, want map[string]string) {
	t.Helper()
	got := s.rows(t, "SELECT openid, unionid FROM openid_unionids ORDER BY openid")
	if fmt.Sprint(sortedPairs(got)) != fmt.Sprint(sortedPairs(want)) {
		t.Fatalf("openid_unionids = %v, want %v", sortedPairs(got), sortedPairs(want))
	}
}

func (s *phpSite) wantBindings(t *testing.T, want map[string]string) {
	t.Helper()
	got := s.bindings(t)
	if fmt.Sprint(sortedPairs(got)) != fmt.Sprint(sortedPairs(want)) {
		t.Fatalf("person_phones = %v, want %v", sortedPairs(got), sortedPairs(want))
	}
}

func sortedPairs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"→"+v)
	}
	sort.Strings(out)
	return out
}

// profileLink is index.php's 完善资料 button.
var profileLink = regexp.MustCompile(`<a id="profile" href="([^"]+)">完善资料`)

// login opens the index page as user inside WeChat. The site signs in
// silently (snsapi_base: no consent page, no nickname), so the page greets
// without a name and offers the 完善资料 button.
func (s *phpSite) login(t *testing.T, user string) *wechattest.Browser {
	t.Helper()
	b := wechattest.NewBrowser(user)
	p := b.Get(t, s.URL+"/index.php")
	if p.Status != http.StatusOK || p.URL.Host != strings.TrimPrefix(s.URL, "http://") {
		t.Fatalf("%s: ended on %d %s\nhops:\n  %s\n%s", user, p.Status, p.URL, b.HopsString(), p.Body)
	}
	if hops := b.HopsString(); !strings.Contains(hops, "scope=snsapi_base") || strings.Contains(hops, "snsapi_userinfo") {
		t.Fatalf("%s: the page did not sign in silently with snsapi_base:\n  %s", user, hops)
	}
	if !strings.Contains(p.Body, `<h1 id="greeting">您好</h1>`) || !profileLink.MatchString(p.Body) {
		t.Fatalf("%s: a silent visitor is not greeted without a name and offered 完善资料:\n%s", user, p.Body)
	}
	return b
}

// shareProfile presses 完善资料 on b's index page: WeChat asks for consent
// (snsapi_userinfo; the simulated visitor allows), and the page comes back
// greeting user by nickname, without the button.
func (s *phpSite) shareProfile(t *testing.T, b *wechattest.Browser, user string) *wechattest.Page {
	t.Helper()
	m := profileLink.FindStringSubmatch(b.Get(t, s.URL+"/index.php").Body)
	if m == nil {
		t.Fatalf("%s: no 完善资料 button to press", user)
	}
	p := b.Get(t, s.URL+html.UnescapeString(m[1]))
	if p.Status != http.StatusOK || p.URL.Host != strings.TrimPrefix(s.URL, "http://") || !strings.Contains(b.HopsString(), "scope=snsapi_userinfo") {
		t.Fatalf("%s: 完善资料 ended on %d %s\nhops:\n  %s\n%s", user, p.Status, p.URL, b.HopsString(), p.Body)
	}
	wantGreeting := `<h1 id="greeting">您好，` + html.EscapeString(s.nickname(t, user)) + `</h1>`
	if !strings.Contains(p.Body, wantGreeting) || strings.Contains(p.Body, `id="profile"`) || strings.Contains(p.Body, `id="link-hint"`) {
		t.Fatalf("%s: after 完善资料 the page lacks %q or still offers the button:\n%s", user, wantGreeting, p.Body)
	}
	return p
}

func (s *phpSite) bind(t *testing.T, b *wechattest.Browser, phone string, extra http.Header) *wechattest.Page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/bind.php", strings.NewReader(url.Values{"phone": {phone}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range extra {
		req.Header[k] = vs // as given: no canonicalisation, so X_WeChat_OpenID stays itself
	}
	return b.Do(t, req)
}

func TestPHPExampleBindsPhoneToTheSimulatorsOpenIDAndReadsItBackFromSQLite(t *testing.T) {
	s := startPHPSite(t)
	alice := s.login(t, "alice")
	aliceID := s.person("alice")

	p := s.bind(t, alice, "13800138000", nil)
	if p.Status != http.StatusOK || p.URL.Path != "/index.php" || !strings.Contains(p.Body, `<strong id="phone">13800138000</strong>`) {
		t.Fatalf("bind: %d %s\nhops:\n  %s\n%s", p.Status, p.URL, alice.HopsString(), p.Body)
	}
	if !strings.Contains(p.Body, "绑定成功") {
		t.Errorf("bind: no success notice:\n%s", p.Body)
	}
	s.wantBindings(t, map[string]string{aliceID: "13800138000"})

	// Nothing but the two pages is served from the app folder.
	for path, secret := range map[string]string{"/db.php": "", "/page.php": "", "/schema.sql": "CREATE TABLE", "/Caddyfile": "wechat_auth", "/README.md": "php_fastcgi"} {
		p := alice.Get(t, s.URL+path)
		if path == "/db.php" || path == "/page.php" {
			if p.Status != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", path, p.Status)
			}
		}
		if secret != "" && strings.Contains(p.Body, secret) {
			t.Errorf("%s is served as a file:\n%s", path, p.Body)
		}
	}

	// The page shows the bound phone on a later visit too (read back by openid).
	p = alice.Get(t, s.URL+"/")
	if !strings.Contains(p.Body, `<strong id="phone">13800138000</strong>`) {
		t.Fatalf("index after bind lacks the phone:\n%s", p.Body)
	}

	// 完善资料 brings the nickname (percent-decoded, escaped). This account
	// has no Open Platform binding, so no unionid: the binding stays put.
	if p = s.shareProfile(t, alice, "alice"); !strings.Contains(p.Body, `<strong id="phone">13800138000</strong>`) {
		t.Fatalf("index after 完善资料 lacks the phone:\n%s", p.Body)
	}
	s.wantBindings(t, map[string]string{aliceID: "13800138000"})
	s.wantLinks(t, map[string]string{})
}

func TestPHPExampleRebindReplacesThePhone(t *testing.T) {
	s := startPHPSite(t)
	alice := s.login(t, "alice")
	s.bind(t, alice, "13800138000", nil)
	p := s.bind(t, alice, "139 0013-9000", nil) // spaces and dashes are tolerated
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `<strong id="phone">13900139000</strong>`) {
		t.Fatalf("rebind: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	s.wantBindings(t, map[string]string{s.person("alice"): "13900139000"})

	// The old number is free again for someone else.
	bob := s.login(t, "bob")
	if p := s.bind(t, bob, "13800138000", nil); p.Status != http.StatusOK {
		t.Fatalf("bob binding alice's old number: %d\n%s", p.Status, p.Body)
	}
	s.wantBindings(t, map[string]string{s.person("alice"): "13900139000", s.person("bob"): "13800138000"})
}

func TestPHPExampleRejectsInvalidPhonesWithAClearPage(t *testing.T) {
	s := startPHPSite(t)
	alice := s.login(t, "alice")
	s.bind(t, alice, "13800138000", nil)
	for _, bad := range []string{"", "12345", "12800138000", "1380013800", "138001380001", "+8613800138000", "1380013800a", "１３８００１３８０００", "13800138000' OR 1=1 --"} {
		p := s.bind(t, alice, bad, nil)
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "手机号格式不正确") || !strings.Contains(p.Body, "怎么办") {
			t.Errorf("phone %q: %d, want 400 with an explanation:\n%s", bad, p.Status, p.Body)
		}
	}
	s.wantBindings(t, map[string]string{s.person("alice"): "13800138000"})
}

func TestPHPExampleRefusesAPhoneAlreadyBoundToAnotherOpenID(t *testing.T) {
	s := startPHPSite(t)
	alice, bob := s.login(t, "alice"), s.login(t, "bob")
	s.bind(t, alice, "13800138000", nil)
	p := s.bind(t, bob, "13800138000", nil)
	if p.Status != http.StatusConflict || !strings.Contains(p.Body, "已被其他微信账号绑定") {
		t.Fatalf("bob binding alice's phone: %d, want 409:\n%s", p.Status, p.Body)
	}
	s.wantBindings(t, map[string]string{s.person("alice"): "13800138000"})
}

// spoofHeaders are the ways a client may try to pass itself off as someone:
// each reaches PHP as HTTP_X_WECHAT_OPENID or a REMOTE_USER look-alike if a
// proxy lets it through.
var spoofHeaders = []string{"X-WeChat-OpenID", "X_WeChat_OpenID", "x-wechat-openid", "Remote_User", "Remote-User"}

func TestPHPExampleClientSentIdentityHeadersNeverBindAnotherOpenIDWithASession(t *testing.T) {
	s := startPHPSite(t)
	alice, bob := s.login(t, "alice"), s.login(t, "bob")
	aliceID := s.openID("alice")
	s.bind(t, alice, "13800138000", nil)

	for i, h := range spoofHeaders {
		phone := fmt.Sprintf("1370013700%d", i)
		p := s.bind(t, bob, phone, http.Header{h: {aliceID}})
		// The binding goes to bob, whose session it is, never to alice.
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `<strong id="phone">`+phone+`</strong>`) {
			t.Fatalf("%s: %d %s\n%s", h, p.Status, p.URL, p.Body)
		}
		s.wantBindings(t, map[string]string{s.person("alice"): "13800138000", s.person("bob"): phone})
	}
	// Aimed at alice's own number: refused as bob's attempt, not taken as alice's rebind.
	p := s.bind(t, bob, "13800138000", http.Header{"X-WeChat-OpenID": {aliceID}, "X_WeChat_OpenID": {aliceID}})
	if p.Status != http.StatusConflict {
		t.Fatalf("spoofed rebind of alice's phone: %d\n%s", p.Status, p.Body)
	}
}

func TestPHPExampleClientSentIdentityHeadersWithoutASessionNeverReachPHP(t *testing.T) {
	s := startPHPSite(t)
	aliceID := s.openID("alice")
	spoofAll := http.Header{}
	for _, h := range spoofHeaders {
		spoofAll[h] = []string{aliceID}
	}

	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method string, extra http.Header) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, s.URL+"/bind.php", strings.NewReader("phone=13600136000"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", wechatUA)
		for k, v := range extra {
			req.Header[k] = v
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	// The post is answered by wechat_auth itself (401: log in again, since a
	// redirect would lose the form) and never reaches bind.php; a plain
	// visit is sent to WeChat. Neither trusts the client's headers.
	attempts := append([]string{"all"}, spoofHeaders...)
	for _, h := range attempts {
		extra := http.Header{h: {aliceID}}
		if h == "all" {
			extra = spoofAll
		}
		if resp := send(http.MethodPost, extra); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("POST with %s and no session: %d, want wechat_auth's 401", h, resp.StatusCode)
		}
		resp := send(http.MethodGet, extra)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.Sim.URL+"/connect/oauth2/authorize?") {
			t.Fatalf("GET with %s and no session: %d Location %q, want 302 to the simulator's authorize page", h, resp.StatusCode, loc)
		}
	}

	// The same through a browser that follows everything: nothing is bound.
	carol := wechattest.NewBrowser("carol")
	if p := s.bind(t, carol, "13600136000", spoofAll); p.Status != http.StatusUnauthorized || strings.Contains(p.Body, "13600136000") {
		t.Fatalf("carol's spoofed post without a session: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	s.wantBindings(t, map[string]string{})
}

func TestPHPExampleAnswers403WhenTheIdentityHeaderIsAbsent(t *testing.T) {
	// php-fpm alone, reached without wechat_auth: bind.php must refuse rather
	// than bind to an empty openid. Drive it through a Caddy without wechat_auth.
	needTool(t, "php-sqlite3", "/usr/lib/php/*/pdo_sqlite.so")
	dir := shortTempDir(t)
	sock := startPHPFPM(t, dir)
	site := startPHPAroundTheGateway(t, dir, sock, "PHONE_DB "+filepath.Join(dir, "phones.sqlite"))
	for _, path := range []string{"/index.php", "/bind.php"} {
		req, _ := http.NewRequest(http.MethodPost, site+path, strings.NewReader("phone=13800138000"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s without X-WeChat-OpenID: %d, want 403", path, resp.StatusCode)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "phones.sqlite")); err == nil {
		s := &phpSite{DB: filepath.Join(dir, "phones.sqlite")}
		s.wantBindings(t, map[string]string{})
	}
}

// desktopSite is examples/php with its desktop_login line uncommented: an
// Official Account and a website app of one Open Platform account, so a
// person's unionid is the same on both.
type desktopSite struct {
	*phpSite
	WebApp string
}

func startPHPDesktopSite(t *testing.T) *desktopSite {
	t.Helper()
	const webApp, webSecret, openPlatform = "wxd0d0d0d0d0d0d0d0", "webappsecret0123456789abcdef0123", "op-shop"
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples", "php", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	const line = "# desktop_login {$WECHAT_WEB_APP_ID} {env.WECHAT_WEB_APP_SECRET}"
	if !strings.Contains(string(src), line) {
		t.Fatalf("examples/php/Caddyfile lacks %q", line)
	}
	example := writeFile(t, shortTempDir(t), "Caddyfile", strings.Replace(string(src), line, line[2:], 1))
	s := startPHPSiteWith(t, example, []string{"WECHAT_WEB_APP_ID=" + webApp, "WECHAT_WEB_APP_SECRET=" + webSecret},
		wechattest.WithBoundApp(wechattest.DefaultAppID, wechattest.DefaultAppSecret, openPlatform),
		wechattest.WithWebsiteApp(webApp, webSecret, openPlatform))
	return &desktopSite{phpSite: s, WebApp: webApp}
}

// unionID is user's unionid, the same for both apps.
func (s *desktopSite) unionID(user string) string {
	return s.Sim.UnionID(wechattest.DefaultAppID, user)
}

// desktopLogin signs user in on a computer: the website app's QR page,
// user's phone scans and confirms, and the index greets them by nickname.
func (s *desktopSite) desktopLogin(t *testing.T, user string) *wechattest.Browser {
	t.Helper()
	desk := wechattest.NewDesktopBrowser()
	qr := desk.Get(t, s.URL+"/index.php")
	if qr.URL.Path != "/connect/qrconnect" || qr.ScanURL() == "" {
		t.Fatalf("desktop visit ended on %d %s, want the website app's QR page:\n%s", qr.Status, qr.URL, qr.Body)
	}
	wechattest.NewBrowser(user).Get(t, qr.ScanURL()) // the phone scans and confirms
	uuid, _ := url.Parse(qr.ScanURL())
	p := desk.Get(t, s.Sim.URL+"/connect/qrconnect/poll?uuid="+uuid.Query().Get("uuid"))
	if p.URL.Path != "/index.php" || !strings.Contains(p.Body, "您好，"+html.EscapeString(s.nickname(t, user))) || strings.Contains(p.Body, `id="profile"`) {
		t.Fatalf("desktop login ended on %d %s, want the index greeting %s without 完善资料:\n%s", p.Status, p.URL, user, p.Body)
	}
	return desk
}

const phoneTag = `<strong id="phone">`

func wantPhone(t *testing.T, who string, p *wechattest.Page, phone string) {
	t.Helper()
	if !strings.Contains(p.Body, phoneTag+phone+"</strong>") {
		t.Fatalf("%s: the page does not show %s:\n%s", who, phone, p.Body)
	}
}

// TestPHPExampleFindsTheSamePhoneFromTheDesktopAndFromWeChat: bob scans in
// on a desktop and binds a phone; bob in WeChat (another openid, the same
// unionid) finds it once 完善资料 has brought the unionid.
func TestPHPExampleFindsTheSamePhoneFromTheDesktopAndFromWeChat(t *testing.T) {
	s := startPHPDesktopSite(t)
	desk := s.desktopLogin(t, "bob")
	wantPhone(t, "desktop bind", s.bind(t, desk, "13600136000", nil), "13600136000")
	union := s.unionID("bob")
	s.wantBindings(t, map[string]string{"unionid:" + union: "13600136000"})
	s.wantLinks(t, map[string]string{"web:" + s.Sim.OpenID(s.WebApp, "bob"): union})

	// Bob in WeChat: the Official Account's openid, the same unionid, the same phone.
	bob := s.login(t, "bob")
	wantPhone(t, "bob in WeChat after 完善资料", s.shareProfile(t, bob, "bob"), "13600136000")
	wantPhone(t, "bob in WeChat, later", bob.Get(t, s.URL+"/index.php"), "13600136000")
	// Alice in WeChat sees none, and cannot take bob's number.
	alice := s.login(t, "alice")
	if p := s.bind(t, alice, "13600136000", nil); p.Status != http.StatusConflict {
		t.Errorf("alice took bob's number: %d", p.Status)
	}
	s.wantBindings(t, map[string]string{"unionid:" + union: "13600136000"})
}

// (a) A number bound in a silent session belongs to the openid; 完善资料
// brings the unionid and moves it there, so the desktop finds it.
func TestPHPExampleMovesANumberBoundSilentlyToTheUnionIDOnProfileAndTheDesktopFindsIt(t *testing.T) {
	s := startPHPDesktopSite(t)
	bob := s.login(t, "bob")
	wantPhone(t, "silent bind", s.bind(t, bob, "13800138000", nil), "13800138000")
	mpBob, union := "mp:"+s.openID("bob"), s.unionID("bob")
	s.wantBindings(t, map[string]string{mpBob: "13800138000"})
	s.wantLinks(t, map[string]string{})

	wantPhone(t, "after 完善资料", s.shareProfile(t, bob, "bob"), "13800138000")
	s.wantBindings(t, map[string]string{"unionid:" + union: "13800138000"})
	s.wantLinks(t, map[string]string{mpBob: union})

	desk := s.desktopLogin(t, "bob")
	wantPhone(t, "bob on the desktop", desk.Get(t, s.URL+"/index.php"), "13800138000")
	// Still bob's number for anyone else, in WeChat or on a desktop.
	if p := s.bind(t, s.login(t, "alice"), "13800138000", nil); p.Status != http.StatusConflict {
		t.Errorf("alice in WeChat took bob's moved number: %d", p.Status)
	}
	if p := s.bind(t, s.desktopLogin(t, "alice"), "13800138000", nil); p.Status != http.StatusConflict {
		t.Errorf("alice on a desktop took bob's moved number: %d", p.Status)
	}
	s.wantBindings(t, map[string]string{"unionid:" + union: "13800138000"})
}

// (b) Once linked, a later silent sign-in (snsapi_base: no unionid) finds
// the person by openid, and binds for the person too.
func TestPHPExampleLaterSilentVisitFindsTheNumberThroughTheLink(t *testing.T) {
	s := startPHPDesktopSite(t)
	bob := s.login(t, "bob")
	s.bind(t, bob, "13800138000", nil)
	s.shareProfile(t, bob, "bob")
	union := s.unionID("bob")

	again := s.login(t, "bob") // a new session: silent, openid only
	p := again.Get(t, s.URL+"/index.php")
	wantPhone(t, "bob signed in silently after the link", p, "13800138000")
	if strings.Contains(p.Body, `id="link-hint"`) {
		t.Errorf("a linked visitor is still told to press 完善资料 to find a number:\n%s", p.Body)
	}
	wantPhone(t, "silent rebind", s.bind(t, again, "13900139000", nil), "13900139000")
	s.wantBindings(t, map[string]string{"unionid:" + union: "13900139000"})
	wantPhone(t, "bob on the desktop", s.desktopLogin(t, "bob").Get(t, s.URL+"/index.php"), "13900139000")
}

// (c) An openid never seen with a unionid is all the app knows: the page
// offers 完善资料 with the hint, and shows no number bound elsewhere, even
// once another openid of the account is linked.
func TestPHPExampleOpenIDNeverSeenWithAUnionIDSeesTheButtonAndNoNumberBoundElsewhere(t *testing.T) {
	s := startPHPDesktopSite(t)
	s.bind(t, s.desktopLogin(t, "bob"), "13600136000", nil)
	s.bind(t, s.desktopLogin(t, "alice"), "13700137000", nil)

	bob := s.login(t, "bob")
	p := bob.Get(t, s.URL+"/index.php")
	if strings.Contains(p.Body, phoneTag) || !strings.Contains(p.Body, `id="phone-none"`) || !strings.Contains(p.Body, `id="link-hint"`) {
		t.Fatalf("bob in WeChat, never seen with his unionid: want no number, 完善资料 and the hint:\n%s", p.Body)
	}
	s.shareProfile(t, bob, "bob") // links bob's openid, not alice's

	p = s.login(t, "alice").Get(t, s.URL+"/index.php")
	if strings.Contains(p.Body, phoneTag) || !strings.Contains(p.Body, `id="link-hint"`) {
		t.Fatalf("alice in WeChat, never seen with her unionid: want no number and the hint:\n%s", p.Body)
	}
	s.wantLinks(t, map[string]string{
		"web:" + s.Sim.OpenID(s.WebApp, "bob"):   s.unionID("bob"),
		"web:" + s.Sim.OpenID(s.WebApp, "alice"): s.unionID("alice"),
		"mp:" + s.openID("bob"):                  s.unionID("bob"),
	})
}

// (d) A unionid that has a number of its own keeps it: 完善资料 links the
// openid but moves nothing over it.
func TestPHPExampleProfileNeverOverwritesTheUnionIDsOwnNumber(t *testing.T) {
	s := startPHPDesktopSite(t)
	s.bind(t, s.desktopLogin(t, "bob"), "13600136000", nil)
	bob := s.login(t, "bob")
	wantPhone(t, "silent bind", s.bind(t, bob, "13900139000", nil), "13900139000")
	mpBob, union := "mp:"+s.openID("bob"), s.unionID("bob")
	s.wantBindings(t, map[string]string{"unionid:" + union: "13600136000", mpBob: "13900139000"})

	wantPhone(t, "after 完善资料", s.shareProfile(t, bob, "bob"), "13600136000")
	s.wantBindings(t, map[string]string{"unionid:" + union: "13600136000", mpBob: "13900139000"})
	s.wantLinks(t, map[string]string{"web:" + s.Sim.OpenID(s.WebApp, "bob"): union, mpBob: union})
	wantPhone(t, "bob on the desktop", s.desktopLogin(t, "bob").Get(t, s.URL+"/index.php"), "13600136000")
	wantPhone(t, "bob signed in silently", s.login(t, "bob").Get(t, s.URL+"/index.php"), "13600136000")
}

// A unionid is now a key to a person's number for good (the link), so a
// client-sent one must never link an openid: wechat_auth removes it like the
// openid header, and alice stays alice.
func TestPHPExampleClientSentUnionIDNeverLinksAnOpenIDToAnotherPerson(t *testing.T) {
	s := startPHPDesktopSite(t)
	s.bind(t, s.desktopLogin(t, "bob"), "13600136000", nil)
	bobUnion := s.unionID("bob")

	alice := s.login(t, "alice")
	for _, h := range []string{"X-WeChat-UnionID", "X_WeChat_UnionID", "x-wechat-unionid"} {
		alice.Header = http.Header{h: {bobUnion}, "X-WeChat-Scope": {"snsapi_userinfo"}}
		if p := alice.Get(t, s.URL+"/index.php"); strings.Contains(p.Body, "13600136000") || !strings.Contains(p.Body, `id="link-hint"`) {
			t.Fatalf("alice sending %s of bob's: she sees his number, or is not a silent visitor:\n%s", h, p.Body)
		}
		if p := s.bind(t, alice, "13600136000", nil); p.Status != http.StatusConflict {
			t.Fatalf("alice sending %s of bob's took his number: %d\n%s", h, p.Status, p.Body)
		}
	}
	alice.Header = http.Header{}
	s.wantBindings(t, map[string]string{"unionid:" + bobUnion: "13600136000"})
	s.wantLinks(t, map[string]string{"web:" + s.Sim.OpenID(s.WebApp, "bob"): bobUnion})
}

// TestPHPExampleWechatDoctorFindsNoSnapshotPageRisk: the example signs in
// with snsapi_base, so the doctor's snapshot-page check passes; the same
// file with site-wide snsapi_userinfo is flagged, so the check is live.
func TestPHPExampleWechatDoctorFindsNoSnapshotPageRisk(t *testing.T) {
	env := []string{"SITE_ADDRESS=phone.example.com", "WECHAT_APP_ID=wx0123456789abcdef",
		"WECHAT_APP_SECRET=" + wechattest.DefaultAppSecret,
		"WECHAT_SESSION_HASH_KEY=aGFzaGtleWhhc2hrZXloYXNoa2V5aGFzaGtleWhhc2g=",
		"WECHAT_SESSION_BLOCK_KEY=YmxvY2trZXlibG9ja2tleWJsb2Nra2V5YmxvY2trZXk="}
	example := filepath.Join(repoRoot, "examples", "php", "Caddyfile")
	src, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "\t\tscope snsapi_base\n") {
		t.Fatalf("examples/php/Caddyfile does not set scope snsapi_base")
	}
	forced := writeFile(t, t.TempDir(), "Caddyfile", strings.Replace(string(src), "\t\tscope snsapi_base\n", "\t\tscope snsapi_userinfo\n", 1))
	for file, wantFlag := range map[string]bool{example: false, forced: true} {
		code, out := runDoctorBinary(t, env, "--config", file, "--offline", "--json")
		if file == example && code != 0 {
			// The example is what people copy: it passes the doctor whole
			// (the MP_verify file included), not only this check.
			t.Errorf("doctor on examples/php/Caddyfile exits %d, want 0:\n%s", code, out)
		}
		var report struct {
			Sites []struct {
				Scope string `json:"scope"`
			} `json:"sites"`
			Findings []struct {
				Check, Level string
			} `json:"findings"`
		}
		if err := json.Unmarshal([]byte(out), &report); err != nil || len(report.Sites) != 1 {
			t.Fatalf("%s: doctor --json: %v\n%s", file, err, out)
		}
		flagged := false
		for _, f := range report.Findings {
			flagged = flagged || (f.Check == "userinfo_sitewide" && f.Level == "problem")
		}
		if flagged != wantFlag {
			t.Errorf("%s (scope %s): snapshot-page risk flagged %v, want %v:\n%s", file, report.Sites[0].Scope, flagged, wantFlag, out)
		}
	}
}

// TestPHPExampleServesTheMPVerifyFileToAnyClient: WeChat checks the
// 网页授权域名 by fetching MP_verify_….txt from the site's root as a client
// that is not WeChat. The example serves the file dropped next to index.php
// to any client, before wechat_auth, and nothing else from that folder.
func TestPHPExampleServesTheMPVerifyFileToAnyClient(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(repoRoot, "examples", "php")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, root, e.Name(), string(b))
	}
	const verify, content = "MP_verify_a1B2c3D4e5F6g7H8.txt", "a1B2c3D4e5F6g7H8"
	writeFile(t, root, verify, content)
	s := startPHPSiteWith(t, filepath.Join(repoRoot, "examples", "php", "Caddyfile"), []string{"PHP_APP_ROOT=" + root})

	for _, ua := range []string{wechattest.DesktopUA, "curl/8.5.0", wechatUA} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/"+verify, nil)
		req.Header.Set("User-Agent", ua)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, 64)
		n, _ := resp.Body.Read(body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body[:n])) != content {
			t.Errorf("%s as %q: %d %q, want 200 and the file's content", verify, ua, resp.StatusCode, body[:n])
		}
	}
	// Only MP_verify files: the rest of the folder is not served.
	for _, p := range []string{"/schema.sql", "/README.md", "/Caddyfile", "/MP_verify_0000000000000000.txt"} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+p, nil)
		req.Header.Set("User-Agent", wechattest.DesktopUA)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("%s: 200, want it not served", p)
		}
	}
}
