package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestWechatDoctorChecksTheThirdPartyPlatform: the doctor applies the
// gateway's own rules to wechat { component { … } } (a 5-character
// EncodingAESKey is named, its value never shown) and finds a platform
// without a wechat_component_events route; examples/saas passes.
func TestWechatDoctorChecksTheThirdPartyPlatform(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("WECHAT_COMPONENT_APP_ID", wechattest.DefaultComponentAppID)
	t.Setenv("WECHAT_COMPONENT_SECRET", wechattest.DefaultComponentSecret)
	t.Setenv("WECHAT_COMPONENT_TOKEN", wechattest.DefaultComponentToken)
	t.Setenv("WECHAT_SESSION_HASH_KEY", doctorHashKey)
	t.Setenv("WECHAT_SESSION_BLOCK_KEY", doctorBlockKey)
	t.Setenv("WECHAT_STORE", "redis://127.0.0.1:6379/0")
	example, err := os.ReadFile("../../examples/saas/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	doctor := func(caddyfile, aesKey string) (int, string) {
		t.Setenv("WECHAT_COMPONENT_AES_KEY", aesKey)
		p := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(p, []byte(caddyfile), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		code := runDoctorArgs(context.Background(), []string{"--config", p, "--offline"}, &out, &out)
		return code, out.String()
	}

	code, out := doctor(string(example), wechattest.DefaultComponentAESKey)
	if code != doctorExitOK || !strings.Contains(out, "the third-party platform's settings have the console's shapes") {
		t.Fatalf("examples/saas: exit %d\n%s", code, out)
	}
	code, out = doctor(string(example), "shortkey")
	if code != doctorExitProblems || !strings.Contains(out, "wechat component encoding_aes_key") || strings.Contains(out, "shortkey") {
		t.Fatalf("a short EncodingAESKey: exit %d\n%s", code, out)
	}
	noRoute := strings.Replace(string(example), "\twechat_component_events /wechat/component/events\n", "", 1)
	code, out = doctor(noRoute, wechattest.DefaultComponentAESKey)
	if code != doctorExitProblems || !strings.Contains(out, "no wechat_component_events route") {
		t.Fatalf("no receiver route: exit %d\n%s", code, out)
	}
}
