package wechatauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// adaptCaddyfile runs the caddyfile adapter as `caddy adapt` does.
func adaptCaddyfile(t *testing.T, name, body string) ([]byte, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(body), map[string]any{"filename": name})
	return out, err
}

func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "\t"); err != nil {
		t.Fatalf("adapter output is not JSON: %v\n%s", err, b)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// TestCaddyfileAdaptsToGoldenJSON adapts testdata/golden/*.caddyfile and
// compares with the .json next to it. UPDATE_GOLDEN=1 rewrites the .json
// files; review the diff before committing it.
func TestCaddyfileAdaptsToGoldenJSON(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.caddyfile")
	if err != nil || len(files) < 5 {
		t.Fatalf("golden Caddyfiles: %v (%d found)", err, len(files))
	}
	for _, in := range files {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".caddyfile"), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := adaptCaddyfile(t, in, string(body))
			if err != nil {
				t.Fatalf("adapting %s: %v", in, err)
			}
			got := indentJSON(t, out)
			golden := strings.TrimSuffix(in, ".caddyfile") + ".json"
			if os.Getenv("UPDATE_GOLDEN") == "1" {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s adapts to:\n%s\nwant (%s):\n%s", in, got, golden, want)
			}
		})
	}
}

// wechatAuthHandler finds the wechat_auth handler and the route holding it
// in adapted JSON.
func wechatAuthHandler(t *testing.T, adapted []byte) (handler, route map[string]any) {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatal(err)
	}
	var walk func(v any, route map[string]any)
	walk = func(v any, r map[string]any) {
		switch x := v.(type) {
		case map[string]any:
			if x["handler"] == "wechat_auth" {
				handler, route = x, r
				return
			}
			if _, ok := x["handle"]; ok {
				r = x
			}
			for _, c := range x {
				walk(c, r)
			}
		case []any:
			for _, c := range x {
				walk(c, r)
			}
		}
	}
	walk(cfg, nil)
	if handler == nil {
		t.Fatalf("no wechat_auth handler in %s", adapted)
	}
	return handler, route
}

func TestCaddyfileMatcherBecomesProtectNotTheRouteMatcher(t *testing.T) {
	for name, body := range map[string]string{
		"path":  "example.com {\n wechat_auth /members/* {\n app_id wx1\n }\n}\n",
		"named": "example.com {\n @p path /members/*\n wechat_auth @p {\n app_id wx1\n }\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			out, err := adaptCaddyfile(t, "Caddyfile", body)
			if err != nil {
				t.Fatal(err)
			}
			h, route := wechatAuthHandler(t, out)
			protect, _ := json.Marshal(h["protect"])
			if !strings.Contains(string(protect), `"/members/*"`) {
				t.Errorf("protect = %s, want the /members/* matcher", protect)
			}
			if route != nil {
				if m, ok := route["match"]; ok {
					t.Errorf("the route holding wechat_auth has matcher %v: the callback would not answer outside it", m)
				}
			}
		})
	}
}

func TestCaddyfileWithoutMatcherProtectsEverything(t *testing.T) {
	out, err := adaptCaddyfile(t, "Caddyfile", "example.com {\n wechat_auth {\n app_id wx1\n }\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := wechatAuthHandler(t, out); h["protect"] != nil {
		t.Errorf("protect = %v without a matcher", h["protect"])
	}
}

func TestCaddyfileParseErrors(t *testing.T) {
	cases := []struct {
		name, block, want string
	}{
		{"unknown subdirective", "app_id wx1\nbogus x", `unknown wechat_auth setting "bogus"`},
		{"typo subdirective", "app_id wx1\nappid wx1", `unknown wechat_auth setting "appid"`},
		{"duplicate app_id", "app_id wx1\napp_id wx2", "app_id is set twice"},
		{"duplicate app_secret", "app_secret a\napp_secret b", "app_secret is set twice"},
		{"duplicate scope", "scope snsapi_base\nscope snsapi_base", "scope is set twice"},
		{"duplicate cookie_name", "cookie_name a\ncookie_name b", "cookie_name is set twice"},
		{"app_id without value", "app_id", "app_id needs a value"},
		{"app_id two values", "app_id wx1 wx2", "app_id takes one value"},
		{"session_keys no args", "session_keys", "session_keys takes a hash key and an optional block key"},
		{"session_keys three args", "session_keys a b c", "session_keys takes a hash key and an optional block key"},
		{"session_ttl bogus", "session_ttl forever", `session_ttl "forever" is not a duration`},
		{"session_ttl no value", "session_ttl", "session_ttl needs a value"},
		{"session_ttl zero", "session_ttl 0", "session_ttl 0 would mean the default"},
		{"subscriber_ttl bogus", "subscriber_ttl soon", `subscriber_ttl "soon" is not a duration`},
		{"subscriber_ttl zero", "subscriber_ttl 0s", "subscriber_ttl 0 would mean the default"},
		{"path_prefix no value", "path_prefix", "path_prefix needs a value"},
		{"redirect_domains empty", "redirect_domains", "wrong argument count"},
		{"desktop_login one value", "desktop_login wxweb", "desktop_login takes two values"},
		{"desktop_login three values", "desktop_login wxweb s extra", "desktop_login takes two values"},
		{"desktop_login twice", "desktop_login a b\ndesktop_login c d", "desktop_login is set twice"},
		{"jssdk_domains empty", "jssdk_domains", "wrong argument count"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := "example.com {\n\twechat_auth {\n" + c.block + "\n\t}\n}\n"
			_, err := adaptCaddyfile(t, "Caddyfile", body)
			if err == nil {
				t.Fatalf("adapted without error:\n%s", body)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if !strings.Contains(err.Error(), "Caddyfile:") {
				t.Errorf("error %q does not point at the file and line", err)
			}
		})
	}
}

// TestCaddyfileRulesAreCheckedByValidate: the parser only shapes tokens;
// what a value may be is Validate's, so a Caddyfile with a bad value adapts
// and then fails the Validate that Provision (and caddy validate) runs.
func TestCaddyfileRulesAreCheckedByValidate(t *testing.T) {
	cases := []struct {
		name, block, want string
	}{
		{"scope bogus", "scope snsapi_all", `scope "snsapi_all" is unknown`},
		{"scope case", "scope SNSAPI_BASE", `scope "SNSAPI_BASE" is unknown`},
		{"session_ttl too short", "session_ttl 30s", "session_ttl 30s is too short"},
		{"session_ttl negative", "session_ttl -1h", "is too short"},
		{"path_prefix without slash", "path_prefix wechat_auth", `path_prefix "wechat_auth" must be a path starting with /`},
		{"non_wechat bogus", "non_wechat redirect", `non_wechat "redirect" is unknown`},
		{"redirect_domains url", "redirect_domains https://a.com", `redirect_domains "https://a.com"`},
		{"redirect_domains path", "redirect_domains a.com b.com/x", `redirect_domains "b.com/x"`},
		{"redirect_domains bad port", "redirect_domains a.com:http", `port "http" is not a number or *`},
		{"redirect_domains bare star", "redirect_domains *", `redirect_domains "*"`},
		{"redirect_domains userinfo", "redirect_domains u@a.com", `redirect_domains "u@a.com"`},
		{"jssdk_domains url", "jssdk_domains https://shop.example.com", `jssdk_domains "https://shop.example.com"`},
		{"jssdk_domains path", "jssdk_domains a.com b.com/x", `jssdk_domains "b.com/x"`},
		{"jssdk_domains bad port", "jssdk_domains a.com:https", `jssdk_domains "a.com:https": port "https" is not a number or *`},
		{"subscriber_ttl negative", "subscriber_ttl -5m", "subscriber_ttl -5m0s is negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := "example.com {\n\twechat_auth {\n\t\tapp_id " + testAppID + "\n" + c.block + "\n\t}\n}\n"
			out, err := adaptCaddyfile(t, "Caddyfile", body)
			if err != nil {
				t.Fatalf("the parser refused a value (rules belong to Validate): %v", err)
			}
			raw, _ := wechatAuthHandler(t, out)
			js, _ := json.Marshal(raw)
			var h Handler
			if err := json.Unmarshal(js, &h); err != nil {
				t.Fatal(err)
			}
			h.setDefaults()
			err = h.Validate()
			if err == nil {
				t.Fatalf("Validate accepted:\n%s", body)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Validate() = %q, want it to say %q", err, c.want)
			}
		})
	}
}

func TestCaddyfileArgumentsOnTheDirectiveLineAreRefused(t *testing.T) {
	for _, line := range []string{"wechat_auth wx0123456789abcdef", "wechat_auth /x/* extra", "wechat_auth @m extra"} {
		body := "example.com {\n @m path /m\n " + line + " {\n app_id wx1\n }\n}\n"
		_, err := adaptCaddyfile(t, "Caddyfile", body)
		if err == nil || !strings.Contains(err.Error(), "takes its settings in a block") {
			t.Errorf("%q: error %v, want it to ask for a block", line, err)
		}
	}
}

func TestCaddyfileOneArgErrorDoesNotEchoTheExtraValue(t *testing.T) {
	_, err := adaptCaddyfile(t, "Caddyfile", "example.com {\n wechat_auth {\n app_secret part1 supersecretpart2\n }\n}\n")
	if err == nil {
		t.Fatal("accepted two values for app_secret")
	}
	if strings.Contains(err.Error(), "supersecretpart2") {
		t.Errorf("error %q echoes the extra value", err)
	}
}

func TestCaddyfileRepeatableSettingsAccumulate(t *testing.T) {
	var h Handler
	d := caddyfile.NewTestDispenser("wechat_auth {\n session_keys a b\n session_keys c\n redirect_domains x.com\n redirect_domains .y.com z.com:*\n}")
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if len(h.SessionKeys) != 2 || h.SessionKeys[0] != (SessionKey{"a", "b"}) || h.SessionKeys[1] != (SessionKey{HashKey: "c"}) {
		t.Errorf("SessionKeys = %+v", h.SessionKeys)
	}
	if strings.Join(h.RedirectDomains, " ") != "x.com .y.com z.com:*" {
		t.Errorf("RedirectDomains = %q", h.RedirectDomains)
	}
}

func TestCaddyfileAdaptKeepsSecretPlaceholdersUnexpanded(t *testing.T) {
	const secret = "0123456789abcdef-app-secret-value"
	const hashKey = "aGFzaC1rZXktdmFsdWUtdGhhdC1tdXN0LW5vdC1sZWFr"
	t.Setenv("WECHAT_APP_SECRET", secret)
	t.Setenv("WECHAT_SESSION_HASH_KEY", hashKey)
	out, err := adaptCaddyfile(t, "Caddyfile", `example.com {
	wechat_auth {
		app_id       wx0123456789abcdef
		app_secret   {env.WECHAT_APP_SECRET}
		session_keys {env.WECHAT_SESSION_HASH_KEY}
	}
}
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{secret, hashKey} {
		if strings.Contains(string(out), v) {
			t.Errorf("adapted JSON contains the value %q:\n%s", v, out)
		}
	}
	h, _ := wechatAuthHandler(t, out)
	if h["app_secret"] != "{env.WECHAT_APP_SECRET}" {
		t.Errorf("app_secret = %v, want the placeholder kept for Provision", h["app_secret"])
	}
}

// validateHandler is a Handler that passes Validate after setDefaults.
func validateHandler() Handler {
	return Handler{AppID: testAppID, AppSecret: "secret"}
}

func TestValidateExplainsWhatIsWrong(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Handler)
		want string
	}{
		{"missing app_id", func(h *Handler) { h.AppID = "" }, "app_id is empty"},
		{"app_id with space", func(h *Handler) { h.AppID = "wx 1" }, "is not an AppID"},
		{"app_id placeholder left", func(h *Handler) { h.AppID = "{env.X}" }, "is not an AppID"},
		{"unknown scope", func(h *Handler) { h.Scope = "snsapi_login" }, `scope "snsapi_login" is unknown`},
		{"path_prefix relative", func(h *Handler) { h.PathPrefix = "auth" }, "must be a path starting with /"},
		{"path_prefix wildcard", func(h *Handler) { h.PathPrefix = "/auth/*" }, "must be a path starting with /"},
		{"path_prefix query", func(h *Handler) { h.PathPrefix = "/auth?x" }, "must be a path starting with /"},
		{"path_prefix just slash", func(h *Handler) { h.PathPrefix = "/" }, "path_prefix"},
		{"cookie_name space", func(h *Handler) { h.CookieName = "a b" }, "is not a valid cookie name"},
		{"cookie_name semicolon", func(h *Handler) { h.CookieName = "a;b" }, "is not a valid cookie name"},
		{"cookie_domain path", func(h *Handler) { h.CookieDomain = "example.com/x" }, "is not a domain name"},
		{"session_ttl short", func(h *Handler) { h.SessionTTL = caddy.Duration(59 * time.Second) }, "is too short"},
		{"session_ttl negative", func(h *Handler) { h.SessionTTL = caddy.Duration(-time.Hour) }, "is too short"},
		{"non_wechat", func(h *Handler) { h.NonWeChat = "redirect" }, `non_wechat "redirect" is unknown`},
		{"header_prefix space", func(h *Handler) { h.HeaderPrefix = "X WeChat-" }, "is not a valid header name prefix"},
		{"header_prefix colon", func(h *Handler) { h.HeaderPrefix = "X-WeChat:" }, "is not a valid header name prefix"},
		{"api_base scheme", func(h *Handler) { h.APIBase = "ftp://api.weixin.qq.com" }, "api_base"},
		{"api_base no host", func(h *Handler) { h.APIBase = "https://" }, "api_base"},
		{"open_base relative", func(h *Handler) { h.OpenBase = "/connect" }, "open_base"},
		{"qrconnect without desktop_login", func(h *Handler) { h.NonWeChat = "qrconnect" }, "non_wechat qrconnect needs desktop_login"},
		{"desktop_login without AppID", func(h *Handler) { h.DesktopLogin = &DesktopLogin{AppSecret: "s"} }, "desktop_login has no AppID"},
		{"desktop_login without secret", func(h *Handler) { h.DesktopLogin = &DesktopLogin{AppID: "wxweb"} }, "desktop_login has no secret"},
		{"desktop_login is the OA", func(h *Handler) { h.DesktopLogin = &DesktopLogin{AppID: testAppID, AppSecret: "s"} }, "is the Official Account's app_id"},
		{"desktop_login bad AppID", func(h *Handler) { h.DesktopLogin = &DesktopLogin{AppID: "wx web", AppSecret: "s"} }, "is not an AppID"},
		{"desktop_login with non_wechat page", func(h *Handler) {
			h.DesktopLogin, h.NonWeChat = &DesktopLogin{AppID: "wxweb", AppSecret: "s"}, "page"
		}, "use non_wechat qrconnect"},
		{"desktop_login with relay", func(h *Handler) {
			h.DesktopLogin, h.Relay = &DesktopLogin{AppID: "wxweb", AppSecret: "s"}, "https://wx.example.com"
		}, "cannot be combined with relay"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Provision's order: the settings, then the defaults, then Validate.
			h := validateHandler()
			c.mod(&h)
			h.setDefaults()
			err := h.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Validate() = %q, want it to say %q", err, c.want)
			}
		})
	}
	h := validateHandler()
	h.setDefaults()
	if err := h.Validate(); err != nil {
		t.Errorf("a good config fails Validate: %v", err)
	}
	// desktop_login alone implies non_wechat qrconnect.
	h = validateHandler()
	h.DesktopLogin = &DesktopLogin{AppID: "wxweb", AppSecret: "{env.WEB_SECRET}"}
	h.setDefaults()
	if err := h.Validate(); err != nil || h.NonWeChat != "qrconnect" {
		t.Errorf("desktop_login alone: non_wechat %q, Validate %v", h.NonWeChat, err)
	}
}

func TestCaddyfileDesktopLoginKeepsItsSecretPlaceholder(t *testing.T) {
	const secret = "website-app-secret-value-0123456"
	t.Setenv("WECHAT_WEB_APP_SECRET", secret)
	out, err := adaptCaddyfile(t, "Caddyfile", `example.com {
	wechat_auth {
		app_id        wx0123456789abcdef
		app_secret    {env.WECHAT_APP_SECRET}
		desktop_login wxd0d0d0d0d0d0d0d0 {env.WECHAT_WEB_APP_SECRET}
	}
}
`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), secret) {
		t.Errorf("adapted JSON contains the website app's secret:\n%s", out)
	}
	h, _ := wechatAuthHandler(t, out)
	dl, _ := h["desktop_login"].(map[string]any)
	if dl["app_id"] != "wxd0d0d0d0d0d0d0d0" || dl["app_secret"] != "{env.WECHAT_WEB_APP_SECRET}" {
		t.Errorf("desktop_login = %v", h["desktop_login"])
	}
}

func TestSetDefaultsTrimsTheTrailingSlashOfPathPrefix(t *testing.T) {
	h := validateHandler()
	h.PathPrefix = "/auth/wechat/"
	h.setDefaults()
	if h.PathPrefix != "/auth/wechat" {
		t.Errorf("PathPrefix = %q", h.PathPrefix)
	}
	if h.Scope != "snsapi_base" || h.CookieName != defaultCookieName || h.NonWeChat != "page" || h.HeaderPrefix != defaultHeaderPrefix || time.Duration(h.SessionTTL) != defaultSessionTTL {
		t.Errorf("defaults: %+v", h)
	}
}

func TestProvisionRefusesBadKeysAndUnexpandedSecretsWithoutEchoingThem(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, n)) }
	t.Setenv("WECHAT_TEST_SHORT_HASH", b64(16))
	cases := []struct {
		name   string
		mod    func(*Handler)
		want   string
		secret string
	}{
		{"hash key 16 bytes", func(h *Handler) { h.SessionKeys = []SessionKey{{HashKey: b64(16)}} }, "session_keys #1: hash key is 16 bytes", b64(16)},
		{"hash key from env 16 bytes", func(h *Handler) { h.SessionKeys = []SessionKey{{HashKey: "{env.WECHAT_TEST_SHORT_HASH}"}} }, "hash key is 16 bytes", b64(16)},
		{"block key 20 bytes", func(h *Handler) { h.SessionKeys = []SessionKey{{HashKey: b64(32), BlockKey: b64(20)}} }, "block key is 20 bytes", b64(20)},
		{"second pair bad", func(h *Handler) { h.SessionKeys = []SessionKey{{HashKey: b64(32)}, {HashKey: "!!notbase64secret!!"}} }, "session_keys #2: hash key is not valid base64", "notbase64secret"},
		{"unset env key", func(h *Handler) { h.SessionKeys = []SessionKey{{HashKey: "{env.WECHAT_TEST_UNSET_KEY}"}} }, "session_keys #1 hash key: a placeholder could not be expanded", ""},
		{"unset env secret", func(h *Handler) { h.AppSecret = "{env.WECHAT_TEST_UNSET_SECRET}" }, "app_secret: a placeholder could not be expanded", ""},
		{"empty secret", func(h *Handler) { h.AppSecret = "" }, "app_secret is empty", ""},
		{"missing app_id", func(h *Handler) { h.AppID = "" }, "app_id is empty", ""},
		{"unknown scope", func(h *Handler) { h.Scope = "bogus" }, "is unknown", ""},
		{"path_prefix", func(h *Handler) { h.PathPrefix = "x" }, "path_prefix", ""},
		{"redirect_domains", func(h *Handler) { h.RedirectDomains = []string{"a.com/b"} }, `redirect_domains "a.com/b"`, ""},
		{"jssdk_domains", func(h *Handler) { h.JSSDKDomains = []string{"*"} }, `jssdk_domains "*"`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := validateHandler()
			c.mod(&h)
			err := provisionHandler(t, &h)
			if err == nil {
				t.Fatal("Provision accepted it")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Provision() = %q, want it to say %q", err, c.want)
			}
			if c.secret != "" && strings.Contains(err.Error(), c.secret) {
				t.Errorf("Provision() = %q echoes the key", err)
			}
		})
	}
}

func TestProvisionExpandsPlaceholdersInKeysAndSecret(t *testing.T) {
	hash := base64.StdEncoding.EncodeToString(testKey(3, 32))
	block := base64.URLEncoding.EncodeToString(testKey(4, 32))
	t.Setenv("WECHAT_TEST_HASH", hash)
	t.Setenv("WECHAT_TEST_BLOCK", block)
	t.Setenv("WECHAT_TEST_SECRET", "s3cret")
	h := validateHandler()
	h.AppSecret = "{env.WECHAT_TEST_SECRET}"
	h.SessionKeys = []SessionKey{{HashKey: "{env.WECHAT_TEST_HASH}", BlockKey: "{env.WECHAT_TEST_BLOCK}"}}
	if err := provisionHandler(t, &h); err != nil {
		t.Fatal(err)
	}
	// A cookie sealed by a codec built from the literal keys verifies.
	want := newCookieCodec([][]byte{testKey(3, 32), testKey(4, 32)}, time.Hour)
	v, err := want.encode(h.CookieName, marshalSession(Session{AppID: testAppID, OpenID: "o", Scope: "snsapi_base", Issued: time.Now().Unix(), Expires: time.Now().Add(time.Hour).Unix()}))
	if err != nil {
		t.Fatal(err)
	}
	if h.sessions.verify(v) == nil {
		t.Error("Provision did not decode the keys from their placeholders")
	}
}
