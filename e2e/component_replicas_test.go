//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// A third-party platform's gateway as two Caddy processes on one real
// redis-server: WeChat's pushes reach one replica, logins happen on both.

const platformCaddyfile = `{
	admin off
	wechat {
		store {env.WECHAT_STORE}
		component {
			app_id {$COMPONENT_APP_ID}
			app_secret {env.WECHAT_COMPONENT_SECRET}
			token {env.WECHAT_COMPONENT_TOKEN}
			encoding_aes_key {env.WECHAT_COMPONENT_AES_KEY}
			api_base {env.WECHAT_API_BASE}
			open_base {env.WECHAT_OPEN_BASE}
		}
	}
}

http://127.0.0.1:{$PORT} {
	wechat_component_events /wechat/component/events
	wechat_auth {
		app_id {$AUTHORIZER}
		component
		session_keys {env.WECHAT_SESSION_HASH_KEY} {env.WECHAT_SESSION_BLOCK_KEY}
	}
	respond "appid={$AUTHORIZER} openid={http.auth.user.id}"
}
`

// TestPlatformReplicasShareTicketAuthorizationsAndOneComponentToken: the
// ticket and the authorized event pushed to replica 0 serve a login on
// replica 1; logins on both cost one api_component_token call; a session
// made on one replica is valid on the other.
func TestPlatformReplicasShareTicketAuthorizationsAndOneComponentToken(t *testing.T) {
	srv := redistest.Start(t)
	const authorizer = "wxmerchanta000001"
	sim := wechattest.NewServer(wechattest.WithComponent(wechattest.Component{AppID: wechattest.DefaultComponentAppID,
		Secret: wechattest.DefaultComponentSecret, Token: wechattest.DefaultComponentToken,
		EncodingAESKey: wechattest.DefaultComponentAESKey}), wechattest.WithApp(authorizer, ""))
	t.Cleanup(sim.Close)
	conf := writeFile(t, t.TempDir(), "Caddyfile", platformCaddyfile)
	hash, block := randomKey(t, 32), randomKey(t, 32)
	var urls []string
	for i := 0; i < 2; i++ {
		port := testnet.Port(t)
		u := fmt.Sprintf("http://127.0.0.1:%d", port)
		p := startCaddy(t, fmt.Sprintf("platform%d", i), conf, []string{
			fmt.Sprintf("PORT=%d", port), "AUTHORIZER=" + authorizer, "WECHAT_STORE=" + srv.URL(),
			"COMPONENT_APP_ID=" + wechattest.DefaultComponentAppID,
			"WECHAT_COMPONENT_SECRET=" + wechattest.DefaultComponentSecret,
			"WECHAT_COMPONENT_TOKEN=" + wechattest.DefaultComponentToken,
			"WECHAT_COMPONENT_AES_KEY=" + wechattest.DefaultComponentAESKey,
			"WECHAT_API_BASE=" + sim.URL, "WECHAT_OPEN_BASE=" + sim.URL,
			"WECHAT_SESSION_HASH_KEY=" + hash, "WECHAT_SESSION_BLOCK_KEY=" + block,
		}, u+"/wechat/component/events")
		p.waitReady(t, "store connected", func() error {
			if !strings.Contains(p.out.String(), "the wechat store is connected") {
				return fmt.Errorf("no store connection logged yet")
			}
			return nil
		})
		urls = append(urls, u)
	}
	if err := sim.SetPushURL(urls[0] + "/wechat/component/events"); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.PushTicket(); err != nil {
		t.Fatalf("ticket push to replica 0: %v", err)
	}
	if err := sim.AuthorizeAccount(authorizer); err != nil {
		t.Fatalf("authorized push to replica 0: %v", err)
	}

	var cookie string
	for i, u := range []string{urls[1], urls[0]} {
		b := wechattest.NewBrowser([]string{"alice", "bob"}[i])
		p := b.Get(t, u+"/")
		want := "appid=" + authorizer + " openid=" + sim.OpenID(authorizer, []string{"alice", "bob"}[i])
		if p.Status != http.StatusOK || p.Body != want {
			t.Fatalf("login through %s: %d %q, want %q\nhops:\n  %s", u, p.Status, p.Body, want, b.HopsString())
		}
		if i == 0 {
			cookie = sessionCookie(t, b, u)
		}
	}
	if n := sim.CallCount("/cgi-bin/component/api_component_token"); n != 1 {
		t.Fatalf("api_component_token called %d times for two replicas, want 1", n)
	}
	if status, body := asCookie(t, urls[0]+"/", cookie); status != http.StatusOK || !strings.Contains(body, "openid=o") {
		t.Fatalf("replica 1's session on replica 0: %d %q", status, body)
	}
}
