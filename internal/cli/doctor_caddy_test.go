package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
)

// These tests load configurations into real Caddy (in this process, admin
// off: one config at a time, so never in parallel) and fetch the MP_verify
// file as WeChat's domain check does: a plain HTTP client, not the WeChat
// browser. They prove the Caddyfile.example fix, and that the doctor's
// reading of routes agrees with what Caddy really answers.

const verifyPath = "/MP_verify_0123456789abcdef.txt"

func exampleEnv(t *testing.T, site string) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("SITE_ADDRESS", site)
	t.Setenv("UPSTREAM", "127.0.0.1:9")
	t.Setenv("WECHAT_APP_ID", "wx0123456789abcdef")
	t.Setenv("WECHAT_APP_SECRET", "0123456789abcdef0123456789abcdef")
	t.Setenv("WECHAT_SESSION_HASH_KEY", doctorHashKey)
	t.Setenv("WECHAT_SESSION_BLOCK_KEY", doctorBlockKey)
}

// serveWithCaddy adapts the Caddyfile, runs it in this process with the admin
// endpoint off, and returns what a plain HTTP client gets for path.
func serveWithCaddy(t *testing.T, caddyfile []byte, base, path string) (int, string) {
	t.Helper()
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(caddyfile, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["admin"] = map[string]any{"disabled": true, "config": map[string]any{"persist": false}}
	raw, _ = json.Marshal(cfg)
	if err := caddy.Load(raw, true); err != nil {
		t.Fatalf("loading into Caddy: %v", err)
	}
	defer func() { _ = caddy.Stop() }()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("User-Agent", "curl/8.5.0")
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		if resp, err = client.Do(req); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(body)
}

func TestCaddyfileExampleServesMPVerifyToAPlainHTTPClientAndTheOldShapeDidNot(t *testing.T) {
	for _, tc := range []struct {
		file   string
		status int
		body   string
	}{
		{"../../Caddyfile.example", http.StatusOK, "0123456789abcdef"},
		{"testdata/doctor/old-example.caddyfile", http.StatusForbidden, ""},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			src, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			base := fmt.Sprintf("http://127.0.0.1:%d", testnet.Port(t))
			exampleEnv(t, base)
			status, body := serveWithCaddy(t, src, base, verifyPath)
			if status != tc.status || (tc.body != "" && body != tc.body) {
				if len(body) > 200 {
					body = body[:200] + "…"
				}
				t.Fatalf("GET %s answered %d %q, want %d %q", verifyPath, status, body, tc.status, tc.body)
			}
		})
	}
}

func TestWechatDoctorJudgesCaddyfileExampleAndFlagsTheOldShape(t *testing.T) {
	exampleEnv(t, "wx.example.com")
	for file, want := range map[string]int{"../../Caddyfile.example": doctorExitOK, "testdata/doctor/old-example.caddyfile": doctorExitProblems} {
		var stdout, stderr bytes.Buffer
		code := runDoctorArgs(context.Background(), []string{"--config", file, "--offline"}, &stdout, &stderr)
		if code != want {
			t.Errorf("%s: exit %d, want %d:\n%s%s", file, code, want, stdout.String(), stderr.String())
		}
		flagged := strings.Contains(stdout.String(), "✗ WeChat's domain check (and curl) get 403")
		if flagged != (want == doctorExitProblems) {
			t.Errorf("%s: MP_verify flagged %v, want %v:\n%s", file, flagged, want == doctorExitProblems, stdout.String())
		}
	}
}

// TestDoctorRouteReadingAgreesWithCaddy runs configurations through real
// Caddy and through the doctor's route walk: both must give the same answer
// to a plain HTTP client asking for the MP_verify file.
func TestDoctorRouteReadingAgreesWithCaddy(t *testing.T) {
	const auth = `wechat_auth %s {
		app_id wx0123456789abcdef
		app_secret {env.WECHAT_APP_SECRET}
		session_keys {env.WECHAT_SESSION_HASH_KEY} {env.WECHAT_SESSION_BLOCK_KEY}
		%s
	}`
	shapes := map[string]string{
		"respond in the protected block":       "respond " + verifyPath + ` "0123456789abcdef"` + "\n" + fmt.Sprintf(auth, "", "") + "\nrespond 404",
		"handle before the protected block":    "handle " + verifyPath + " {\n respond \"0123456789abcdef\"\n}\nhandle {\n" + fmt.Sprintf(auth, "", "") + "\nrespond 404\n}",
		"file excluded by the protect matcher": "@app not path /MP_verify_*\n" + fmt.Sprintf(auth, "@app", "") + "\nrespond " + verifyPath + ` "0123456789abcdef"`,
		"non_wechat allow":                     fmt.Sprintf(auth, "", "non_wechat allow") + "\nrespond " + verifyPath + ` "0123456789abcdef"`,
		"non_wechat login":                     fmt.Sprintf(auth, "", "non_wechat login") + "\nrespond " + verifyPath + ` "0123456789abcdef"`,
		"no file at all":                       fmt.Sprintf(auth, "", "") + "\nrespond /other 200",
		"route keeps the written order":        "route {\n respond " + verifyPath + " \"0123456789abcdef\"\n" + fmt.Sprintf(auth, "", "") + "\n}",
	}
	for name, body := range shapes {
		t.Run(name, func(t *testing.T) {
			base := fmt.Sprintf("http://127.0.0.1:%d", testnet.Port(t))
			exampleEnv(t, base)
			caddyfile := []byte(base + " {\n" + body + "\n}\n")
			status, _ := serveWithCaddy(t, caddyfile, base, verifyPath)

			site, e := oneSite(t, "Caddyfile", caddyfile)
			out := e.probe(site, verifyPath)
			if out.Status != status {
				t.Fatalf("Caddy answered %d, the doctor thinks %d (%+v)", status, out.Status, out)
			}
		})
	}
}

// The doctor and Caddy agree: each configuration the doctor reports as one
// Caddy refuses (check settings) fails caddy.Validate, which provisions every
// module as a start would, and the correct one passes both.
func TestWechatDoctorAndCaddyAgreeOnSettings(t *testing.T) {
	t.Setenv("DOCTOR_TEST_SHORT_HASH", "MDEyMzQ1Njc4OWFiY2RlZg==")
	t.Setenv("DOCTOR_TEST_HEX_KEY", strings.Repeat("0123456789abcdef", 4))
	setDoctorEnv(t, "0123456789abcdef0123456789abcdef")
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cases := []doctorCase{{name: "correct", files: one(goodSite)}}
	for _, tc := range append(settingsCases, doctorCases...) {
		if tc.check == "settings" && tc.code == doctorExitProblems {
			cases = append(cases, tc)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.ReplaceAll(tc.files["Caddyfile"], "%[1]s", "http://127.0.0.1:9")
			raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), map[string]any{"filename": "Caddyfile"})
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			var cfg caddy.Config
			if err := json.Unmarshal(raw, &cfg); err != nil {
				t.Fatal(err)
			}
			cfg.Admin = &caddy.AdminConfig{Disabled: true}
			caddyErr := caddy.Validate(&cfg)
			p := filepath.Join(t.TempDir(), "Caddyfile")
			if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			code := runDoctorArgs(context.Background(), []string{"--config", p, "--offline"}, &out, io.Discard)
			refused := strings.Contains(out.String(), "Caddy refuses to start")
			if (caddyErr != nil) != refused {
				t.Fatalf("Caddy says %v; the doctor (exit %d) says refused=%v:\n%s", caddyErr, code, refused, out.String())
			}
			if caddyErr != nil && code != doctorExitProblems {
				t.Errorf("Caddy refuses it, the doctor exits %d", code)
			}
		})
	}
}
