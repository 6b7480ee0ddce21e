//go:build linux

package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// runDoctorBinary runs `caddy wechat-doctor args...` from the built binary and
// returns its exit status and output.
func runDoctorBinary(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	return runCaddy(t, env, append([]string{"wechat-doctor"}, args...)...)
}

func TestBinaryWechatDoctorExitStatusesAndIPWhitelistReport(t *testing.T) {
	exampleEnv := []string{"SITE_ADDRESS=wx.example.com", "WECHAT_APP_ID=wx0123456789abcdef",
		"WECHAT_APP_SECRET=" + wechattest.DefaultAppSecret,
		"WECHAT_SESSION_HASH_KEY=aGFzaGtleWhhc2hrZXloYXNoa2V5aGFzaGtleWhhc2g=",
		"WECHAT_SESSION_BLOCK_KEY=YmxvY2trZXlibG9ja2tleWJsb2Nra2V5YmxvY2trZXk="}

	code, out := runDoctorBinary(t, exampleEnv, "--config", filepath.Join(repoRoot, "Caddyfile.example"), "--offline")
	if code != 0 || !strings.Contains(out, "MP_verify_0123456789abcdef.txt is served to any client") {
		t.Errorf("Caddyfile.example, offline: exit %d, want 0 with the MP_verify file served:\n%s", code, out)
	}

	code, out = runDoctorBinary(t, nil, "--config", filepath.Join(t.TempDir(), "missing.Caddyfile"))
	if code != 2 || !strings.Contains(out, "missing.Caddyfile") {
		t.Errorf("a missing file: exit %d, want 2 naming it:\n%s", code, out)
	}

	// Online, against the simulator: WeChat refuses this machine's IP.
	sim := wechattest.NewServer()
	defer sim.Close()
	sim.Fail("/cgi-bin/stable_token", 1, wechattest.Fault{
		Body: `{"errcode":40164,"errmsg":"invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 6538ac7d-18c7e09b-572e68c3"}`})
	caddyfile := writeFile(t, t.TempDir(), "Caddyfile", `wx.example.com {
	handle /MP_verify_0123456789abcdef.txt {
		respond "0123456789abcdef"
	}
	handle {
		wechat_auth {
			app_id wx0123456789abcdef
			app_secret {env.WECHAT_APP_SECRET}
			session_keys {env.WECHAT_SESSION_HASH_KEY} {env.WECHAT_SESSION_BLOCK_KEY}
			api_base `+sim.URL+`
		}
		reverse_proxy 127.0.0.1:9
	}
}
`)
	code, out = runDoctorBinary(t, exampleEnv, "--config", caddyfile, "--json")
	if code != 1 || !strings.Contains(out, `"check": "ip_whitelist"`) || !strings.Contains(out, "add 203.0.113.7 to") {
		t.Errorf("40164: exit %d, want 1 with ip_whitelist naming 203.0.113.7:\n%s", code, out)
	}
	if strings.Contains(out, wechattest.DefaultAppSecret) {
		t.Errorf("the report prints the app secret:\n%s", out)
	}
}
