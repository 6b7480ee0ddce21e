package wechatauth_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// spoofedHeaders are client-sent variants of identity headers: any case,
// "_" for "-", and Remote-User, which php_fastcgi would turn into REMOTE_USER.
var spoofedHeaders = []string{
	"X-WeChat-OpenID", "x-wechat-openid", "X-WECHAT-OPENID", "X_WeChat_OpenID", "x_wechat_openid",
	"X-WeChat_OpenID", "X-WeChat-UnionID", "X_WeChat_UnionID", "X-WeChat-Nickname", "X-WeChat-Scope",
	"X-WeChat-Avatar", "X-WeChat-Subscribed", "X-WeChat-Source", "x_wechat_source",
	"Remote-User", "Remote_User", "REMOTE_USER", "remote-user",
}

func TestSpoofedIdentityHeadersNeverReachUpstream(t *testing.T) {
	for _, f := range loginFlows {
		t.Run(f.name, func(t *testing.T) {
			// expected_underscore_headers lets "_" headers through Caddy itself, as an
			// operator might for another app: the module must still strip them.
			g := f.start(t, gatewayConfig{global: "servers {\n\t\tprotocols h1\n\t}"})
			b := f.browser("alice")
			for _, h := range spoofedHeaders {
				b.Header[h] = []string{"victim-openid", "second"}
			}
			got := f.login(t, g, b, "/bind.php")
			for name, vals := range got.Header {
				for _, v := range vals {
					if strings.Contains(v, "victim-openid") {
						t.Errorf("spoofed %s: %q reached the upstream", name, v)
					}
				}
			}
			for h, want := range map[string]string{"X-Wechat-Openid": g.sim.OpenID(f.appID, "alice"), "X-Wechat-Source": f.source} {
				if v := got.Header.Values(h); len(v) != 1 || v[0] != want {
					t.Errorf("%s = %q, want exactly [%s]", h, v, want)
				}
			}
		})
	}
}

func TestSecondReplicaWithSameKeysAcceptsTheCookie(t *testing.T) {
	// Two sites in one Caddy are two handler instances, as two replicas would be.
	up := newUpstream(t)
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	p1, p2 := testnet.Port(t), testnet.Port(t)
	block := fmt.Sprintf(`wechat_auth {
		app_id %s
		app_secret {env.TEST_WECHAT_SECRET}
		session_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}
		api_base %s
		open_base %s
	}
	reverse_proxy %s`, testAppID, sim.URL, sim.URL, strings.TrimPrefix(up.URL, "http://"))
	loadCaddyfile(t, fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n}\nhttp://127.0.0.1:%d {\n\t%s\n}\nhttp://127.0.0.1:%d {\n\t%s\n}\n", p1, block, p2, block))
	waitListening(t, p1)
	waitListening(t, p2)

	b := newBrowser("alice")
	r1 := fmt.Sprintf("http://127.0.0.1:%d", p1)
	if resp, _ := b.get(t, r1+"/a"); resp.StatusCode != 200 {
		t.Fatalf("login on replica 1: %d", resp.StatusCode)
	}
	cookie := b.cookie(r1, "wechat_session")
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/b", p2), nil)
	req.Header.Set("User-Agent", wechattest.IPhoneUA)
	req.AddCookie(&http.Cookie{Name: "wechat_session", Value: cookie})
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || up.last(t).Header.Get("X-Wechat-Openid") != sim.OpenID(testAppID, "alice") {
		t.Fatalf("replica 2 answered %d; want the upstream with alice's identity", resp.StatusCode)
	}
	if sim.CallCount(exchangePath) != 1 {
		t.Errorf("%d code exchanges, want 1: replica 2 must not re-authorize", sim.CallCount(exchangePath))
	}
}

func TestTamperedForeignAndGarbageCookiesRestartAuthorization(t *testing.T) {
	for _, f := range loginFlows {
		t.Run(f.name, func(t *testing.T) {
			g := f.start(t, gatewayConfig{})
			b := f.browser("alice")
			f.login(t, g, b, "/x")
			good := b.cookie(g.URL, "wechat_session")
			tampered := []byte(good)
			tampered[len(tampered)/2] ^= 1
			for name, v := range map[string]string{
				"tampered":  string(tampered),
				"truncated": good[:len(good)-5],
				"garbage":   "not-a-cookie",
				"oversized": strings.Repeat("A", 10000),
				"empty":     "",
			} {
				req, _ := http.NewRequest("GET", g.URL+"/x", nil)
				req.Header.Set("User-Agent", f.ua)
				req.Header.Set("Cookie", "wechat_session="+v)
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), f.restartAt) {
					t.Errorf("%s cookie: %d %s, want a restart of authorization at %s", name, resp.StatusCode, resp.Header.Get("Location"), f.restartAt)
				}
			}
			if n := g.up.count(); n != 1 {
				t.Errorf("the upstream saw %d requests, want 1 (the login's)", n)
			}
		})
	}
}

// otherApp is a second gateway sharing session_keys and the cookie name
// with the first: settings are its app_id, app_secret and any desktop_login.
type otherApp struct{ name, settings string }

func TestCookieOfAnotherAppIsRefused(t *testing.T) {
	os.Setenv("TEST_OTHER_SECRET", "s2")
	os.Setenv("TEST_OTHER_WEB_SECRET", "s3")
	const otherAppID, otherWebAppID = "wx1111111111111111", "wxd1d1d1d1d1d1d1d1"
	anotherAppID := otherApp{"another app_id", "app_id " + otherAppID + "\n\t\tapp_secret {env.TEST_OTHER_SECRET}"}
	others := map[string][]otherApp{
		"wechat": {anotherAppID},
		// A desktop session is the website app's: another website app
		// refuses it, under the same app_id or another. (A gateway of
		// another app_id with the same website app would issue this very
		// session for the same scan, so it is not another app.)
		"desktop": {
			{"another website app", "app_id " + testAppID + "\n\t\tapp_secret {env.TEST_WECHAT_SECRET}\n\t\t" +
				"scope snsapi_userinfo\n\t\tdesktop_login " + otherWebAppID + " {env.TEST_OTHER_WEB_SECRET}"},
			{"another app_id and website app", anotherAppID.settings + "\n\t\tdesktop_login " + otherWebAppID + " {env.TEST_OTHER_WEB_SECRET}"},
			{"another app_id without desktop_login", anotherAppID.settings},
		},
	}
	for _, f := range loginFlows {
		t.Run(f.name, func(t *testing.T) {
			for _, other := range others[f.name] {
				t.Run(other.name, func(t *testing.T) {
					g := f.start(t, gatewayConfig{simOpts: []wechattest.Option{
						wechattest.WithBoundApp(otherAppID, "s2", openAccount),
						wechattest.WithWebsiteApp(otherWebAppID, "s3", openAccount),
					}})
					b := f.browser("alice")
					f.login(t, g, b, "/x")
					cookie := b.cookie(g.URL, "wechat_session")

					// Same keys and cookie name, another app.
					up := newUpstream(t)
					port := testnet.Port(t)
					// Refused, a visitor is sent to sign in; outside WeChat
					// without desktop_login, told to open the page in WeChat.
					want := http.StatusFound
					if f.desktop && !strings.Contains(other.settings, "desktop_login") {
						want = http.StatusForbidden
					}
					loadCaddyfile(t, fmt.Sprintf(`{
	admin off
	auto_https off
}
http://127.0.0.1:%d {
	wechat_auth {
		%s
		session_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}
		api_base %s
		open_base %s
	}
	reverse_proxy %s
}`, port, other.settings, g.sim.URL, g.sim.URL, strings.TrimPrefix(up.URL, "http://")))
					waitListening(t, port)
					req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/x", port), nil)
					req.Header.Set("User-Agent", f.ua)
					req.AddCookie(&http.Cookie{Name: "wechat_session", Value: cookie})
					resp, err := http.DefaultTransport.RoundTrip(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != want || up.count() != 0 {
						t.Fatalf("another app's cookie got %d (upstream hits %d); want %d and no upstream request", resp.StatusCode, up.count(), want)
					}
				})
			}
		})
	}
}

func TestLoginCSRFCallbackFromAnotherBrowserDoesNotLogIn(t *testing.T) {
	for _, f := range loginFlows {
		t.Run(f.name, func(t *testing.T) {
			g := f.start(t, gatewayConfig{})
			attacker := f.browser("bob")
			callback := f.callbackURL(t, g, attacker, "/x")

			victim := f.browser("alice")
			resp, body := victim.get(t, callback)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "登录链接已失效") {
				t.Fatalf("victim following the attacker's callback: %d %.300s", resp.StatusCode, body)
			}
			if victim.cookie(g.URL, "wechat_session") != "" || g.up.count() != 0 {
				t.Fatal("the victim was logged in with the attacker's code")
			}
			if n := g.sim.CallCount(exchangePath); n != 0 {
				t.Fatalf("the code was redeemed %d times before the state was checked", n)
			}

			// A state of the wrong alphabet or length, and a swapped state between
			// two tabs of one browser, are refused the same way.
			tab := f.browser("alice")
			u1, u2 := mustURL(f.callbackURL(t, g, tab, "/one")), mustURL(f.callbackURL(t, g, tab, "/two"))
			swapped := *u1
			q := u1.Query()
			q.Set("state", u2.Query().Get("state")[:31]+"!")
			swapped.RawQuery = q.Encode()
			for _, u := range []string{swapped.String(), g.URL + "/wechat_auth/callback?code=x&state=" + strings.Repeat("a", 129), g.URL + "/wechat_auth/callback?code=x&state=%00"} {
				resp, _ := tab.get(t, u)
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s: %d, want 400", u, resp.StatusCode)
				}
			}
			if n := g.sim.CallCount(exchangePath); n != 0 {
				t.Fatalf("%d codes redeemed for bad states", n)
			}
		})
	}
}

func TestRefreshOfCallbackContinuesWithoutRedeemingAgain(t *testing.T) {
	for _, f := range loginFlows {
		t.Run(f.name, func(t *testing.T) {
			g := f.start(t, gatewayConfig{})
			b := f.browser("alice")
			callback := f.callbackURL(t, g, b, "/page?q=1")
			for i := 0; i < 3; i++ { // the first follows it, then refresh, back button
				resp, _ := b.get(t, callback)
				if resp.StatusCode != 200 || resp.Request.URL.RequestURI() != "/page?q=1" {
					t.Fatalf("visit %d of the callback ended at %d %s", i, resp.StatusCode, resp.Request.URL)
				}
			}
			if n := g.sim.CallCount(exchangePath); n != 1 {
				t.Fatalf("%d code exchanges for one login refreshed twice, want 1", n)
			}
		})
	}
}

func TestUsedCodeWithoutSessionRestartsSilentlyOnce(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	b := newBrowser("alice")
	callback := mustURL(g.callbackURL(t, b, "/page"))
	// Someone (WeChat's double call, a prefetch) redeems the code first.
	c, err := wechat.New(wechat.Config{AppID: testAppID, AppSecret: wechattest.DefaultAppSecret, APIBase: g.sim.URL, OpenBase: g.sim.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExchangeCode(context.Background(), callback.Query().Get("code")); err != nil {
		t.Fatal(err)
	}
	resp, _ := b.get(t, callback.String())
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/page" {
		t.Fatalf("after a used code: %d at %s, want a silent restart ending at /page", resp.StatusCode, resp.Request.URL)
	}
	if n := g.sim.CallCount(exchangePath); n != 3 {
		t.Errorf("%d exchanges, want 3 (ours failing with 40163, the other party's, the restart's)", n)
	}
}

func TestInvalidCodeTwiceShowsErrorPageNotALoop(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	g.sim.Fail(exchangePath, 2, wechattest.Fault{ErrCode: 40029})
	b := newBrowser("alice")
	resp, body := b.get(t, g.URL+"/page")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "授权已失效") || !strings.Contains(body, "errcode 40029") {
		t.Fatalf("%d %.400s", resp.StatusCode, body)
	}
	if n := g.sim.CallCount("/connect/oauth2/authorize"); n != 2 {
		t.Errorf("authorize visited %d times, want 2 (one silent restart)", n)
	}
}

func TestWeChatBusyOrDownGivesRetryPageWithin503(t *testing.T) {
	for name, f := range map[string]wechattest.Fault{
		"quota":     wechattest.FaultQuota,
		"malformed": wechattest.FaultMalformed,
		"5xx":       {Status: 502, Body: "<html>bad gateway</html>", ContentType: "text/html"},
		"busy -1":   wechattest.FaultBusy,
		"huge JSON": {Body: `{"access_token":"` + strings.Repeat("x", 3<<20) + `"}`},
		"HTML 200":  {Body: "<html><body>系统繁忙</body></html>", ContentType: "text/html"},
	} {
		t.Run(name, func(t *testing.T) {
			g := startGateway(t, gatewayConfig{})
			g.sim.Fail(exchangePath, 5, f)
			b := newBrowser("alice")
			resp, body := b.get(t, g.URL+"/page")
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "重试") || strings.Contains(body, "goroutine") {
				t.Fatalf("%d %.300s", resp.StatusCode, body)
			}
			if b.cookie(g.URL, "wechat_session") != "" {
				t.Error("a session was set though the exchange failed")
			}
		})
	}
}

func TestWrongSecretShowsConfigErrorAndLogsTheFix(t *testing.T) {
	os.Setenv("TEST_WRONG_SECRET", "wrong-secret-value-123")
	g := startGateway(t, gatewayConfig{secretEnv: "TEST_WRONG_SECRET"})
	b := newBrowser("alice")
	resp, body := b.get(t, g.URL+"/page")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "配置有误") || strings.Contains(body, "wrong-secret-value-123") {
		t.Fatalf("%d %.400s", resp.StatusCode, body)
	}
	logs, _ := os.ReadFile(g.logFile)
	if !strings.Contains(string(logs), "40125") || !strings.Contains(string(logs), "app_secret") {
		t.Errorf("the log does not tell the operator what to fix:\n%s", logs)
	}
	if strings.Contains(string(logs), "wrong-secret-value-123") {
		t.Error("the secret reached the log")
	}
}

func TestUserinfoFailureLeavesBaseSessionAndNoLoop(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "scope snsapi_userinfo"})
	g.sim.Fail("/sns/userinfo", 10, wechattest.Fault{Status: 503})
	b := newBrowser("bob")
	got := g.login(t, b, "/profile")
	if got.Header.Get("X-Wechat-Openid") == "" || got.Header.Get("X-Wechat-Scope") != "snsapi_base" {
		t.Fatalf("want a base-scope session after userinfo failed; got openid=%q scope=%q", got.Header.Get("X-Wechat-Openid"), got.Header.Get("X-Wechat-Scope"))
	}
	// The next page must not send the visitor round WeChat again at once.
	before := g.sim.CallCount("/connect/oauth2/authorize")
	g.login(t, b, "/profile2")
	if g.sim.CallCount("/connect/oauth2/authorize") != before {
		t.Error("a failing userinfo made the next page re-authorize (loop risk)")
	}
}

func TestScopeUpgradeForARouteNeedingUserinfo(t *testing.T) {
	site := `%[1]s
	wechat_auth /profile* {
		app_id ` + testAppID + `
		app_secret {env.TEST_WECHAT_SECRET}
		session_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}
		scope snsapi_userinfo
		api_base SIM
		open_base SIM
	}
	reverse_proxy %[2]s`
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	g := startGateway(t, gatewayConfig{sim: sim, site: strings.ReplaceAll(site, "SIM", sim.URL)})
	b := newBrowser("alice")
	if got := g.login(t, b, "/home"); got.Header.Get("X-Wechat-Scope") != "snsapi_base" {
		t.Fatalf("home scope %q", got.Header.Get("X-Wechat-Scope"))
	}
	got := g.login(t, b, "/profile")
	if got.Header.Get("X-Wechat-Scope") != "snsapi_userinfo" || got.Header.Get("X-Wechat-Nickname") == "" {
		t.Fatalf("profile after upgrade: scope %q nickname %q", got.Header.Get("X-Wechat-Scope"), got.Header.Get("X-Wechat-Nickname"))
	}
	if n := sim.CallCount("/connect/oauth2/authorize"); n != 2 {
		t.Errorf("authorize visited %d times, want 2 (base, then the upgrade)", n)
	}
	// Back on a base page the wider session still serves.
	if got := g.login(t, b, "/home"); got.Header.Get("X-Wechat-Scope") != "snsapi_userinfo" {
		t.Errorf("scope after upgrade on /home = %q", got.Header.Get("X-Wechat-Scope"))
	}
}

func TestPlantedSessionDoesNotSurviveLogin(t *testing.T) {
	for _, f := range loginFlows {
		t.Run(f.name, func(t *testing.T) {
			g := f.start(t, gatewayConfig{})
			attacker := f.browser("bob")
			f.login(t, g, attacker, "/x")
			planted := attacker.cookie(g.URL, "wechat_session")

			victim := f.browser("alice")
			victim.Jar.SetCookies(mustURL(g.URL), []*http.Cookie{{Name: "wechat_session", Value: planted, Path: "/"}})
			resp, _ := f.visit(t, g, victim, "/wechat_auth/login?rd=%2Fbind.php")
			if resp.StatusCode != 200 || resp.Request.URL.Path != "/bind.php" {
				t.Fatalf("login ended at %d %s", resp.StatusCode, resp.Request.URL)
			}
			if got := g.up.last(t).Header.Get("X-Wechat-Openid"); got != g.sim.OpenID(f.appID, "alice") {
				t.Fatalf("after logging in, the upstream sees %q, want alice's openid: the planted session survived", got)
			}
			if victim.cookie(g.URL, "wechat_session") == planted {
				t.Fatal("the planted cookie was not replaced")
			}
		})
	}
}
