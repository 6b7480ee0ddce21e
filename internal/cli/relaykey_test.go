package cli

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestWechatRelayKeyPrintsOneLinePerOriginAndTakesNoLiteralSecret(t *testing.T) {
	t.Setenv("RELAY_KEY_TEST_SECRET", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	var out bytes.Buffer
	if err := runRelayKey("{env.RELAY_KEY_TEST_SECRET}", []string{"https://Shop.Example.com:443/", "http://m.example.com:8080"}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "relay_key https://shop.example.com ") ||
		!strings.HasPrefix(lines[1], "relay_key http://m.example.com:8080 ") {
		t.Fatalf("got %q", out.String())
	}
	if strings.Fields(lines[0])[2] == strings.Fields(lines[1])[2] {
		t.Fatal("two origins got the same key")
	}
	if err := runRelayKey(base64.StdEncoding.EncodeToString(make([]byte, 32)), []string{"https://a.example"}, &out); err == nil {
		t.Fatal("a literal secret on the command line was taken")
	}
	if err := runRelayKey("{env.RELAY_KEY_TEST_UNSET}", []string{"https://a.example"}, &out); err == nil {
		t.Fatal("an unset secret was taken")
	}
	if err := runRelayKey("{env.RELAY_KEY_TEST_SECRET}", []string{"shop.example.com"}, &out); err == nil {
		t.Fatal("an origin without scheme was taken")
	}
}
