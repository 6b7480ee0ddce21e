package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
)

// TestDoctorReadsEverySettingUnderTheNameTheGatewayWritesIt: a wechat_auth
// handler made as the gateway's own Handler value and marshalled (the JSON
// Caddy decodes into it) reaches the doctor with every setting the doctor
// reads: app_id, app_secret, scope, session_keys, path_prefix, non_wechat,
// api_base, protect, relay, relay_for, relay_keys, relay_secret and
// desktop_login; and the wechat global option's store, from the gateway's
// App. A setting renamed in the gateway that a copy of its JSON kept under
// the old name arrives empty here.
func TestDoctorReadsEverySettingUnderTheNameTheGatewayWritesIt(t *testing.T) {
	h := wechatauth.Handler{
		AppID:        "wx0123456789abcdef",
		AppSecret:    "{env.DOCTOR_TEST_SECRET}",
		Scope:        "snsapi_userinfo",
		SessionKeys:  []wechatauth.SessionKey{{HashKey: "{env.DOCTOR_TEST_HASH}"}},
		PathPrefix:   "/shop/wechat_auth/",
		NonWeChat:    "deny",
		APIBase:      "http://127.0.0.1:9",
		ProtectRaw:   caddyhttp.RawMatcherSets{{"path": json.RawMessage(`["/profile/*"]`)}},
		Relay:        "https://wx.example.com/mp",
		RelayFor:     []string{"m.example.com"},
		RelayKeys:    []wechatauth.RelayKey{{Origin: "https://shop.example.com", Key: "{env.DOCTOR_RELAY_KEY}"}},
		RelaySecret:  []string{"{env.DOCTOR_RELAY_SECRET}"},
		DesktopLogin: &wechatauth.DesktopLogin{AppID: "wxfedcba9876543210", AppSecret: "{env.DOCTOR_WEB_SECRET}"},
	}
	raw, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var handler map[string]any
	if err := json.Unmarshal(raw, &handler); err != nil {
		t.Fatal(err)
	}
	handler["handler"] = "wechat_auth"
	app := wechatauth.App{Store: "{env.DOCTOR_TEST_STORE}"}
	cfg, err := json.Marshal(map[string]any{"apps": map[string]any{"wechat": app, "http": map[string]any{"servers": map[string]any{
		"srv0": map[string]any{"listen": []string{":443"}, "routes": []any{map[string]any{
			"match":  []any{map[string]any{"host": []string{"shop.example.com"}}},
			"handle": []any{handler},
		}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	s, e := oneSite(t, "caddy.json", cfg)
	a := s.Auth
	var desktopID, desktopSecret string
	if a.DesktopLogin != nil {
		desktopID, desktopSecret = a.DesktopLogin.AppID, a.DesktopLogin.AppSecret
	}
	var hashKey, blockKey string
	if len(a.SessionKeys) == 1 {
		hashKey, blockKey = a.SessionKeys[0].HashKey, a.SessionKeys[0].BlockKey
	}
	for _, f := range []struct {
		setting   string
		got, want any
	}{
		{"the wechat option's store", s.Config.Store, app.Store},
		{"app_id", a.AppID, h.AppID},
		{"app_secret", a.AppSecret, h.AppSecret},
		{"scope", a.scope(), h.Scope},
		{"session_keys hash_key", hashKey, h.SessionKeys[0].HashKey},
		{"session_keys block_key", blockKey, ""},
		{"session_keys without a block key", blockless(a), true},
		{"path_prefix", a.prefix(), "/shop/wechat_auth"},
		{"api_base", a.APIBase, h.APIBase},
		{"relay", s.CallbackURL(), "https://wx.example.com/mp/wechat_auth/callback"},
		{"relay_for", a.RelayFor, h.RelayFor},
		{"relay_keys", a.RelayKeys, h.RelayKeys},
		{"relay_secret", a.RelaySecret, h.RelaySecret},
		{"desktop_login app_id", desktopID, h.DesktopLogin.AppID},
		{"desktop_login app_secret", desktopSecret, h.DesktopLogin.AppSecret},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s: the doctor read %#v, the gateway wrote %#v", f.setting, f.got, f.want)
		}
	}

	// protect and non_wechat, as the doctor's route walk uses them: a
	// protected path is refused outside WeChat (non_wechat deny), any other
	// passes wechat_auth.
	if out := e.probe(s, "/profile/me"); out.Status != http.StatusForbidden || out.Handler != "wechat_auth (non_wechat deny)" {
		t.Errorf("protect /profile/* with non_wechat deny: the doctor says /profile/me gets %+v, want wechat_auth's 403", out)
	}
	if out := e.probe(s, "/about"); out.Kind != outcomeNothing {
		t.Errorf("protect /profile/*: the doctor says /about gets %+v, want it past wechat_auth", out)
	}
}

// oneSite writes a configuration file called name and returns its one
// wechat_auth site as the doctor reads it, and the doctor's route walker.
func oneSite(t *testing.T, name string, content []byte) (*authSite, *routeEval) {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadDoctorConfig(file, "")
	if err != nil {
		t.Fatal(err)
	}
	sites, err := c.sites()
	if err != nil || len(sites) != 1 {
		t.Fatalf("sites: %v, %v", sites, err)
	}
	cctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return sites[0], &routeEval{ctx: cctx}
}
