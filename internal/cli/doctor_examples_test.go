package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// exampleCaddyfiles are every Caddyfile the repository ships as an example,
// the Kubernetes ConfigMap's included, as name → path (a .yaml path means the
// Caddyfile under its "Caddyfile: |" key).
func exampleCaddyfiles(t *testing.T) map[string]string {
	t.Helper()
	root := "../.."
	files := map[string]string{"Caddyfile.example": filepath.Join(root, "Caddyfile.example")}
	for _, pattern := range []string{"examples/*/Caddyfile", "examples/*/*.Caddyfile", "examples/kubernetes/configmap.yaml"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			rel, _ := filepath.Rel(root, p)
			files[rel] = p
		}
	}
	if len(files) < 7 {
		t.Fatalf("found only %d example Caddyfiles: %v", len(files), files)
	}
	return files
}

// caddyfileOf reads a Caddyfile, or the one a ConfigMap embeds.
func caddyfileOf(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, ".yaml") {
		return b
	}
	_, body, ok := strings.Cut(string(b), "  Caddyfile: |\n")
	if !ok {
		t.Fatalf("%s has no Caddyfile: | key", path)
	}
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if l != "" && !strings.HasPrefix(l, "    ") {
			break
		}
		out = append(out, strings.TrimPrefix(l, "    "))
	}
	return []byte(strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n")
}

// Every example passes the doctor as shipped, given the environment its
// header documents, and is `caddy fmt` clean: what people copy is correct.
func TestEveryExampleCaddyfilePassesTheDoctorAndIsFormatted(t *testing.T) {
	env := map[string]string{
		"WECHAT_APP_ID": wechattest.DefaultAppID, "WECHAT_APP_SECRET": wechattest.DefaultAppSecret,
		"WECHAT_SESSION_HASH_KEY": doctorHashKey, "WECHAT_SESSION_BLOCK_KEY": doctorBlockKey,
		"WECHAT_RELAY_SECRET": doctorHashKey, "SHOP_RELAY_KEY": doctorBlockKey, "M_RELAY_KEY": doctorBlockKey,
		"WECHAT_WEB_APP_SECRET": "0123456789abcdef0123456789abcdef",
		"WECHAT_ASSERTION_KEY":  doctorAssertionKey,
		// examples/saas: the test platform's settings.
		"WECHAT_STORE": "redis://127.0.0.1:6379/0", "WECHAT_COMPONENT_APP_ID": wechattest.DefaultComponentAppID,
		"WECHAT_COMPONENT_SECRET": wechattest.DefaultComponentSecret, "WECHAT_COMPONENT_TOKEN": wechattest.DefaultComponentToken,
		"WECHAT_COMPONENT_AES_KEY": wechattest.DefaultComponentAESKey,
		// examples/wecom: the demo corp.
		"WECOM_CORP_ID": wechattest.DefaultCorpID, "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": wechattest.DefaultAgentSecret,
		"HOME": t.TempDir(),
	}
	for i, site := range []string{"WX", "SHOP", "M"} {
		env[site+"_SESSION_HASH_KEY"] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%032d", i)))
		env[site+"_SESSION_BLOCK_KEY"] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%032d", 10+i)))
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	for name, path := range exampleCaddyfiles(t) {
		t.Run(name, func(t *testing.T) {
			src := caddyfileOf(t, path)
			if formatted := caddyfile.Format(src); !bytes.Equal(formatted, src) {
				t.Errorf("%s is not `caddy fmt` clean", name)
			}
			p := filepath.Join(t.TempDir(), "Caddyfile")
			if err := os.WriteFile(p, src, 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if code := runDoctorArgs(context.Background(), []string{"--config", p, "--offline"}, &out, &out); code != doctorExitOK {
				t.Errorf("the doctor exits %d on %s, want 0:\n%s", code, name, out.String())
			}
		})
	}
}

// doctorAssertionKey is a throwaway ECDSA P-256 key for the Kubernetes
// example's assertion (WECHAT_ASSERTION_KEY).
const doctorAssertionKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRFrjYL5t2EO7nu9H
1X5Dbbr8GRUxjxQ7P29a7kxHEOahRANCAASrU/3jyX6p7sx17/kByGJFvAjrc/jk
Ipd+hr18LPuqtD+iodZreeLkrFsApMgMK2eCIfgCWAah6snRL3xwKUJx
-----END PRIVATE KEY-----
`
