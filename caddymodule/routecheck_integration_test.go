package wechatauth_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// Each shape of the order mistake, loaded into real Caddy: the gateway logs
// an error at start naming the site, the handler that answers first and the
// fix; correct shapes log nothing of the kind. The request with a forged
// X-WeChat-OpenID shows why it matters: it reaches the app.
func TestStartupLogsEveryWechatAuthThatAHandlerAnswersBefore(t *testing.T) {
	cases := []struct {
		name, global, site string
		by                 string // the handler named in the error; "" none
		open               bool   // a forged header reaches the upstream
	}{
		{name: "reverse_proxy first in a route", site: "route {\n\t\treverse_proxy %[2]s\n\t\t%[1]s\n\t}", by: "reverse_proxy", open: true},
		{name: "php_fastcgi first in a route", site: "route {\n\t\tphp_fastcgi 127.0.0.1:9\n\t\t%[1]s\n\t}", by: "php_fastcgi"},
		{name: "file_server first in a route", site: "route {\n\t\tfile_server\n\t\t%[1]s\n\t}", by: "file_server"},
		{name: "respond first in a route", site: "route {\n\t\trespond \"hello\"\n\t\t%[1]s\n\t}", by: "respond"},
		{name: "order wechat_auth last", global: "order wechat_auth last", site: "%[1]s\n\treverse_proxy %[2]s", by: "reverse_proxy", open: true},
		{name: "order wechat_auth after reverse_proxy", global: "order wechat_auth after reverse_proxy", site: "%[1]s\n\treverse_proxy %[2]s", by: "reverse_proxy", open: true},
		{name: "inside a handle group", site: "handle /MP_verify_0123456789abcdef.txt {\n\t\trespond \"0123456789abcdef\"\n\t}\n\thandle {\n\t\troute {\n\t\t\treverse_proxy %[2]s\n\t\t\t%[1]s\n\t\t}\n\t}", by: "reverse_proxy", open: true},
		{name: "a subroute before a later wechat_auth", site: "route {\n\t\troute {\n\t\t\treverse_proxy %[2]s\n\t\t}\n\t\t%[1]s\n\t}", by: "reverse_proxy", open: true},
		{name: "control: default order", site: "%[1]s\n\treverse_proxy %[2]s"},
		{name: "control: MP_verify in its own handle block", site: "handle /MP_verify_0123456789abcdef.txt {\n\t\trespond \"0123456789abcdef\"\n\t}\n\thandle {\n\t\t%[1]s\n\t\treverse_proxy %[2]s\n\t}"},
		{name: "control: wechat_auth first in a route", site: "route {\n\t\t%[1]s\n\t\treverse_proxy %[2]s\n\t}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			g := startGateway(t, gatewayConfig{global: tc.global, site: tc.site})
			req, _ := http.NewRequest(http.MethodGet, g.URL+"/account", nil)
			req.Header.Set("X-WeChat-OpenID", "victim")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if reached := g.up.count() > 0 && g.up.last(t).Header.Get("X-Wechat-Openid") == "victim"; reached != tc.open {
				t.Errorf("forged header reached the upstream: %v, want %v", reached, tc.open)
			}
			data, _ := os.ReadFile(g.logFile)
			var line string
			for _, l := range strings.Split(string(data), "\n") {
				if strings.Contains(l, "wechat_auth never runs") {
					line = l
				}
			}
			if tc.by == "" {
				if line != "" {
					t.Fatalf("a correct configuration logged: %s", line)
				}
				return
			}
			for _, want := range []string{`"level":"error"`, tc.by + " answers every request before wechat_auth", `"site":"127.0.0.1"`, "put wechat_auth before " + tc.by} {
				if !strings.Contains(line, want) {
					t.Errorf("no start-up error with %q:\n%s", want, data)
				}
			}
		})
	}
}

// A public path answered before wechat_auth on purpose is a warning, not an
// error, and names the path.
func TestStartupWarnsAboutAPathAnsweredBeforeWechatAuth(t *testing.T) {
	g := startGateway(t, gatewayConfig{site: "route {\n\t\trespond /health 200\n\t\t%[1]s\n\t\treverse_proxy %[2]s\n\t}"})
	data, _ := os.ReadFile(g.logFile)
	if strings.Contains(string(data), "wechat_auth never runs") || !strings.Contains(string(data), `respond answers requests matching path [\"/health\"] before wechat_auth`) {
		t.Fatalf("want one warning naming path /health:\n%s", data)
	}
}
