//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// examples/wecom for real: the example Caddyfile imported unchanged into the
// built Caddy, php-fpm running index.php, the simulator playing
// wechattest.DefaultCorp as WeCom. A member of 研发部's 后端组 sees the page,
// a member of 销售部 (outside the app's visible range) and a visible member of
// 总部 outside allow_departments are refused, and a forged X-WeCom-UserID
// never reaches PHP.
func TestWeComExampleServesTheDepartmentPageUnderPHPFPM(t *testing.T) {
	site, _ := startWeComExample(t, "WECOM_EXTRA_USER=nobody")

	member := wechattest.NewWeComBrowser("zhangsan")
	member.Header.Set("X-WeCom-UserID", "boss")
	p := member.Get(t, site+"/")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `<h1 id="greeting">张三，您好</h1>`) ||
		!strings.Contains(p.Body, `<code id="userid">zhangsan</code>`) || !strings.Contains(p.Body, `<span id="departments">3</span>`) ||
		!strings.Contains(p.Body, `<code id="corp">`+wechattest.DefaultCorpID+`</code>`) {
		t.Fatalf("zhangsan (后端组 under 研发部): %d %s\n%s", p.Status, p.Body, member.HopsString())
	}
	for user, want := range map[string]string{"lisi": "可见范围", "wangwu": "部门"} {
		p := wechattest.NewWeComBrowser(user).Get(t, site+"/")
		if p.Status != http.StatusForbidden || !strings.Contains(p.Body, want) || strings.Contains(p.Body, "greeting") {
			t.Errorf("%s: %d, want 403 saying %q: %.300s", user, p.Status, want, p.Body)
		}
	}
	// Personal WeChat is told to open WeCom, never sent to WeCom's authorize.
	if p := wechattest.NewBrowser("alice").Get(t, site+"/"); p.Status != http.StatusForbidden || !strings.Contains(p.Body, "企业微信") {
		t.Errorf("personal WeChat: %d %.300s", p.Status, p.Body)
	}
}

// startWeComExample runs examples/wecom as it is (imported into a Caddyfile
// that only turns the admin endpoint off) in the built Caddy, with php-fpm
// and the simulator playing wechattest.DefaultCorp, whose app trusts the
// site's host and port. env adds to or overrides the example's variables.
func startWeComExample(t *testing.T, env ...string) (site string, sim *wechattest.Server) {
	t.Helper()
	dir := shortTempDir(t)
	sock := startPHPFPM(t, dir)
	port := testnet.Port(t)
	site = fmt.Sprintf("http://127.0.0.1:%d", port)
	sim = wechattest.NewServer(wechattest.WithCorp(wechattest.DefaultCorp(fmt.Sprint(port))))
	t.Cleanup(sim.Close)
	caddyfile := writeFile(t, dir, "Caddyfile", fmt.Sprintf("{\n\tadmin off\n\tdefault_bind 127.0.0.1\n}\n\nimport %s\n",
		filepath.Join(repoRoot, "examples", "wecom", "Caddyfile")))
	env = append([]string{
		"SITE_ADDRESS=" + site,
		"PHP_APP_ROOT=" + filepath.Join(repoRoot, "examples", "wecom"),
		"PHP_FPM_SOCKET=" + sock,
		"WECOM_CORP_ID=" + wechattest.DefaultCorpID,
		"WECOM_AGENT_ID=1000002",
		"WECOM_SECRET=" + wechattest.DefaultAgentSecret,
		"WECOM_API_BASE=" + sim.URL, "WECOM_OPEN_BASE=" + sim.URL, "WECOM_LOGIN_BASE=" + sim.URL,
		"WECHAT_SESSION_HASH_KEY=" + randomKey(t, 32),
		"WECHAT_SESSION_BLOCK_KEY=" + randomKey(t, 32),
	}, env...)
	startCaddy(t, "caddy", caddyfile, env, site+"/WW_verify_none.txt")
	return site, sim
}
