//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// profilePHP is a legacy PHP page that calls WeChat's sns/userinfo itself
// with the web access_token the gateway passes (pass_access_token,
// docs/tokens.md), as apps written before the gateway do.
const profilePHP = `<?php
$token = $_SERVER['HTTP_X_WECHAT_ACCESS_TOKEN'] ?? '';
$openid = $_SERVER['HTTP_X_WECHAT_OPENID'] ?? '';
header('Content-Type: text/html; charset=utf-8');
if ($token === '' || $openid === '') {
	echo '<p id="error">no token</p>';
	exit;
}
$url = getenv('WECHAT_API_BASE') . '/sns/userinfo?' . http_build_query(
	['access_token' => $token, 'openid' => $openid, 'lang' => 'zh_CN']);
$u = json_decode((string) @file_get_contents($url), true);
if (!is_array($u) || !empty($u['errcode'])) {
	echo '<p id="error">errcode ' . intval($u['errcode'] ?? -2) . '</p>';
	exit;
}
echo '<p id="nickname">' . htmlspecialchars($u['nickname']) . '</p>';
echo '<img id="avatar" src="' . htmlspecialchars($u['headimgurl']) . '">';
`

// TestPHPPageCallsUserInfoWithThePassedAccessToken: a snsapi_userinfo site
// with pass_access_token in front of php-fpm; the PHP page calls the
// simulator's sns/userinfo with X-WeChat-Access-Token and shows the
// visitor's nickname, changed in WeChat since the sign-in. Caddy's output
// (debug log included, with the filter docs/tokens.md gives) never holds
// the token.
func TestPHPPageCallsUserInfoWithThePassedAccessToken(t *testing.T) {
	needTool(t, "php-fpm", "php-fpm", "/usr/sbin/php-fpm*")
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	dir := shortTempDir(t)
	sock := startPHPFPM(t, dir)
	root := filepath.Join(dir, "www")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, "profile.php", profilePHP)

	site := fmt.Sprintf("http://127.0.0.1:%d", testnet.Port(t))
	caddyfile := writeFile(t, dir, "Caddyfile", fmt.Sprintf(`{
	admin off
	default_bind 127.0.0.1
	log {
		level DEBUG
		# At DEBUG, Caddy's reverse_proxy and php_fastcgi log the request
		# they send, headers included (docs/tokens.md).
		format filter {
			fields {
				request>headers>X-Wechat-Access-Token delete
				env>HTTP_X_WECHAT_ACCESS_TOKEN delete
			}
		}
	}
}

%s {
	root * %s
	wechat_auth {
		app_id {$WECHAT_APP_ID}
		app_secret {env.WECHAT_APP_SECRET}
		scope snsapi_userinfo
		session_keys {env.WECHAT_SESSION_HASH_KEY} {env.WECHAT_SESSION_BLOCK_KEY}
		api_base {$WECHAT_API_BASE}
		open_base {$WECHAT_OPEN_BASE}
		pass_access_token
	}
	php_fastcgi unix/%s {
		env WECHAT_API_BASE {$WECHAT_API_BASE}
	}
}
`, site, root, sock))
	caddy := startCaddy(t, "caddy", caddyfile, wechatEnv(t, sim), site+"/")

	sim.SetProfile("bob", "鲍勃", "https://thirdwx.qlogo.cn/mmopen/bob2/132")
	b := wechattest.NewBrowser("bob")
	p := b.Get(t, site+"/profile.php")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `<p id="nickname">鲍勃</p>`) ||
		!strings.Contains(p.Body, "https://thirdwx.qlogo.cn/mmopen/bob2/132") {
		t.Fatalf("the PHP page did not show the profile it fetched with the passed token: %d\nhops:\n  %s\n%s",
			p.Status, b.HopsString(), p.Body)
	}
	var token string
	for _, c := range sim.Calls() {
		if c.Path == "/sns/userinfo" {
			token = c.Query.Get("access_token")
		}
	}
	if n := sim.CallCount("/sns/userinfo"); n != 2 || token == "" {
		t.Fatalf("%d sns/userinfo calls (want the gateway's at sign-in and the page's)", n)
	}
	if strings.Contains(caddy.out.String(), token) {
		t.Fatal("Caddy's output holds the web access_token")
	}
}
