//go:build linux

package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// phpSite is examples/php running for real: php-fpm on a unix socket, Caddy
// with the example Caddyfile, the simulator as WeChat, SQLite in a temp dir.
type phpSite struct {
	URL string // http://127.0.0.1:PORT
	DB  string // the SQLite file
	Sim *wechattest.Server
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

	port := freePort(t)
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
	startCaddy(t, "caddy", caddyfile, append([]string{
		"SITE_ADDRESS=" + site,
		"PHP_APP_ROOT=" + filepath.Join(repoRoot, "examples", "php"),
		"PHP_FPM_SOCKET=" + sock,
		"PHONE_DB=" + db,
		"WECHAT_APP_ID=" + wechattest.DefaultAppID,
		"WECHAT_APP_SECRET=" + wechattest.DefaultAppSecret,
		"WECHAT_SESSION_HASH_KEY=" + randomKey(t, 32),
		"WECHAT_SESSION_BLOCK_KEY=" + randomKey(t, 32),
		"WECHAT_API_BASE=" + sim.URL,
		"WECHAT_OPEN_BASE=" + sim.URL,
	}, extraEnv...), site+"/")
	return &phpSite{URL: site, DB: db, Sim: sim}
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

// bindings reads person_phones back with the sqlite3 CLI: person → phone.
func (s *phpSite) bindings(t *testing.T) map[string]string {
	t.Helper()
	sqlite := needTool(t, "sqlite3", "sqlite3")
	got := map[string]string{}
	if _, err := os.Stat(s.DB); os.IsNotExist(err) {
		return got
	}
	cmd := exec.Command(sqlite, "-readonly", "-separator", "|", s.DB,
		"SELECT person, phone FROM person_phones ORDER BY person")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		person, phone, ok := strings.Cut(line, "|")
		if !ok {
			t.Fatalf("sqlite3 row %q", line)
		}
		got[person] = phone
	}
	return got
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

// login opens the index page as user, walking the whole authorization (the
// simulator's authorize page and consent included), and checks the greeting.
func (s *phpSite) login(t *testing.T, user string) *wechattest.Browser {
	t.Helper()
	b := wechattest.NewBrowser(user)
	p := b.Get(t, s.URL+"/index.php")
	if p.Status != http.StatusOK || p.URL.Host != strings.TrimPrefix(s.URL, "http://") {
		t.Fatalf("%s: ended on %d %s\nhops:\n  %s\n%s", user, p.Status, p.URL, b.HopsString(), p.Body)
	}
	wantGreeting := `<h1 id="greeting">您好，` + html.EscapeString(s.nickname(t, user)) + `</h1>`
	if !strings.Contains(p.Body, wantGreeting) {
		t.Fatalf("%s: index page lacks %q:\n%s", user, wantGreeting, p.Body)
	}
	return b
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
	port := freePort(t)
	site := fmt.Sprintf("http://127.0.0.1:%d", port)
	caddyfile := writeFile(t, dir, "Caddyfile", fmt.Sprintf(`{
	admin off
	default_bind 127.0.0.1
}

%s {
	root * %s
	php_fastcgi unix/%s {
		env PHONE_DB %s
	}
}
`, site, filepath.Join(repoRoot, "examples", "php"), sock, filepath.Join(dir, "phones.sqlite")))
	startCaddy(t, "caddy", caddyfile, nil, site+"/")
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

// TestPHPExampleFindsTheSamePhoneFromTheDesktopAndFromWeChat runs the
// example with its desktop_login line uncommented, an Official Account and a
// website app of one Open Platform account: bob scans in on a desktop and
// binds a phone; bob in WeChat (another openid, the same unionid) sees it.
func TestPHPExampleFindsTheSamePhoneFromTheDesktopAndFromWeChat(t *testing.T) {
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

	desk := wechattest.NewDesktopBrowser()
	qr := desk.Get(t, s.URL+"/index.php")
	if qr.URL.Path != "/connect/qrconnect" || qr.ScanURL() == "" {
		t.Fatalf("desktop visit ended on %d %s, want the website app's QR page:\n%s", qr.Status, qr.URL, qr.Body)
	}
	wechattest.NewBrowser("bob").Get(t, qr.ScanURL()) // the phone scans and confirms
	uuid, _ := url.Parse(qr.ScanURL())
	p := desk.Get(t, s.Sim.URL+"/connect/qrconnect/poll?uuid="+uuid.Query().Get("uuid"))
	if p.URL.Path != "/index.php" || !strings.Contains(p.Body, "您好，"+html.EscapeString(s.nickname(t, "bob"))) {
		t.Fatalf("desktop login ended on %d %s:\n%s", p.Status, p.URL, p.Body)
	}
	if p = s.bind(t, desk, "13600136000", nil); !strings.Contains(p.Body, `<strong id="phone">13600136000</strong>`) {
		t.Fatalf("desktop bind: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	union := s.Sim.UnionID(wechattest.DefaultAppID, "bob")
	s.wantBindings(t, map[string]string{"unionid:" + union: "13600136000"})

	// Bob in WeChat: the Official Account's openid, the same unionid, the same phone.
	if p := s.login(t, "bob").Get(t, s.URL+"/index.php"); !strings.Contains(p.Body, `<strong id="phone">13600136000</strong>`) {
		t.Fatalf("bob in WeChat does not see the phone bound on the desktop:\n%s", p.Body)
	}
	// Alice in WeChat sees none, and cannot take bob's number.
	alice := s.login(t, "alice")
	if p := s.bind(t, alice, "13600136000", nil); p.Status != http.StatusConflict {
		t.Errorf("alice took bob's number: %d", p.Status)
	}
}
