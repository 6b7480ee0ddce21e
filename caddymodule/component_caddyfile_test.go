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

// TestWechatAuthComponentSetting: `component` and `component from_host` in
// wechat_auth, and what Validate refuses with them.
func TestWechatAuthComponentSetting(t *testing.T) {
	parse := func(body string) (*Handler, error) {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("wechat_auth {\n" + body + "\n}")); err != nil {
			return nil, err
		}
		h.setDefaults()
		return &h, h.Validate()
	}
	if h, err := parse("app_id wxmerchanta000001\ncomponent"); err != nil || !h.Component || h.ComponentFromHost {
		t.Fatalf("component: %+v, %v", h, err)
	}
	if h, err := parse("component from_host\ncomponent_authorizers wxa wxb"); err != nil || !h.Component || !h.ComponentFromHost || len(h.ComponentAuthorizers) != 2 {
		t.Fatalf("component from_host without app_id: %v", err)
	}
	for _, c := range []struct{ body, want string }{
		{"app_id wxmerchanta000001\ncomponent yes", "component takes no value, or from_host"},
		{"app_id wxmerchanta000001\ncomponent from_host", "component and app_id"},
		{"app_id wxmerchanta000001\napp_secret {env.S}\ncomponent", "component and app_secret"},
		{"app_id wxmerchanta000001\ncomponent\nsubscriber_info", "component and subscriber_info"},
		{"app_id wxmerchanta000001\ncomponent\njssdk_domains shop.example.com", "component and jssdk_domains"},
		{"component from_host\nassertion {\n issuer https://gw.example\n audience https://app.example\n}", "component and assertion"},
		{"scope snsapi_base", "app_id is empty"},
		{"component from_host\ncookie_domain wx.vendor.example", "component and cookie_domain"},
		{"app_id wxmerchanta000001\ncomponent\ncomponent_authorizers wxmerchanta000001", "component_authorizers without from_host"},
		{"component from_host\ncomponent_authorizers wxMerchant", "is not an AppID"},
		{"app_id wxmerchanta000001\ncomponent_authorizers wxmerchanta000001", "need component"},
	} {
		if _, err := parse(c.body); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}
}
