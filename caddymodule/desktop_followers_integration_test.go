package wechatauth_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

const userInfoCGIPath = "/cgi-bin/user/info"

// TestDesktopVisitorsPassFollowerRulesUnchecked: WeChat's user/info answers
// only for the Official Account's openid, so a desktop session (the website
// app's openid) is never looked up: under subscriber_info, and under
// require_subscribe with desktop_followers unchecked, the desktop visitor
// who follows the account reaches the page (not 503), without
// X-WeChat-Subscribed, and the follower rules still hold inside WeChat.
func TestDesktopVisitorsPassFollowerRulesUnchecked(t *testing.T) {
	desktop := loginFlows[1]
	for name, settings := range map[string]string{
		"subscriber_info":   "subscriber_info",
		"require_subscribe": "require_subscribe\n\t\tdesktop_followers unchecked",
	} {
		t.Run(name, func(t *testing.T) {
			g := desktop.start(t, gatewayConfig{settings: settings})
			g.sim.SetSubscribed(testAppID, "alice", true)
			desk := desktop.browser("alice")
			got := desktop.login(t, g, desk, "/a")
			if got.Header.Get("X-Wechat-Source") != "web" || got.Header.Values("X-Wechat-Subscribed") != nil {
				t.Fatalf("desktop: source %q, X-WeChat-Subscribed %q; want web and none", got.Header.Get("X-Wechat-Source"), got.Header.Values("X-Wechat-Subscribed"))
			}
			if resp, _ := desk.get(t, g.URL+"/b"); resp.StatusCode != http.StatusOK {
				t.Fatalf("the desktop session's next page: %d", resp.StatusCode)
			}
			// "我已关注" on the desktop goes back without asking WeChat either.
			if resp, _ := desk.get(t, g.URL+"/wechat_auth/subscribed?rd=/c"); resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/c" {
				t.Fatalf("我已关注 on the desktop: %d at %s", resp.StatusCode, resp.Request.URL)
			}
			if n := g.sim.CallCount(userInfoCGIPath); n != 0 {
				t.Fatalf("user/info asked %d times for a desktop session", n)
			}

			// Inside WeChat the rules hold: a follower is told apart from a
			// non-follower.
			alice := newBrowser("alice")
			if got := g.login(t, alice, "/a"); got.Header.Get("X-Wechat-Subscribed") != "1" {
				t.Errorf("in WeChat, alice (a follower): X-WeChat-Subscribed %q, want 1", got.Header.Get("X-Wechat-Subscribed"))
			}
			bob := newBrowser("bob")
			g.sim.SetSubscribed(testAppID, "bob", false)
			resp, _ := bob.get(t, g.URL+"/a")
			switch name {
			case "subscriber_info":
				if resp.StatusCode != http.StatusOK || g.up.last(t).Header.Get("X-Wechat-Subscribed") != "0" {
					t.Errorf("in WeChat, bob (not a follower): %d, X-WeChat-Subscribed %q", resp.StatusCode, g.up.last(t).Header.Get("X-Wechat-Subscribed"))
				}
			default:
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("in WeChat, bob (not a follower) under require_subscribe: %d, want 403", resp.StatusCode)
				}
			}
		})
	}
}

// TestRequireSubscribeWithDesktopLoginNeedsDesktopFollowers: the gateway
// does not accept a configuration whose follower rule desktop visitors can
// never meet without saying what happens to them; the error names the
// setting. desktop_followers takes only "unchecked", and only with
// desktop_login.
func TestRequireSubscribeWithDesktopLoginNeedsDesktopFollowers(t *testing.T) {
	for name, tc := range map[string]struct{ settings, want string }{
		"require_subscribe alone":       {desktopSettings + "\n\t\trequire_subscribe", "desktop_followers unchecked"},
		"unknown value":                 {desktopSettings + "\n\t\trequire_subscribe\n\t\tdesktop_followers refuse", `desktop_followers "refuse"`},
		"desktop_followers without app": {"desktop_followers unchecked", "without desktop_login"},
	} {
		t.Run(name, func(t *testing.T) {
			err := loadError(t, tc.settings)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("loading: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// loadError loads a site whose wechat_auth has the test app and settings
// into Caddy and returns what Caddy said (nil: it runs, and is stopped).
func loadError(t *testing.T, settings string) error {
	t.Helper()
	sim := wechattest.NewServer(desktopApps(true)...)
	defer sim.Close()
	cfg := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\nhttp://127.0.0.1:%d {\n\twechat_auth {\n\t\tapp_id %s\n\t\tapp_secret {env.TEST_WECHAT_SECRET}\n\t\tsession_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}\n\t\tapi_base %s\n\t\topen_base %s\n\t\t%s\n\t}\n\trespond ok\n}\n",
		testnet.Port(t), testAppID, sim.URL, sim.URL, settings)
	if err := tryCaddyfile(t, cfg); err != nil {
		return err
	}
	return caddy.Stop()
}
