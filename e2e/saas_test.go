//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// examples/saas/Caddyfile as two Caddy processes on one redis-server: its
// hosts are served on loopback ports (the browser's dialer sends
// *.wx.vendor.example to the replica it visits), the upstream is a respond.

// saasCaddyfile is the example with its sites on {$PORT}, the platform's
// also reachable as 127.0.0.1 (the simulator pushes there), and the app
// replaced by what the upstream would get.
func saasCaddyfile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "saas", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, r := range [][2]string{
		{"{\n\twechat {", "{\n\tadmin off\n\twechat {"},
		{"\t\t\tencoding_aes_key {env.WECHAT_COMPONENT_AES_KEY}\n", "\t\t\tencoding_aes_key {env.WECHAT_COMPONENT_AES_KEY}\n\t\t\tapi_base {env.WECHAT_API_BASE}\n\t\t\topen_base {env.WECHAT_API_BASE}\n"},
		{"\nwx.vendor.example {", "\nhttp://wx.vendor.example:{$PORT}, http://127.0.0.1:{$PORT} {"},
		{"\n*.wx.vendor.example {", "\nhttp://*.wx.vendor.example:{$PORT} {"},
		{"reverse_proxy 127.0.0.1:8080", `respond "appid={http.request.header.X-WeChat-AppID} openid={http.request.header.X-WeChat-OpenID}"`},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("examples/saas/Caddyfile no longer holds %q: update this test", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	return s
}

// viaReplica makes b reach every *.wx.vendor.example host on port.
func viaReplica(b *wechattest.Browser, port int) *wechattest.Browser {
	return b.Resolve(".wx.vendor.example", fmt.Sprintf("127.0.0.1:%d", port))
}

// TestSaaSExampleServesTwoMerchantsOnTwoReplicas: pushes reach replica 0
// only; merchant A's visitor signs in through replica 1 and merchant B's
// through replica 0, each as their account's openid with X-WeChat-AppID,
// for one api_component_token call; A's session works on replica 0 too,
// and not on B's host; an account that has not authorized the platform
// gets the page on both.
func TestSaaSExampleServesTwoMerchantsOnTwoReplicas(t *testing.T) {
	const merchantA, merchantB, stranger = "wxmerchanta000001", "wxmerchantb000001", "wxstranger0000001"
	srv := redistest.Start(t)
	sim := wechattest.NewServer(wechattest.WithComponent(wechattest.Component{AppID: wechattest.DefaultComponentAppID,
		Secret: wechattest.DefaultComponentSecret, Token: wechattest.DefaultComponentToken,
		EncodingAESKey: wechattest.DefaultComponentAESKey, Domains: []string{"wx.vendor.example"}}),
		wechattest.WithApp(merchantA, ""), wechattest.WithApp(merchantB, ""), wechattest.WithApp(stranger, ""))
	t.Cleanup(sim.Close)
	conf := writeFile(t, t.TempDir(), "Caddyfile", saasCaddyfile(t))
	hash, block := randomKey(t, 32), randomKey(t, 32)
	var ports []int
	for i := 0; i < 2; i++ {
		port := testnet.Port(t)
		p := startCaddy(t, fmt.Sprintf("saas%d", i), conf, []string{
			fmt.Sprintf("PORT=%d", port), "WECHAT_STORE=" + srv.URL(),
			"WECHAT_COMPONENT_APP_ID=" + wechattest.DefaultComponentAppID,
			"WECHAT_COMPONENT_SECRET=" + wechattest.DefaultComponentSecret,
			"WECHAT_COMPONENT_TOKEN=" + wechattest.DefaultComponentToken,
			"WECHAT_COMPONENT_AES_KEY=" + wechattest.DefaultComponentAESKey,
			"WECHAT_API_BASE=" + sim.URL,
			"WECHAT_SESSION_HASH_KEY=" + hash, "WECHAT_SESSION_BLOCK_KEY=" + block,
		}, fmt.Sprintf("http://127.0.0.1:%d/", port))
		p.waitReady(t, "store connected", func() error {
			if !strings.Contains(p.out.String(), "the wechat store is connected") {
				return fmt.Errorf("no store connection logged yet")
			}
			return nil
		})
		ports = append(ports, port)
	}
	if err := sim.SetPushURL(fmt.Sprintf("http://127.0.0.1:%d/wechat/component/events", ports[0])); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.PushTicket(); err != nil {
		t.Fatalf("ticket push to replica 0: %v", err)
	}
	for _, id := range []string{merchantA, merchantB} {
		if err := sim.AuthorizeAccount(id); err != nil {
			t.Fatalf("authorized push to replica 0: %v", err)
		}
	}
	site := func(appID string) string { return "http://" + appID + ".wx.vendor.example/" }

	var aliceCookie string
	for _, c := range []struct {
		merchant, user string
		replica        int
	}{{merchantA, "alice", 1}, {merchantB, "bob", 0}} {
		b := viaReplica(wechattest.NewBrowser(c.user), ports[c.replica])
		p := b.Get(t, site(c.merchant))
		want := "appid=" + c.merchant + " openid=" + sim.OpenID(c.merchant, c.user)
		if p.Status != http.StatusOK || p.Body != want {
			t.Fatalf("%s on replica %d: %d %q, want %q\nhops:\n  %s", c.user, c.replica, p.Status, p.Body, want, b.HopsString())
		}
		if c.user == "alice" {
			aliceCookie = b.Cookie(site(merchantA), "wechat_session")
		}
	}
	if n := sim.CallCount("/cgi-bin/component/api_component_token"); n != 1 {
		t.Fatalf("api_component_token called %d times for two replicas, want 1", n)
	}

	ask := func(port int, host string) *wechattest.Page {
		b := viaReplica(wechattest.NewBrowser("alice"), port)
		b.StopAt = "/connect/oauth2/authorize"
		b.Header.Set("Cookie", "wechat_session="+aliceCookie)
		return b.Get(t, site(host))
	}
	if p := ask(ports[0], merchantA); p.Status != http.StatusOK || !strings.Contains(p.Body, "appid="+merchantA) {
		t.Fatalf("A's session on replica 0: %d %q", p.Status, p.Body)
	}
	if p := ask(ports[0], merchantB); p.Status != http.StatusFound || !strings.Contains(p.Header.Get("Location"), "appid="+merchantB) {
		t.Fatalf("A's session on B's host: %d, want a sign-in to B", p.Status)
	}
	for _, port := range ports {
		b := viaReplica(wechattest.NewBrowser("carol"), port)
		b.StopAt = "/connect/oauth2/authorize"
		if p := b.Get(t, site(stranger)); p.Status != http.StatusForbidden || !strings.Contains(p.Body, "此公众号暂未开通登录") {
			t.Fatalf("an account that has not authorized, on port %d: %d %.200s", port, p.Status, p.Body)
		}
	}
}
