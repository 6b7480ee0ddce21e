package cli

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// TestSessionRevokeKeepsStoreSecretsOutOfOutput: against a real
// redis-server that wants a password, and a Sentinel URL whose data-node
// password can only go in ?password=, neither the error nor anything on
// stdout or stderr (go-redis's own pool lines included) shows a password.
func TestSessionRevokeKeepsStoreSecretsOutOfOutput(t *testing.T) {
	srv := redistest.Start(t)
	if _, err := srv.Do("CONFIG", "SET", "requirepass", "right-pa55"); err != nil {
		t.Fatal(err)
	}
	const userinfoSecret, querySecret = "wrong-pa55-in-userinfo", "sentinel-data-pa55"
	for _, store := range []string{
		"redis://:" + userinfoSecret + "@" + srv.Addr + "/0",
		"redis://:" + userinfoSecret + "@" + srv.Addr + "/0?master_name=mymaster&password=" + querySecret,
		"redis://:" + userinfoSecret + "@127.0.0.1:1/0", // nothing listens: go-redis's pool logs dial failures
	} {
		stderr := captureStderr(t, func() {
			out, err := runSessionT(t, "revoke", "--store", store, "--app", "wx0123456789abcdef", "--openid", "oUser_1")
			if err == nil {
				t.Fatalf("%s: revoked with a wrong password", MaskedForTest(store))
			}
			for _, text := range []string{out, err.Error()} {
				if strings.Contains(text, userinfoSecret) || strings.Contains(text, querySecret) {
					t.Fatalf("a password is printed: %s", text)
				}
			}
			if !strings.Contains(err.Error(), "xxxxx") || !strings.Contains(err.Error(), "nothing was revoked") {
				t.Fatalf("the error does not name the masked store: %v", err)
			}
		})
		if stderr != "" {
			t.Fatalf("stderr holds lines before the command's own error: %q", stderr)
		}
	}
}

// MaskedForTest names a store URL in a test failure without its secrets.
func MaskedForTest(s string) string { return wechatauth.MaskStoreURL(s) }

// captureStderr runs f with the process's standard error (file
// descriptor 2, where go-redis's logger writes through the os.Stderr it
// saw at start) going to a pipe, and returns what was written there.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(int(w.Fd()), 2, 0); err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	func() {
		defer func() { _ = syscall.Dup3(saved, 2, 0); _ = syscall.Close(saved) }()
		f()
	}()
	w.Close()
	return <-done
}
