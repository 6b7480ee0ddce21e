package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

const menuExample = "../../examples/menu.json"

// menuResult is one run of `caddy wechat-menu`.
type menuResult struct {
	code           int
	stdout, stderr string
}

func (r menuResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// menuRunT runs the command with env as the whole environment and fails the
// test if the app secret, or any access_token the simulator handed out,
// shows up in the output, or if the client leaked something we had to
// redact: every test therefore checks that secrets stay out of the output.
func menuRunT(t *testing.T, srv *wechattest.Server, env map[string]string, args ...string) menuResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := runMenu(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr)
	r := menuResult{code, stdout.String(), stderr.String()}
	out := r.stdout + r.stderr
	secrets := []string{wechattest.DefaultAppSecret, env["WECHAT_APP_SECRET"], "[app secret]"}
	if srv != nil {
		for _, c := range srv.Calls() {
			secrets = append(secrets, c.Query.Get("access_token"))
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("output of wechat-menu %q contains secret %q:\n%s", args, s, out)
		}
	}
	return r
}

// menuSimulator starts a simulator and the environment that points the
// command at it.
func menuSimulator(t *testing.T) (*wechattest.Server, map[string]string, []string) {
	t.Helper()
	srv := wechattest.NewServer()
	t.Cleanup(srv.Close)
	env := map[string]string{
		"WECHAT_APP_ID":     wechattest.DefaultAppID,
		"WECHAT_APP_SECRET": wechattest.DefaultAppSecret,
	}
	return srv, env, []string{"--api-base", srv.URL}
}

func menuReadFile(t *testing.T, path string) *wechat.Menu {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := menuDecode(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func TestMenuValidateAcceptsExample(t *testing.T) {
	r := menuRunT(t, nil, nil, "validate", menuExample)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("validate %s: %v", menuExample, r)
	}
	if want := menuExample + ": ok, 3 buttons and 8 sub-buttons fit WeChat's menu rules\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
}

func TestMenuExampleViewButtonsOpenProtectedPages(t *testing.T) {
	m := menuReadFile(t, menuExample)
	views := 0
	for _, b := range m.Button {
		for _, sb := range append([]wechat.Button{b}, b.SubButton...) {
			if sb.Type == "view" {
				views++
				if !strings.HasPrefix(sb.URL, "https://example.com/") {
					t.Errorf("view button %q opens %s, want a page of the example site behind wechat_auth", sb.Name, sb.URL)
				}
			}
		}
	}
	if views == 0 {
		t.Error("examples/menu.json has no view button")
	}
}

func TestMenuValidateRefusesOfflineWithExactPath(t *testing.T) {
	for _, tt := range []struct {
		file, want string
	}{
		{"testdata/menu_four_buttons.json",
			"testdata/menu_four_buttons.json: button: 4 buttons, limit 3 (WeChat would answer errcode 40016)\n"},
		{"testdata/menu_long_sub_name.json",
			"testdata/menu_long_sub_name.json: button[1].sub_button[4].name: 61 bytes, limit 60 (WeChat would answer errcode 40025)\n"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			for _, sub := range []string{"validate", "push"} {
				// No credentials and no API server: both refuse before any call.
				r := menuRunT(t, nil, nil, sub, tt.file)
				if r.code != 1 || !strings.HasPrefix(r.stderr, tt.want) {
					t.Errorf("%s %s: want exit 1 and stderr starting %q, got %v", sub, tt.file, tt.want, r)
				}
				if !strings.Contains(r.stderr, tt.file+": 1 problem\n") {
					t.Errorf("%s %s: no problem count in %q", sub, tt.file, r.stderr)
				}
			}
		})
	}
}

func TestMenuPushRefusesInvalidMenuWithoutCallingWeChat(t *testing.T) {
	srv, env, api := menuSimulator(t)
	r := menuRunT(t, srv, env, append([]string{"push", "testdata/menu_long_sub_name.json"}, api...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "not pushed; fix the problems above first") {
		t.Fatalf("push of an invalid menu: %v", r)
	}
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("push of an invalid menu made %d calls to WeChat, want 0", n)
	}
}

func TestMenuValidateReportsFileMistakesWithPosition(t *testing.T) {
	for _, tt := range []struct{ file, want string }{
		{"testdata/menu_bad_json.json",
			"testdata/menu_bad_json.json: line 3, column 57: invalid JSON: invalid character '}' looking for beginning of object key string\n"},
		{"testdata/menu_misspelt_field.json",
			`testdata/menu_misspelt_field.json: unknown field "sub_buttons"; a button has type, name, key, url, appid, pagepath, article_id, media_id and sub_button` + "\n"},
		{"testdata/missing.json", "wechat-menu: open testdata/missing.json: no such file or directory\n"},
	} {
		r := menuRunT(t, nil, nil, "validate", tt.file)
		if r.code != 1 || r.stderr != tt.want {
			t.Errorf("validate %s: want exit 1 and stderr %q, got %v", tt.file, tt.want, r)
		}
	}
}

func TestMenuDecodeRejectsWrongTypesAndTrailingData(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"button": [{"type": "click", "name": 7, "key": "K"}]}`, "line 1, column 39: button.name must be a JSON string, not number"},
		{`{"button": {}}`, "line 1, column 12: button must be a JSON array, not object"},
		{"{\"button\": []}\n{}", "line 2, column 1: unexpected data after the menu object"},
		{"", `empty file; a menu is {"button": [...]}`},
	} {
		_, err := menuDecode([]byte(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("menuDecode(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestMenuPushThenGetRoundTrips(t *testing.T) {
	srv, env, api := menuSimulator(t)
	r := menuRunT(t, srv, env, append([]string{"push", menuExample}, api...)...)
	if r.code != 0 {
		t.Fatalf("push: %v", r)
	}
	if !strings.Contains(r.stdout, "pushed "+menuExample+" (3 buttons and 8 sub-buttons) to "+wechattest.DefaultAppID) {
		t.Errorf("push stdout = %q", r.stdout)
	}
	want := menuReadFile(t, menuExample)
	live := srv.Menu(wechattest.DefaultAppID)
	if live == nil {
		t.Fatal("the simulator has no menu after push")
	}
	live.MenuID = 0
	if !reflect.DeepEqual(live, want) {
		t.Errorf("simulator menu after push:\n got %+v\nwant %+v", live, want)
	}

	got := menuRunT(t, srv, env, append([]string{"get"}, api...)...)
	if got.code != 0 || got.stderr != "" {
		t.Fatalf("get: %v", got)
	}
	if got.stdout != string(menuEncode(want)) {
		t.Errorf("get printed:\n%s\nwant:\n%s", got.stdout, menuEncode(want))
	}
	for _, bad := range []string{"menuid", `\u0026`, `"sub_button": []`} {
		if strings.Contains(got.stdout, bad) {
			t.Errorf("get output contains %q, which push would not take back as it was:\n%s", bad, got.stdout)
		}
	}
	if !strings.Contains(got.stdout, "status=all&from=menu") {
		t.Errorf("get output lost the unescaped & of a URL:\n%s", got.stdout)
	}

	// What get printed goes back through push unchanged.
	saved := filepath.Join(t.TempDir(), "live.json")
	if err := os.WriteFile(saved, []byte(got.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := menuRunT(t, srv, env, append([]string{"push", saved}, api...)...); r.code != 0 {
		t.Fatalf("push of get's output: %v", r)
	}
	again := menuRunT(t, srv, env, append([]string{"get"}, api...)...)
	if again.stdout != got.stdout {
		t.Errorf("get after pushing get's output:\n%s\nwant:\n%s", again.stdout, got.stdout)
	}
}

func TestMenuFlagsOverrideEnvironment(t *testing.T) {
	srv, _, api := menuSimulator(t)
	env := map[string]string{"WECHAT_APP_ID": "wxnotthisone", "WECHAT_APP_SECRET": "not-this-secret"}
	args := append([]string{"push", menuExample, "--app-id", wechattest.DefaultAppID,
		"--app-secret", wechattest.DefaultAppSecret}, api...)
	if r := menuRunT(t, srv, env, args...); r.code != 0 {
		t.Fatalf("push with --app-id/--app-secret: %v", r)
	}
	if srv.Menu(wechattest.DefaultAppID) == nil {
		t.Error("the menu did not reach the app named by --app-id")
	}
}

func TestMenuDiffBeforeAndAfterPush(t *testing.T) {
	srv, env, api := menuSimulator(t)
	diff := func(file string) menuResult {
		t.Helper()
		r := menuRunT(t, srv, env, append([]string{"diff", file}, api...)...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("diff %s: %v", file, r)
		}
		return r
	}

	// No menu yet (46003): every line of the file is an addition.
	before := diff(menuExample)
	fileLines := menuLines(menuEncode(menuReadFile(t, menuExample)))
	wantHead := "--- live menu of " + wechattest.DefaultAppID + " (none)\n+++ " + menuExample + "\n" +
		"@@ -0,0 +1," + strconv.Itoa(len(fileLines)) + " @@\n+{\n"
	if !strings.HasPrefix(before.stdout, wantHead) {
		t.Errorf("diff without a live menu starts:\n%s\nwant:\n%s", before.stdout, wantHead)
	}
	if menuChangedLines(before.stdout) != len(fileLines) {
		t.Errorf("diff without a live menu should add all %d lines:\n%s", len(fileLines), before.stdout)
	}

	if r := menuRunT(t, srv, env, append([]string{"push", menuExample}, api...)...); r.code != 0 {
		t.Fatalf("push: %v", r)
	}
	after := diff(menuExample)
	if want := "no changes: the live menu of " + wechattest.DefaultAppID + " already matches " + menuExample + "\n"; after.stdout != want {
		t.Errorf("diff after push = %q, want %q", after.stdout, want)
	}

	// Renaming one button shows just that line, with context.
	data, _ := os.ReadFile(menuExample)
	renamed := filepath.Join(t.TempDir(), "renamed.json")
	if err := os.WriteFile(renamed, bytes.Replace(data, []byte("关于我们"), []byte("联系我们"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	changed := diff(renamed)
	if !strings.Contains(changed.stdout, "\n-      \"name\": \"关于我们\",\n+      \"name\": \"联系我们\",\n") {
		t.Errorf("diff of a renamed button:\n%s", changed.stdout)
	}
	if n := menuChangedLines(changed.stdout); n != 2 {
		t.Errorf("diff of one renamed button changes %d lines, want 2:\n%s", n, changed.stdout)
	}
}

func TestMenuDiffWarnsWhenPushWouldRefuse(t *testing.T) {
	srv, env, api := menuSimulator(t)
	r := menuRunT(t, srv, env, append([]string{"diff", "testdata/menu_four_buttons.json"}, api...)...)
	if r.code != 1 || !strings.Contains(r.stdout, "+++ testdata/menu_four_buttons.json") ||
		!strings.Contains(r.stderr, "button: 4 buttons, limit 3") ||
		!strings.Contains(r.stderr, "push would refuse it") {
		t.Errorf("diff of an invalid menu: %v", r)
	}
}

func TestMenuDeleteThenGet(t *testing.T) {
	srv, env, api := menuSimulator(t)
	if r := menuRunT(t, srv, env, append([]string{"push", menuExample}, api...)...); r.code != 0 {
		t.Fatalf("push: %v", r)
	}
	del := menuRunT(t, srv, env, append([]string{"delete"}, api...)...)
	if del.code != 0 || !strings.HasPrefix(del.stdout, "deleted the menu of "+wechattest.DefaultAppID) {
		t.Fatalf("delete: %v", del)
	}
	if m := srv.Menu(wechattest.DefaultAppID); m != nil {
		t.Errorf("simulator still has a menu after delete: %+v", m)
	}
	get := menuRunT(t, srv, env, append([]string{"get"}, api...)...)
	want := "wechat-menu get: " + wechattest.DefaultAppID + " has no menu (errcode 46003); create one with: caddy wechat-menu push FILE\n"
	if get.code != 1 || get.stdout != "" || get.stderr != want {
		t.Errorf("get after delete: want exit 1 and stderr %q, got %v", want, get)
	}
}

func TestMenuWeChatErrorsShowMeaningAndWhatToDo(t *testing.T) {
	for _, tt := range []struct {
		name, path string
		code       int
		args       []string
		want       []string
	}{
		{"IP not whitelisted", "/cgi-bin/menu/create", 40164, []string{"push", menuExample}, []string{
			"wechat-menu push: WeChat answered /cgi-bin/menu/create with errcode 40164",
			"  what to do: add 127.0.0.1 (the IP WeChat saw) to the API IP whitelist (API IP白名单) on 微信开发者平台"}},
		{"wrong secret", "/cgi-bin/stable_token", 40125, []string{"get"}, []string{
			"wechat-menu get: WeChat answered /cgi-bin/stable_token with errcode 40125",
			"  what to do: the app_secret is wrong"}},
		{"mini-program not linked", "/cgi-bin/menu/create", 45064, []string{"push", menuExample}, []string{
			"errcode 45064", "  what to do: link the mini-program to this Official Account first"}},
		{"quota", "/cgi-bin/menu/delete", 45009, []string{"delete"}, []string{
			"wechat-menu delete: WeChat answered /cgi-bin/menu/delete with errcode 45009", "  what to do: the daily API quota"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, env, api := menuSimulator(t)
			srv.Fail(tt.path, 1, wechattest.Fault{ErrCode: tt.code})
			r := menuRunT(t, srv, env, append(tt.args, api...)...)
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

func TestMenuUnreachableWeChatFailsWithinTimeout(t *testing.T) {
	srv, env, api := menuSimulator(t)
	srv.Fail("/cgi-bin/menu/get", 10, wechattest.FaultHang)
	start := time.Now()
	r := menuRunT(t, srv, env, append([]string{"get", "--timeout", "200ms"}, api...)...)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "wechat-menu get: wechat /cgi-bin/menu/get: ") {
		t.Errorf("get against a hanging server: %v", r)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("get took %v despite --timeout 200ms", d)
	}
}

func TestMenuMissingCredentialsNameFlagAndEnv(t *testing.T) {
	for _, sub := range [][]string{{"push", menuExample}, {"get"}, {"delete"}, {"diff", menuExample}} {
		r := menuRunT(t, nil, nil, sub...)
		want := "wechat-menu " + sub[0] + ": missing the AppID: pass --app-id or set WECHAT_APP_ID (公众平台 → 基本配置)\n" +
			"wechat-menu " + sub[0] + ": missing the AppSecret: pass --app-secret or set WECHAT_APP_SECRET (公众平台 → 基本配置)\n"
		if r.code != 2 || r.stderr != want {
			t.Errorf("%v without credentials: want exit 2 and stderr %q, got %v", sub, want, r)
		}
	}
	r := menuRunT(t, nil, map[string]string{"WECHAT_APP_ID": "wx0123456789abcdef"}, "get")
	if r.code != 2 || strings.Contains(r.stderr, "AppID") || !strings.Contains(r.stderr, "--app-secret") {
		t.Errorf("get without a secret: %v", r)
	}
}

func TestMenuUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "validate FILE"}, // the help text
		{[]string{"publish"}, `wechat-menu: unknown subcommand "publish": use validate, push, get, diff or delete` + "\n"},
		{[]string{"validate"}, "wechat-menu: validate needs one menu file: caddy wechat-menu validate FILE\n"},
		{[]string{"push", "a.json", "b.json"}, "wechat-menu: push needs one menu file: caddy wechat-menu push FILE\n"},
		{[]string{"get", "menu.json"}, "wechat-menu: get takes no arguments: caddy wechat-menu get > menu.json\n"},
		{[]string{"get", "--no-such-flag"}, "wechat-menu: unknown flag: --no-such-flag\n"},
		{[]string{"get", "--timeout", "0s", "--app-id", "wx1", "--app-secret", "s"}, "wechat-menu: --timeout must be a positive duration such as 10s\n"},
	} {
		r := menuRunT(t, nil, nil, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("wechat-menu %q: want exit 2 and stderr containing %q, got %v", tt.args, tt.want, r)
		}
	}
}

func TestMenuUnifiedDiff(t *testing.T) {
	a := strings.Split("a b c d e f g h i j k l m", " ")
	b := strings.Split("a b C d e f g h i j k l m n", " ")
	var out bytes.Buffer
	if !menuUnifiedDiff(&out, "old", "new", a, b) {
		t.Fatal("menuUnifiedDiff reported no changes")
	}
	want := "--- old\n+++ new\n" +
		"@@ -1,6 +1,6 @@\n a\n b\n-c\n+C\n d\n e\n f\n" +
		"@@ -11,3 +11,4 @@\n k\n l\n m\n+n\n"
	if out.String() != want {
		t.Errorf("diff:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	if menuUnifiedDiff(&out, "old", "new", a, a) || out.Len() != 0 {
		t.Errorf("equal inputs: reported changes %q", out.String())
	}
}

// menuChangedLines counts the - and + lines of a unified diff, headers aside.
func menuChangedLines(diff string) int {
	n := 0
	for _, l := range strings.Split(diff, "\n") {
		if (strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+")) &&
			!strings.HasPrefix(l, "--- ") && !strings.HasPrefix(l, "+++ ") {
			n++
		}
	}
	return n
}
