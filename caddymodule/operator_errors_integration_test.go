package wechatauth_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestIPWhitelistErrorNamesTheIPAndTheConsoleSetting: when WeChat refuses the
// code exchange because the gateway's egress IP is not whitelisted (40164),
// the visitor gets a page that says the site's configuration is wrong (not a
// retry loop, not a 500), and the operator's log line names the IP WeChat saw
// and the console setting to change, without the app secret.
func TestIPWhitelistErrorNamesTheIPAndTheConsoleSetting(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	fault := wechattest.FaultIPNotWhitelisted
	fault.ClientIP = "203.0.113.7"
	g.sim.Fail(exchangePath, 1, fault)

	resp, body := newBrowser("bob").get(t, g.URL+"/orders")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "配置") {
		t.Fatalf("visitor got %d, want 502 with the configuration page:\n%.600s", resp.StatusCode, body)
	}
	data, err := os.ReadFile(g.logFile)
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "40164") {
			line = l
			break
		}
	}
	if line == "" {
		t.Fatalf("no log line carries errcode 40164:\n%.3000s", data)
	}
	for _, want := range []string{"203.0.113.7", "IP白名单", "微信开发者平台"} {
		if !strings.Contains(line, want) {
			t.Errorf("the 40164 log line does not name %q:\n%s", want, line)
		}
	}
	if strings.Contains(string(data), wechattest.DefaultAppSecret) {
		t.Error("the app secret reached the log")
	}
}
