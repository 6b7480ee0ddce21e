//go:build linux

package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestKubernetesRedisVariantCaddyfileAdaptsWithTheStoreAsAPlaceholder: the
// Caddyfile of examples/kubernetes/redis adapts and validates, configures the
// wechat app's store, and keeps the store URL (with its password) out of the
// output.
func TestKubernetesRedisVariantCaddyfileAdaptsWithTheStoreAsAPlaceholder(t *testing.T) {
	bin := needCaddy(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot, "examples", "kubernetes", "redis", "gateway-store.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var caddyfile string
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc.Kind == "ConfigMap" {
			caddyfile = doc.Data["Caddyfile"]
		}
	}
	if !strings.Contains(caddyfile, "store {env.WECHAT_STORE}") {
		t.Fatalf("the variant's Caddyfile does not configure the store:\n%s", caddyfile)
	}
	file := writeFile(t, t.TempDir(), "Caddyfile", caddyfile)
	const secretURL = "redis://:v4lkey-pa55@phone-binding-valkey:6379/0"
	env := append(caddyEnv(t), "WECHAT_APP_ID=wx0123456789abcdef", "WECHAT_APP_SECRET=0123456789abcdef0123456789abcdef",
		"WECHAT_SESSION_HASH_KEY="+randomKey(t, 32), "WECHAT_SESSION_BLOCK_KEY="+randomKey(t, 32), "WECHAT_STORE="+secretURL)
	for _, sub := range []string{"adapt", "validate"} {
		cmd := exec.Command(bin, sub, "--config", file, "--adapter", "caddyfile")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("caddy %s: %v\n%s", sub, err, out)
		}
		if strings.Contains(string(out), "v4lkey-pa55") {
			t.Fatalf("caddy %s shows the store password:\n%s", sub, out)
		}
		if sub == "adapt" && !strings.Contains(string(out), `"wechat":{"store":"{env.WECHAT_STORE}"}`) {
			t.Fatalf("adapted JSON lacks the wechat app's store placeholder:\n%s", out)
		}
	}
}
