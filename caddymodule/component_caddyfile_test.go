package wechatauth

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// TestCaddyfileComponentBlock: the wechat option's component block, the
// secrets only as run-time placeholders, and each parse error.
func TestCaddyfileComponentBlock(t *testing.T) {
	full := `wechat {
		component {
			app_id wxcomponent0000001
			app_secret {env.C_SECRET}
			token {file./run/secrets/c_token}
			encoding_aes_key {env.C_KEY}
			previous_encoding_aes_key {env.C_OLD_KEY}
			api_base http://127.0.0.1:9
			open_base http://127.0.0.1:9
		}
	}`
	v, err := parseWeChatOption(caddyfile.NewTestDispenser(full), nil)
	if err != nil {
		t.Fatal(err)
	}
	var app App
	if err := json.Unmarshal(v.(httpcaddyfile.App).Value, &app); err != nil {
		t.Fatal(err)
	}
	want := ComponentConfig{AppID: "wxcomponent0000001", AppSecret: "{env.C_SECRET}", Token: "{file./run/secrets/c_token}",
		EncodingAESKey: "{env.C_KEY}", PreviousEncodingAESKey: "{env.C_OLD_KEY}", APIBase: "http://127.0.0.1:9", OpenBase: "http://127.0.0.1:9"}
	if app.Component == nil || *app.Component != want {
		t.Fatalf("parsed %+v, want %+v", app.Component, want)
	}
	for _, c := range []struct{ in, want string }{
		{"component { app_id wx1\n app_secret s3cret\n token {env.T}\n encoding_aes_key {env.K} }", "app_secret must be read at run time"},
		{"component { app_id wx1\n app_secret {env.S}\n token plaintoken\n encoding_aes_key {env.K} }", "token must be read at run time"},
		{"component { app_id wx1\n app_secret {env.S}\n token {env.T}\n }", "needs encoding_aes_key"},
		{"component { app_id wx1\n app_id wx2 }", "app_id is given twice"},
		{"component { appid wx1 }", `unknown wechat component setting "appid"`},
		{"component wx1", "takes its settings in a block"},
		{"component { app_id wx1\n app_secret {env.S}\n token {env.T}\n encoding_aes_key {env.K}\n }\ncomponent { app_id wx2\n }", "given twice"},
	} {
		_, err := parseWeChatOption(caddyfile.NewTestDispenser("wechat {\n"+c.in+"\n}"), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}

// TestComponentSettingsAreChecked: Provision refuses settings the console
// could not have given, naming the setting and never echoing the value.
func TestComponentSettingsAreChecked(t *testing.T) {
	good := ComponentConfig{AppID: "wxcomponent0000001", AppSecret: "componentsecret0123456789abcdef0",
		Token: "platformtoken", EncodingAESKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}
	for _, c := range []struct {
		name   string
		change func(*ComponentConfig)
		want   string
	}{
		{"no app_id", func(c *ComponentConfig) { c.AppID = "" }, "app_id is empty"},
		{"unset secret variable", func(c *ComponentConfig) { c.AppSecret = "{env.TEST_COMPONENT_UNSET_VAR}" }, "app_secret: a placeholder could not be expanded"},
		{"token with a space", func(c *ComponentConfig) { c.Token = "two words" }, "token must be"},
		{"42-character key", func(c *ComponentConfig) { c.EncodingAESKey = c.EncodingAESKey[:42] }, "encoding_aes_key"},
		{"key with a dash", func(c *ComponentConfig) { c.EncodingAESKey = "-" + c.EncodingAESKey[1:] }, "encoding_aes_key"},
		{"bad previous key", func(c *ComponentConfig) { c.PreviousEncodingAESKey = "short" }, "previous_encoding_aes_key"},
	} {
		cc := good
		c.change(&cc)
		a := &App{Component: &cc, replica: "check " + c.name}
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := a.Provision(ctx)
		cancel()
		_ = a.Cleanup()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
			continue
		}
		for _, secret := range []string{good.AppSecret, good.EncodingAESKey[:20], "two words"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error shows the value: %v", c.name, err)
			}
		}
	}
}
