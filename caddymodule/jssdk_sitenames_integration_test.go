package wechatauth_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// On a catch-all site (http://:port) the Host header is whatever the
// request says, so the JS-SDK endpoint must not sign "this site's" pages by
// it: only jssdk_domains count there. On a site whose address names its
// host, that host's pages are signed as before.
func TestJSSDKOnACatchAllSiteSignsOnlyJSSDKDomainsWhateverTheHost(t *testing.T) {
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	catchAll, named := testnet.Port(t), testnet.Port(t)
	block := fmt.Sprintf(`wechat_auth {
		app_id %s
		app_secret {env.TEST_WECHAT_SECRET}
		session_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}
		api_base %s
		open_base %s
		jssdk_domains shop.example.test
	}
	respond "app"`, testAppID, sim.URL, sim.URL)
	loadCaddyfile(t, fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\nhttp://:%d {\n\t%s\n}\nhttp://named.example.test:%d {\n\t%s\n}\n",
		catchAll, block, named, block))
	waitListening(t, catchAll)
	waitListening(t, named)

	sign := func(port int, host, page string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/wechat_auth/jssdk?url=%s", port, url.QueryEscape(page)), nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	for _, host := range []string{"evil.test", "evil.test:8080", "named.example.test"} {
		code, body := sign(catchAll, host, "http://"+host+"/bind")
		if code != http.StatusForbidden || !strings.Contains(body, "url_not_allowed") || !strings.Contains(body, "jssdk_domains") {
			t.Errorf("catch-all site, Host %s: %d %s", host, code, body)
		}
	}
	if code, body := sign(catchAll, "evil.test", "http://shop.example.test/bind"); code != http.StatusOK || !strings.Contains(body, `"signature"`) {
		t.Errorf("catch-all site, a jssdk_domains page: %d %s", code, body)
	}
	if code, body := sign(named, "named.example.test", "http://named.example.test/bind"); code != http.StatusOK || !strings.Contains(body, `"signature"`) {
		t.Errorf("named site, its own page: %d %s", code, body)
	}
}
