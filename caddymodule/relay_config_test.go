package wechatauth

import (
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestRelaySettingsAreCheckedAtStartAndNameTheFix(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(testKey(3, 32))
	cases := []struct {
		name string
		mod  func(*Handler)
		want string
	}{
		{"relay_for without relay_secret (the old form)", func(h *Handler) { h.RelayFor = []string{"shop.example.com"} }, "relay_for needs relay_secret"},
		{"relay without relay_key (the old form)", func(h *Handler) { h.AppSecret, h.Relay = "", "https://wx.example.com" }, "relay needs relay_key"},
		{"relay_secret on a site that is no relay", func(h *Handler) { h.RelaySecret = []string{key} }, "relay_secret is set but relay_for is not"},
		{"relay_key on a site that is no client", func(h *Handler) { h.RelayKeys = []RelayKey{{"https://shop.example.com", key}} }, "relay_key is set but relay is not"},
		{"relay_secret too short", func(h *Handler) {
			h.RelayFor, h.RelaySecret = []string{"shop.example.com"}, []string{base64.StdEncoding.EncodeToString(make([]byte, 16))}
		}, "relay_secret #1 is 16 bytes"},
		{"relay_key origin without scheme", func(h *Handler) {
			h.Relay, h.RelayKeys = "https://wx.example.com", []RelayKey{{"shop.example.com", key}}
		}, "relay_key #1"},
		{"relay_key origin with a path", func(h *Handler) {
			h.Relay, h.RelayKeys = "https://wx.example.com", []RelayKey{{"https://shop.example.com/app", key}}
		}, "is not a site origin"},
		{"relay_key without key", func(h *Handler) {
			h.Relay, h.RelayKeys = "https://wx.example.com", []RelayKey{{"https://shop.example.com", ""}}
		}, "relay_key #1 has no key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := validateHandler()
			c.mod(&h)
			h.setDefaults()
			err := h.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want it to say %q", err, c.want)
			}
			if strings.Contains(err.Error(), key) {
				t.Fatal("the error shows the key")
			}
		})
	}
	// The migration message says what to do on both sides.
	h := validateHandler()
	h.AppSecret, h.Relay = "", "https://wx.example.com"
	h.setDefaults()
	err := h.Validate()
	for _, want := range []string{"relay_secret", "caddy wechat-relay-key", "session_keys of its own"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the migration message lacks %q: %v", want, err)
		}
	}
}

func TestRelayKeyFromTheCaddyfileProvisionsAndAWrongKeyIsRefused(t *testing.T) {
	_, key, err := RelayClientKey(base64.StdEncoding.EncodeToString(testKey(4, 32)), "https://shop.example.com")
	if err != nil {
		t.Fatal(err)
	}
	var h Handler
	d := caddyfile.NewTestDispenser("wechat_auth {\n app_id " + testAppID + "\n relay https://wx.example.com\n relay_key https://shop.example.com:443 " + key + "\n relay_key http://shop.example.com:8080 " + key + "\n}")
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if len(h.RelayKeys) != 2 || h.RelayKeys[1].Origin != "http://shop.example.com:8080" {
		t.Fatalf("relay_key lines: %+v", h.RelayKeys)
	}
	p := provisionedHandler(t, func(x *Handler) { x.Relay, x.RelayKeys = h.Relay, h.RelayKeys })
	for _, o := range []origin{{"https", "shop.example.com"}, {"http", "shop.example.com:8080"}} {
		if relayClientOf(p).refuseSite(httptest.NewRecorder(), httptest.NewRequest("GET", o.String()+"/", nil), o) {
			t.Errorf("the client does not serve %s", o)
		}
	}
	if !relayClientOf(p).refuseSite(httptest.NewRecorder(), httptest.NewRequest("GET", "https://evil.example.com/", nil), origin{"https", "evil.example.com"}) {
		t.Error("the client serves an origin it has no key for")
	}
	bad := &Handler{AppID: testAppID, Relay: "https://wx.example.com", RelayKeys: []RelayKey{{"https://shop.example.com", base64.StdEncoding.EncodeToString(testKey(5, 16))}}}
	bad.setDefaults()
	if _, err := bad.provisionRelay(caddy.NewReplacer()); err == nil || !strings.Contains(err.Error(), "caddy wechat-relay-key https://shop.example.com") {
		t.Fatalf("a 16-byte relay key: %v", err)
	}
	d = caddyfile.NewTestDispenser("wechat_auth {\n relay_key https://shop.example.com\n}")
	if err := new(Handler).UnmarshalCaddyfile(d); err == nil || !strings.Contains(err.Error(), "relay_key takes two values") {
		t.Fatalf("one value: %v", err)
	}
}
