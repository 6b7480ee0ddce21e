package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

func runSessionT(t *testing.T, args ...string) (string, error) {
	t.Helper()
	fs := pflag.NewFlagSet("wechat-session", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sessionFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := runSession(ctx, fs.Arg(0), fs, &out)
	return out.String(), err
}

// TestSessionRevokeWritesAndAnnounces: the revocation lands in the store
// under the gateways' key, kept at least as long as the announced
// session_ttl, and the store URL comes from WECHAT_STORE by default.
func TestSessionRevokeWritesAndAnnounces(t *testing.T) {
	srv := redistest.Start(t)
	if _, err := srv.Do("SET", "wechat_auth:session_ttl:wx0123456789abcdef", "2592000"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WECHAT_STORE", srv.URL())
	before := time.Now()
	out, err := runSessionT(t, "revoke", "--app", "wx0123456789abcdef", "--openid", "oUser_1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "revoked every session of openid oUser_1") {
		t.Fatalf("output: %q", out)
	}
	got, err := srv.Do("ZRANGE", "wechat_auth:revocations", "0", "-1", "WITHSCORES")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "o|wx0123456789abcdef|oUser_1|") {
		t.Fatalf("store holds %q", got)
	}
	score, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if keep := time.Unix(score, 0).Sub(before); keep < 30*24*time.Hour {
		t.Fatalf("kept for %s, want at least the announced 720h session_ttl", keep)
	}
}

// TestSessionRevokeFailsWithoutStore: an unreachable store is an error
// that says nothing was revoked and never shows the password.
func TestSessionRevokeFailsWithoutStore(t *testing.T) {
	const secret = "pa55-w0rd"
	_, err := runSessionT(t, "revoke", "--store", "redis://:"+secret+"@127.0.0.1:1/0", "--app", "wx0123456789abcdef", "--openid", "oUser_1")
	if err == nil || !strings.Contains(err.Error(), "nothing was revoked") || strings.Contains(err.Error(), secret) {
		t.Fatalf("err = %v", err)
	}
	os.Unsetenv("WECHAT_STORE")
	if _, err := runSessionT(t, "revoke", "--app", "wx0123456789abcdef", "--openid", "o1"); err == nil || !strings.Contains(err.Error(), "WECHAT_STORE") {
		t.Fatalf("missing store: %v", err)
	}
	if _, err := runSessionT(t, "revoke", "--store", "redis://127.0.0.1:1/0", "--app", "wx0123456789abcdef", "--openid", "o|x"); err == nil || !strings.Contains(err.Error(), "openid") {
		t.Fatalf("bad openid: %v", err)
	}
	if _, err := runSessionT(t, "ban", "--app", "a", "--openid", "o"); err == nil || !strings.Contains(err.Error(), "revoke") {
		t.Fatalf("unknown subcommand: %v", err)
	}
}
