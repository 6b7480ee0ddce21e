//go:build linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// wechatUA is the iOS WeChat in-app browser; wechat_auth treats it as the client.
const wechatUA = wechattest.IPhoneUA

var (
	repoRoot   string // absolute path of the repository
	caddyBin   string // the custom build, made once in TestMain
	caddyBuild error  // why it could not be built
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "e2e-caddy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	caddyBin = filepath.Join(dir, "caddy")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", caddyBin, "./cmd/caddy")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		caddyBuild = fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	return m.Run()
}

// needCaddy returns the path of the custom Caddy binary, failing the test when
// it could not be built.
func needCaddy(t *testing.T) string {
	t.Helper()
	if caddyBuild != nil {
		t.Fatal(caddyBuild)
	}
	return caddyBin
}

// needTool finds an executable by name (PATH, then the given absolute globs).
// Missing: skip naming the Debian package, or fail when CI=true.
func needTool(t *testing.T, debianPkg string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if strings.ContainsAny(n, "*?[") {
			if m, _ := filepath.Glob(n); len(m) > 0 {
				return m[len(m)-1]
			}
			continue
		}
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found: install the Debian package %s (scripts/install-test-deps.sh does)", names[0], debianPkg)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// shortTempDir is a temp dir with a short path: unix socket paths are limited
// to 108 bytes, which a long test name in t.TempDir can exceed.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// syncBuffer collects a process's output for the failure log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 { // enough to debug; never grow without bound
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a child started by startProcess: its own process group, killed
// with it when the test ends, its output logged when the test failed.
type process struct {
	name   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error // valid after exited is closed
}

// startProcess starts bin with args and env (added to a minimal environment).
// Extra files to print on failure (logs the program writes itself) may follow.
func startProcess(t *testing.T, name string, env []string, bin string, args []string, logFiles ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", name, out.String())
			for _, f := range logFiles {
				b, err := os.ReadFile(f)
				if err == nil {
					t.Logf("---- %s %s ----\n%s", name, filepath.Base(f), b)
				}
			}
		}
	})
	return p
}

// stop ends the whole process group: SIGTERM, then SIGKILL after 5s.
func (p *process) stop() {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // stragglers (workers) of the group
}

// waitReady polls check until it succeeds, the process exits, or 20s pass.
func (p *process) waitReady(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before %s: %v\n%s", p.name, what, p.err, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s: %s not ready after 20s: %v\n%s", p.name, what, err, p.out.String())
}

// httpUp is a readiness check: any HTTP answer at all from url.
func httpUp(url string) func() error {
	c := &http.Client{
		Timeout:       time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
}

// socketUp is a readiness check: something accepts on the unix socket.
func socketUp(path string) func() error {
	return func() error {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// caddyEnv is the environment every Caddy process gets: its own home, so it
// never reads or writes the developer's ~/.config/caddy or ~/.local/share/caddy.
func caddyEnv(t *testing.T, extra ...string) []string {
	home := t.TempDir()
	return append([]string{
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_DATA_HOME=" + filepath.Join(home, "data"),
	}, extra...)
}

// runCaddy runs the built binary once, `caddy args...`, with caddyEnv, PATH
// and env, and returns its exit status and output.
func runCaddy(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(needCaddy(t), args...)
	cmd.Env = caddyEnv(t, append([]string{"PATH=" + os.Getenv("PATH")}, env...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	}
	t.Fatalf("running caddy %s: %v\n%s", strings.Join(args, " "), err, out.String())
	return 0, ""
}

// caddyCheck runs `caddy adapt` or `caddy validate` (sub) on a Caddyfile,
// failing the test unless it succeeds, and returns the output.
func caddyCheck(t *testing.T, env []string, sub, caddyfile string) string {
	t.Helper()
	code, out := runCaddy(t, env, sub, "--config", caddyfile, "--adapter", "caddyfile")
	if code != 0 {
		t.Fatalf("caddy %s: exit %d\n%s", sub, code, out)
	}
	return out
}

// startCaddy runs `caddy run` with a Caddyfile and waits until readyURL answers.
func startCaddy(t *testing.T, name, caddyfile string, env []string, readyURL string) *process {
	t.Helper()
	bin := needCaddy(t)
	p := startProcess(t, name, caddyEnv(t, env...), bin,
		[]string{"run", "--config", caddyfile, "--adapter", "caddyfile"})
	p.waitReady(t, "listening", httpUp(readyURL))
	return p
}

// writeFile writes content into dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
