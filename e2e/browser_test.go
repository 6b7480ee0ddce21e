//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
)

// The browser test runs `caddy wechat-demo` from the built binary and walks it
// in headless Chromium with WeChat's User-Agent, clicking what a person clicks:
// no simulator test header is sent, so the picker and the consent page are
// real pages in the way. Screenshots of every step land in $ARTIFACTS_DIR (or
// e2e/artifacts/) when the test fails.

// browserBudget bounds the whole test, Chromium included.
const browserBudget = 55 * time.Second

func TestBrowserWalksDemoPickerSilentSignInConsentButtonBindAndLogoutInChromium(t *testing.T) {
	chromium, deadline := needChromium(t)
	demo, site, mock := startDemo(t)
	c := newChromium(t, chromium, deadline)

	c.step("01-picker", chromedp.Navigate(site+"/"),
		chromedp.WaitVisible(chromedp.CSS(`button[name="user"][value="bob"]`)),
		c.locationHasPrefix(mock+"/mock/users"))
	// The site signs in silently (snsapi_base): no consent page on arrival,
	// only the openid, and a button to share the profile.
	c.step("02-signed-in-silently", chromedp.Click(chromedp.CSS(`button[name="user"][value="bob"]`)),
		chromedp.WaitVisible(chromedp.CSS("#profile")),
		c.locationIs(site+"/"),
		c.textIs("#nickname", ""))
	// Compliant consent: WeChat's consent page appears because bob pressed 完善资料.
	c.step("03-consent", chromedp.Click(chromedp.CSS("#profile")),
		chromedp.WaitVisible(chromedp.CSS(`button[name="action"][value="allow"]`)),
		c.locationHasPrefix(mock+"/connect/oauth2/authorize?"),
		c.bodyContains("李四 🐟"))
	c.step("03b-signed-in-with-profile", chromedp.Click(chromedp.CSS(`button[name="action"][value="allow"]`)),
		chromedp.WaitVisible(chromedp.CSS("#nickname")),
		c.locationIs(site+"/"),
		c.textIs("#nickname", "李四 🐟"),
		chromedp.WaitNotPresent(chromedp.CSS("#profile")),
		c.avatarLoaded(),
		// The page asked the gateway's JS-SDK helper for a wx.config signature.
		chromedp.WaitVisible(chromedp.CSS("#jssdk.signed")))
	c.step("04-bound", chromedp.SendKeys(chromedp.CSS("#phone-input"), "13800138000"),
		chromedp.Click(chromedp.CSS("#bind")),
		chromedp.WaitVisible(chromedp.CSS("#bound")),
		c.textIs("#phone", "13800138000"))

	// Control: with a session, opening the page does not go to WeChat.
	c.documents.reset()
	c.step("05-reopened", chromedp.Navigate(site+"/"), chromedp.WaitVisible(chromedp.CSS("#nickname")))
	if c.documents.any(mock + "/connect/oauth2/authorize?") {
		t.Fatalf("with a session, opening the page went to WeChat: %v", c.documents.list())
	}

	c.step("06-logged-out", chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#bye")),
		c.locationIs(site+"/logged-out"))
	// Without the session the page is protected again: the browser is sent to
	// WeChat. The simulator, like WeChat, remembers bob, so silent
	// authorization answers at once and the callback makes a new session.
	c.documents.reset()
	c.step("07-protected-again", chromedp.Navigate(site+"/"),
		chromedp.WaitVisible(chromedp.CSS("#phone")),
		c.textIs("#phone", "13800138000"))
	if !c.documents.any(mock+"/connect/oauth2/authorize?") || !c.documents.any(site+"/wechat_auth/callback?") {
		t.Fatalf("after logout, opening the page did not go through WeChat's authorize page and the callback: %v", c.documents.list())
	}

	// Logging out and leaving the simulator's user too ("switch user"): the page
	// now stops on WeChat's side, at the picker.
	c.step("08-switch-user", chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#switch")),
		chromedp.Click(chromedp.CSS("#switch")),
		chromedp.WaitVisible(chromedp.CSS(`form:has(input[name="user"][value=""]) button`)),
		clickAndLoad(`form:has(input[name="user"][value=""]) button`))
	c.step("09-lands-on-wechat", chromedp.Navigate(site+"/"),
		chromedp.WaitVisible(chromedp.CSS(`button[name="user"][value="bob"]`)),
		c.locationHasPrefix(mock+"/mock/users"),
		chromedp.WaitNotPresent(chromedp.CSS("#nickname")))

	// Ctrl-C (SIGTERM here) stops the demo cleanly, with exit status 0.
	_ = syscall.Kill(demo.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-demo.exited:
		if demo.err != nil || !strings.Contains(demo.out.String(), "wechat-demo stopped") {
			t.Errorf("wechat-demo after SIGTERM: %v\n%s", demo.err, demo.out.String())
		}
	case <-time.After(5 * time.Second):
		t.Error("wechat-demo did not stop within 5s of SIGTERM")
	}
}

// needChromium finds Chromium and the deadline of a browser test.
func needChromium(t *testing.T) (path string, deadline time.Time) {
	t.Helper()
	path = needTool(t, "chromium", "chromium", "chromium-browser")
	deadline = time.Now().Add(browserBudget)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d.Add(-2 * time.Second)
	}
	return path, deadline
}

// startDemo runs `caddy wechat-demo` from the built binary on free ports.
func startDemo(t *testing.T) (demo *process, site, mock string) {
	t.Helper()
	bin := needCaddy(t)
	site = fmt.Sprintf("http://127.0.0.1:%d", testnet.Port(t))
	mock = fmt.Sprintf("http://127.0.0.1:%d", testnet.Port(t))
	demo = startProcess(t, "wechat-demo", caddyEnv(t), bin, []string{"wechat-demo",
		"--listen", strings.TrimPrefix(site, "http://"), "--mock-listen", strings.TrimPrefix(mock, "http://")})
	demo.waitReady(t, "the gateway", httpUp(site+"/"))
	return demo, site, mock
}

// chromium is one headless Chromium tab, with the screenshots taken so far.
type chromium struct {
	t         *testing.T
	ctx       context.Context // the tab; ends at the test's budget
	documents *documentLog
	mu        sync.Mutex
	shots     []screenshot
}

type screenshot struct {
	name string
	png  []byte
}

// newChromium starts headless Chromium as WeChat on an iPhone, with a fresh
// profile, and arranges for it to stop and for the screenshots to be saved if
// the test fails.
func newChromium(t *testing.T, path string, deadline time.Time) *chromium {
	t.Helper()
	output := &syncBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true), // 127.0.0.1 only, whatever the environment says
		chromedp.UserDataDir(t.TempDir()),
		chromedp.UserAgent(wechatUA),
		chromedp.WindowSize(390, 844),
		chromedp.CombinedOutput(output),
	}
	budget, cancelBudget := context.WithDeadline(context.Background(), deadline)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(budget, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		fmt.Fprintf(output, "chromedp: "+format+"\n", args...)
	}))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for Chromium to exit, before t.TempDir is removed
		cancelBudget()
		if t.Failed() {
			t.Logf("---- chromium output (D-Bus noise left out) ----\n%s", withoutDBus(output.String()))
		}
	})
	c := &chromium{t: t, ctx: ctx, documents: &documentLog{}}
	t.Cleanup(c.saveShotsIfFailed)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to the budget
		t.Fatalf("starting %s: %v\n%s", path, err, output.String())
	}
	if err := chromedp.Listen(ctx, c.documents.record); err != nil {
		t.Fatal(err)
	}
	return c
}

// withoutDBus drops the lines a container without D-Bus makes Chromium print.
func withoutDBus(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, ":ERROR:dbus/") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// step runs actions (at most 10s), takes a screenshot whatever happened, and
// fails the test with where the browser is when an action failed.
func (c *chromium) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, actions...)
	c.shoot(name)
	if err != nil {
		c.t.Fatalf("step %s: %v\n%s", name, err, c.where())
	}
}

func (c *chromium) shoot(name string) {
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		c.t.Logf("screenshot %s: %v", name, err)
		return
	}
	c.mu.Lock()
	c.shots = append(c.shots, screenshot{name, png})
	c.mu.Unlock()
}

// where describes the page the browser is on, for failure messages.
func (c *chromium) where() string {
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if len(text) > 2000 {
		text = text[:2000] + "…"
	}
	return fmt.Sprintf("at %s\ndocuments: %v\n%s", loc, c.documents.list(), text)
}

// saveShotsIfFailed writes the screenshots where CI collects artifacts:
// $ARTIFACTS_DIR, else e2e/artifacts/ (git-ignored). t.TempDir would be gone.
func (c *chromium) saveShotsIfFailed() {
	if !c.t.Failed() {
		return
	}
	base := os.Getenv("ARTIFACTS_DIR")
	if base == "" {
		base = filepath.Join(repoRoot, "e2e", "artifacts")
	}
	dir := filepath.Join(base, c.t.Name()+"-"+time.Now().Format("20060102-150405"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Logf("screenshots not saved: %v", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.shots {
		p := filepath.Join(dir, s.name+".png")
		if err := os.WriteFile(p, s.png, 0o644); err != nil {
			c.t.Logf("screenshot %s: %v", p, err)
			continue
		}
		c.t.Logf("screenshot: %s", p)
	}
}

// locationIs checks the tab's URL; with fragment, the URL may also end in
// that fragment (see the desktop test for the one case that needs it).
func (c *chromium) locationIs(want string, fragment ...string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		for _, f := range fragment {
			if loc == want+"#"+f {
				loc = want
			}
		}
		if err == nil && loc != want {
			err = fmt.Errorf("location %s, want %s", loc, want)
		}
		return err
	})
}

func (c *chromium) locationHasPrefix(want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err == nil && !strings.HasPrefix(loc, want) {
			err = fmt.Errorf("location %s, want %s…", loc, want)
		}
		return err
	})
}

func (c *chromium) textIs(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err == nil && strings.TrimSpace(got) != want {
			err = fmt.Errorf("%s shows %q, want %q", sel, got, want)
		}
		return err
	})
}

func (c *chromium) bodyContains(want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err == nil && !strings.Contains(got, want) {
			err = fmt.Errorf("the page does not show %q:\n%s", want, got)
		}
		return err
	})
}

// clickAndLoad clicks and waits for the page the click loads, for a click
// whose new page looks like the old one.
func clickAndLoad(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel))))
		return err
	})
}

// avatarLoaded waits until the avatar (served by the simulator, as WeChat's
// thirdwx.qlogo.cn would be) has decoded in the page.
func (c *chromium) avatarLoaded() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for {
			w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(function(){const i=document.querySelector(".who img");return i&&i.complete?i.naturalWidth:0})()`))
			if err != nil {
				return fmt.Errorf("avatar: %w", err)
			}
			if w > 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the avatar did not load: %w", ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// documentLog records the URLs of the tab's document requests, redirects
// included, so a test can tell whether a navigation went through WeChat.
type documentLog struct {
	mu   sync.Mutex
	urls []string
}

// record is a chromedp listener: it must return fast and call nothing.
func (d *documentLog) record(ev any) {
	if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Type == network.ResourceTypeDocument && e.Request != nil {
		d.mu.Lock()
		d.urls = append(d.urls, e.Request.URL)
		d.mu.Unlock()
	}
}

func (d *documentLog) reset() {
	d.mu.Lock()
	d.urls = nil
	d.mu.Unlock()
}

func (d *documentLog) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.urls...)
}

func (d *documentLog) any(prefix string) bool {
	for _, u := range d.list() {
		if strings.HasPrefix(u, prefix) {
			return true
		}
	}
	return false
}
