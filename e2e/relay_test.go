//go:build linux

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The keep_fragment page's script runs in a real browser: headless Chromium,
// as WeChat, opens a hash route on a client site (shop.localhost), is sent
// through the relay (localhost) and WeChat's silent authorization, and must
// land on the very URL it started from, #fragment included. Chromium
// resolves *.localhost to the loopback address by itself.
func TestRelayKeepFragmentReturnsToTheHashRouteInChromium(t *testing.T) {
	chromium := needTool(t, "chromium", "chromium", "chromium-browser")
	deadline := time.Now().Add(browserBudget)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d.Add(-2 * time.Second)
	}
	sim := wechattest.NewServer() // callback domains: the loopback hosts, any port
	t.Cleanup(sim.Close)
	port := testnet.Port(t)
	relay := fmt.Sprintf("http://localhost:%d", port)
	shop := fmt.Sprintf("http://shop.localhost:%d", port)
	// The relay's operator derives shop's key with the real command, and
	// shop gets that key and session keys of its own, nothing of the relay's.
	secret := base64.StdEncoding.EncodeToString([]byte("e2e-relay-secret-0123456789abcdef"))
	code, out := runCaddy(t, []string{"WECHAT_RELAY_SECRET=" + secret}, "wechat-relay-key", shop)
	line := strings.Fields(out)
	if code != 0 || len(line) != 3 || line[0] != "relay_key" || line[1] != shop {
		t.Fatalf("caddy wechat-relay-key %s: exit %d\n%s", shop, code, out)
	}
	env := append(gatewayEnv(t, sim, port), "WECHAT_RELAY_SECRET="+secret, "SHOP_RELAY_KEY="+line[2],
		"SHOP_SESSION_HASH_KEY="+base64.StdEncoding.EncodeToString([]byte("shop-hash-key-0123456789abcdef01")),
		"SHOP_SESSION_BLOCK_KEY="+base64.StdEncoding.EncodeToString([]byte("shop-block-key-0123456789abcdef0")))
	caddyfile := writeFile(t, t.TempDir(), "Caddyfile", fmt.Sprintf(`{
	admin off
	default_bind 127.0.0.1
}
%[1]s {
	wechat_auth {
		app_id {env.WECHAT_APP_ID}
		app_secret {env.WECHAT_APP_SECRET}
		session_keys {env.WECHAT_SESSION_HASH_KEY} {env.WECHAT_SESSION_BLOCK_KEY}
		api_base {env.WECHAT_API_BASE}
		open_base {env.WECHAT_OPEN_BASE}
		relay_for shop.localhost:*
		relay_secret {env.WECHAT_RELAY_SECRET}
	}
	respond "relay"
}
%[2]s {
	wechat_auth {
		app_id {env.WECHAT_APP_ID}
		session_keys {env.SHOP_SESSION_HASH_KEY} {env.SHOP_SESSION_BLOCK_KEY}
		relay %[1]s
		relay_key %[2]s {env.SHOP_RELAY_KEY}
		keep_fragment
	}
	respond "signed in as {http.auth.user.id}"
}
`, relay, shop))
	startCaddy(t, "relay", caddyfile, env, fmt.Sprintf("http://127.0.0.1:%d/", port))

	c := newChromium(t, chromium, deadline)
	// The simulator's user, as its picker would remember it.
	c.step("00-user", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{wechattest.UserHeader: "alice"}})
		return err
	}))
	start := shop + "/app?x=1#/orders/7?tab=2"
	c.step("01-back-at-the-hash-route", chromedp.Navigate(start),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`document.body !== null && document.body.innerText.startsWith("signed in as ")`)(ctx, tg)
			return err
		}),
		c.locationIs(start),
		c.bodyContains("signed in as "+sim.OpenID(wechattest.DefaultAppID, "alice")))
	if !c.documents.any(relay+"/wechat_auth/relay?client=") || !c.documents.any(shop+"/wechat_auth/handback?hb=") ||
		!c.documents.any(shop+"/wechat_auth/login?rd=%2Fapp%3Fx%3D1%23%2Forders%2F7%3Ftab%3D2") {
		t.Fatalf("the login did not go through the fragment page, the relay and the hand-back: %v", c.documents.list())
	}
}
