package wechatauth_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestNoSecretCodeOrTokenReachesLogsOrUpstream walks logins, failures and a
// logout with DEBUG logging and access logs on, then searches every log line
// and every header the upstream received for the app secret, the session
// keys, every code and every token WeChat issued, and the cookie values.
func TestNoSecretCodeOrTokenReachesLogsOrUpstream(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "scope snsapi_userinfo"})
	b := newBrowser("bob")
	g.login(t, b, "/a?x=1")
	cookie := b.cookie(g.URL, "wechat_session")
	b.get(t, g.URL+"/wechat_auth/userinfo")
	b.get(t, g.URL+"/wechat_auth/logout")
	g.sim.Fail("/sns/userinfo", 1, wechattest.FaultBusy)
	g.sim.Fail("/sns/userinfo", 3, wechattest.Fault{Status: 500})
	g.login(t, newBrowser("carol"), "/b")
	g.sim.Fail(exchangePath, 2, wechattest.Fault{ErrCode: 40163})
	b.get(t, g.URL+"/c")
	g.sim.Fail(exchangePath, 1, wechattest.FaultMalformed)
	b.get(t, g.URL+"/d")

	secrets := map[string]string{
		"app secret": wechattest.DefaultAppSecret,
		"hash key":   testHashKey,
		"block key":  testBlockKey,
		"cookie":     cookie,
	}
	for i, c := range g.sim.Calls() {
		for _, k := range []string{"code", "access_token", "refresh_token", "secret"} {
			if v := c.Query.Get(k); len(v) >= 8 {
				secrets[fmt.Sprintf("%s #%d", k, i)] = v
			}
		}
	}
	if len(secrets) < 8 {
		t.Fatalf("only %d secrets collected: the simulator calls were not recorded", len(secrets))
	}
	logs := ""
	for _, f := range []string{g.logFile, g.logFile + ".access"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		logs += string(data)
	}
	if !strings.Contains(logs, "/wechat_auth/callback") || !strings.Contains(logs, "http.handlers.wechat_auth") {
		t.Fatalf("the logs do not cover the flow (access log and handler log expected):\n%.2000s", logs)
	}
	var upstreamHeaders strings.Builder
	g.up.mu.Lock()
	for _, r := range g.up.reqs {
		for k, v := range r.Header {
			upstreamHeaders.WriteString(k + ": " + strings.Join(v, ",") + "\n")
		}
	}
	g.up.mu.Unlock()
	for name, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the %s reached the logs", name)
		}
		if strings.Contains(upstreamHeaders.String(), s) {
			t.Errorf("the %s reached the upstream's headers", name)
		}
	}
}

func TestAdaptedConfigDoesNotContainTheSecretValue(t *testing.T) {
	const secret = "s3cr3t-value-that-must-not-appear"
	t.Setenv("WECHAT_APP_SECRET", secret)
	t.Setenv("WECHAT_SESSION_HASH_KEY", testHashKey)
	cfg := `example.com {
	wechat_auth {
		app_id wx0123456789abcdef
		app_secret {env.WECHAT_APP_SECRET}
		session_keys {env.WECHAT_SESSION_HASH_KEY}
	}
	respond "ok"
}`
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), secret) || strings.Contains(string(out), testHashKey) {
		t.Fatalf("adapted JSON contains a secret:\n%s", out)
	}
	if !strings.Contains(string(out), "{env.WECHAT_APP_SECRET}") {
		t.Fatalf("adapted JSON lost the placeholder:\n%s", out)
	}
}
