//go:build linux

package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// phpEcho is a PHP page that answers with what php-fpm gave it.
const phpEcho = `<?php
header('Content-Type: application/json');
header('X-Echo-Upstream: yes');
$vars = [];
foreach ($_SERVER as $k => $v) {
    if (is_string($v)) { $vars[$k] = $v; }
}
echo json_encode(['server' => (object)$vars, 'cookie' => (object)$_COOKIE]);
`

type phpEchoed struct {
	Server map[string]string `json:"server"`
	Cookie map[string]string `json:"cookie"`
}

// startNginxPHPExample runs examples/nginx/php-fpm.conf with real nginx and
// php-fpm, its root a folder with an index.php that echoes $_SERVER.
func startNginxPHPExample(t *testing.T, sim *wechattest.Server) string {
	t.Helper()
	dir := shortTempDir(t)
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, "index.php", phpEcho)
	writeFile(t, root, "db.php", "<?php echo 'internal';")
	sock := startPHPFPM(t, dir)
	return startNginxSite(t, sim, dir, "php-fpm.conf",
		"root /srv/phone-binding;", "root "+root+";",
		"fastcgi_pass unix:/run/php/php-fpm.sock;", "fastcgi_pass unix:"+sock+";",
		"/var/log/nginx/phone.access.log", filepath.Join(dir, "phone.access.log"))
}

func getPHPEcho(t *testing.T, b *wechattest.Browser, req *http.Request) phpEchoed {
	t.Helper()
	p := b.Do(t, req)
	if p.Status != http.StatusOK || p.Header.Get("X-Echo-Upstream") != "yes" {
		t.Fatalf("did not reach PHP: %d %s\nhops:\n  %s\n%.400s", p.Status, p.URL, b.HopsString(), p.Body)
	}
	var e phpEchoed
	if err := json.Unmarshal([]byte(p.Body), &e); err != nil {
		t.Fatalf("PHP's answer: %v\n%s", err, p.Body)
	}
	return e
}

func TestNginxPHPFPMExampleGivesPHPTheOpenIDAndNeverAClientsCopy(t *testing.T) {
	needTool(t, "php-fpm", "php-fpm", "/usr/sbin/php-fpm*")
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	site := startNginxPHPExample(t, sim)
	aliceID, bobID := sim.OpenID(wechattest.DefaultAppID, "alice"), sim.OpenID(wechattest.DefaultAppID, "bob")

	// The login through WeChat ends on PHP, which reads the openid.
	b := wechattest.NewBrowser("alice")
	req, _ := http.NewRequest(http.MethodGet, site+"/", nil)
	e := getPHPEcho(t, b, req)
	if e.Server["HTTP_X_WECHAT_OPENID"] != aliceID || e.Server["REMOTE_USER"] != aliceID || e.Server["HTTP_X_WECHAT_SCOPE"] != "snsapi_base" {
		t.Fatalf("PHP got HTTP_X_WECHAT_OPENID %q REMOTE_USER %q scope %q, want alice's openid", e.Server["HTTP_X_WECHAT_OPENID"], e.Server["REMOTE_USER"], e.Server["HTTP_X_WECHAT_SCOPE"])
	}
	if _, ok := e.Server["HTTP_X_WECHAT_UNIONID"]; ok {
		t.Errorf("snsapi_base has no unionid, PHP got HTTP_X_WECHAT_UNIONID %q", e.Server["HTTP_X_WECHAT_UNIONID"])
	}

	// With alice's session, a client's own identity headers (every
	// spelling, an invented name) never reach PHP; PHP's own cookie does,
	// the gateway's do not.
	req, _ = http.NewRequest(http.MethodGet, site+"/index.php?x=1", nil)
	for _, h := range forgedIdentityHeaders {
		req.Header[h] = []string{bobID}
	}
	req.Header.Set("X-WeChat-Foo", bobID)
	b.Jar.SetCookies(req.URL, []*http.Cookie{{Name: "PHPSESSID", Value: "php-own-session"}})
	e = getPHPEcho(t, b, req)
	if e.Server["HTTP_X_WECHAT_OPENID"] != aliceID {
		t.Errorf("PHP got HTTP_X_WECHAT_OPENID %q, want alice's", e.Server["HTTP_X_WECHAT_OPENID"])
	}
	for k, v := range e.Server {
		if strings.Contains(v, bobID) {
			t.Errorf("PHP got %s = %q: a client's identity header reached PHP", k, v)
		}
	}
	if e.Cookie["PHPSESSID"] != "php-own-session" {
		t.Errorf("PHP's own session cookie did not reach PHP: %v", e.Cookie)
	}
	for name := range e.Cookie {
		if strings.HasPrefix(name, "wechat_session") {
			t.Errorf("the gateway's cookie %s reached PHP", name)
		}
	}

	// Without a session, the forged header never reaches PHP: a login.
	req, _ = http.NewRequest(http.MethodGet, site+"/", nil)
	req.Header.Set("X-WeChat-OpenID", aliceID)
	req.Header.Set("User-Agent", wechatUA)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("X-Echo-Upstream") == "yes" || !strings.HasPrefix(resp.Header.Get("Location"), site+"/wechat_auth/login?") {
		t.Fatalf("without a session: %d Location %q, want 302 to the login and PHP not reached", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Only the pages are served: include files are not.
	if p := b.Get(t, site+"/db.php"); p.Status != http.StatusNotFound {
		t.Errorf("/db.php: %d, want 404", p.Status)
	}
}
