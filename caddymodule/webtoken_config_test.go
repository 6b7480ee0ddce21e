package wechatauth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestCaddyfileTokenSettings: pass_access_token, verify_interval and
// profile_ttl adapt to their JSON fields; bad values fail at parse or in
// Validate with the setting's name; a relay client or a site without
// app_secret is refused them.
func TestCaddyfileTokenSettings(t *testing.T) {
	handler := func(t *testing.T, block string) Handler {
		t.Helper()
		out, err := adaptCaddyfile(t, "Caddyfile", "example.com {\n\twechat_auth {\n\t\tapp_id "+testAppID+"\n"+block+"\n\t}\n}\n")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := wechatAuthHandler(t, out)
		js, _ := json.Marshal(raw)
		var h Handler
		if err := json.Unmarshal(js, &h); err != nil {
			t.Fatal(err)
		}
		h.setDefaults()
		return h
	}
	h := handler(t, "app_secret {env.S}\npass_access_token\nverify_interval 15m\nprofile_ttl 24h")
	if !h.PassAccessToken || time.Duration(h.VerifyInterval) != 15*time.Minute || time.Duration(h.ProfileTTL) != 24*time.Hour {
		t.Fatalf("adapted to %+v", h)
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}

	for block, want := range map[string]string{
		"pass_access_token yes":  "pass_access_token takes no value",
		"verify_interval":        "verify_interval needs a value",
		"verify_interval often":  `verify_interval "often" is not a duration`,
		"profile_ttl 0":          "profile_ttl 0 would mean the default",
		"profile_ttl 1d 2d":      "profile_ttl takes one value",
		"verify_interval 15m 1h": "verify_interval takes one value",
	} {
		_, err := adaptCaddyfile(t, "Caddyfile", "example.com {\n\twechat_auth {\n"+block+"\n\t}\n}\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", block, err, want)
		}
	}

	_, relayKey, err := RelayClientKey(base64.StdEncoding.EncodeToString(testKey(4, 32)), "https://shop.example.com")
	if err != nil {
		t.Fatal(err)
	}
	for block, want := range map[string]string{
		"app_secret s\nverify_interval 30s": "verify_interval 30s is shorter than 1m",
		"app_secret s\nprofile_ttl -1h":     "profile_ttl -1h0m0s is negative",
		"pass_access_token":                 "pass_access_token needs app_secret",
		"profile_ttl 1h":                    "profile_ttl needs app_secret",
		"relay https://wx.example.com\nrelay_key https://shop.example.com " + relayKey + "\nverify_interval 1h": "verify_interval is set on a relay client (relay)",
		"relay https://wx.example.com\nrelay_key https://shop.example.com " + relayKey + "\npass_access_token":  "pass_access_token is set on a relay client (relay)",
	} {
		h := handler(t, block)
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: Validate() = %v, want %q", block, err, want)
		}
	}
}
