//go:build linux

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCaddyfileExampleValidates runs the built binary's validate on the
// shipped example with its documented environment. (It lived in caddymodule,
// where it ran its own `go build` of cmd/caddy; here TestMain's build serves.)
func TestCaddyfileExampleValidates(t *testing.T) {
	code, out := runCaddy(t, []string{
		"WECHAT_APP_ID=wx0123456789abcdef",
		"WECHAT_APP_SECRET=0123456789abcdef0123456789abcdef",
		"WECHAT_SESSION_HASH_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",  // 0123456789abcdef0123456789abcdef
		"WECHAT_SESSION_BLOCK_KEY=ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=", // fedcba9876543210fedcba9876543210
		"SITE_ADDRESS=http://127.0.0.1:8081",
	}, "validate", "--config", filepath.Join(repoRoot, "Caddyfile.example"), "--adapter", "caddyfile")
	if code != 0 || !strings.Contains(out, "Valid configuration") {
		t.Fatalf("caddy validate Caddyfile.example: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "0123456789abcdef0123456789abcdef") {
		t.Fatal("validate printed the secret")
	}
}
