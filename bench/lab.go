package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// A lab is every process the load benchmark runs, all on 127.0.0.1 on ports
// the kernel picked: the WeChat simulator, the upstream (respond "ok" 200),
// one Caddy per distinct Caddyfile and store of the targets, and a
// redis-server when a target uses the store.
type lab struct {
	dir      string           // logs and Redis' working directory, removed by stop
	procs    []*proc          // in start order
	servers  map[string]*proc // by serverKey
	upstream *proc
	redis    *proc
}

// A proc is one process of the lab.
type proc struct {
	name  string
	addr  string // 127.0.0.1:port
	admin string // a Caddy's admin endpoint (127.0.0.1:port) for /debug/vars and /debug/pprof; "" for none
	cmd   *exec.Cmd
	log   string
	done  chan struct{} // closed when the process has exited
}

func serverKey(t target) string { return t.caddyfile + "+" + t.store }

func serverName(t target) string {
	name := strings.TrimSuffix(t.caddyfile, ".Caddyfile")
	if t.store != "" {
		name += "+" + t.store
	}
	return name
}

func startLab(ctx context.Context, cfg config, targets []target) (*lab, error) {
	dir, err := os.MkdirTemp("", "wechat-bench-")
	if err != nil {
		return nil, err
	}
	l := &lab{dir: dir, servers: map[string]*proc{}}
	hashKey, blockKey := randomKey(), randomKey()
	ports, err := freePorts(4 + 2*len(targets))
	if err != nil {
		return l, err
	}
	port := func() string { p := ports[0]; ports = ports[1:]; return p }
	mockPort, upstreamPort, redisPort, upstreamAdmin := port(), port(), port(), "127.0.0.1:"+port()

	logf("starting the simulator, the upstream and one Caddy per server on 127.0.0.1")
	l.start(cfg.serverCPUs, "simulator", mockPort, nil, cfg.caddy, "wechat-mock", "--listen", "127.0.0.1:"+mockPort)
	l.upstream = l.start(cfg.serverCPUs, "upstream", upstreamPort, []string{"BENCH_PORT=" + upstreamPort, "BENCH_ADMIN=" + upstreamAdmin},
		cfg.caddy, "run", "--config", "bench/upstream.Caddyfile", "--adapter", "caddyfile")
	l.upstream.admin = upstreamAdmin
	l.servers[serverKey(respond)] = l.upstream
	for _, t := range targets {
		key := serverKey(t)
		if l.servers[key] != nil {
			continue
		}
		var global string
		if t.store == "redis" {
			if l.redis == nil {
				l.redis = l.start(cfg.serverCPUs, "redis", redisPort, nil, "redis-server", "--bind", "127.0.0.1",
					"--port", redisPort, "--save", "", "--appendonly", "no", "--dir", dir)
			}
			global = "wechat {\n\t\tstore redis://127.0.0.1:" + redisPort + "/0\n\t}"
		}
		p, admin := port(), "127.0.0.1:"+port()
		l.servers[key] = l.start(cfg.serverCPUs, serverName(t), p, []string{
			"BENCH_PORT=" + p, "BENCH_ADMIN=" + admin, "BENCH_UPSTREAM_PORT=" + upstreamPort, "BENCH_MOCK_PORT=" + mockPort,
			"BENCH_GLOBAL_OPTIONS=" + global, "BENCH_APP_SECRET=0123456789abcdef0123456789abcdef",
			"BENCH_HASH_KEY=" + hashKey, "BENCH_BLOCK_KEY=" + blockKey,
		}, cfg.caddy, "run", "--config", "bench/"+t.caddyfile, "--adapter", "caddyfile")
		l.servers[key].admin = admin
	}
	for _, p := range l.procs {
		if err := p.waitReady(ctx); err != nil {
			return l, l.failed(ctx, err)
		}
	}
	return l, nil
}

// start runs a command in the background, pinned to cpus, with its output in
// the lab's directory. A failure to start shows up in waitReady.
func (l *lab) start(cpus, name, port string, env []string, command string, args ...string) *proc {
	argv := pinned(cpus, command, args...)
	p := &proc{name: name, addr: "127.0.0.1:" + port, log: filepath.Join(l.dir, name+".log"), done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	// The kernel ends it if this program dies without stopping it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if f, err := os.Create(p.log); err == nil {
		p.cmd.Stdout, p.cmd.Stderr = f, f
	}
	if err := p.cmd.Start(); err != nil {
		fmt.Fprintf(p.cmd.Stderr, "cannot start %s: %v\n", argv[0], err)
		close(p.done)
		return p
	}
	l.procs = append(l.procs, p)
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	return p
}

// waitReady waits up to 15 s for the process to accept connections: Caddy
// and Redis listen once they are ready to serve.
func (p *proc) waitReady(ctx context.Context) error {
	for i := 0; i < 150; i++ {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited at start (its log is below)", p.name)
		default:
		}
		if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s did not listen on %s within 15 s", p.name, p.addr)
}

// stop ends every process (SIGTERM, then SIGKILL after 5 s) and removes the
// lab's directory. It may be called more than once.
func (l *lab) stop() {
	for _, p := range l.procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range l.procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	l.procs = nil
	os.RemoveAll(l.dir)
}

// failed prints the last lines of every log, for a run that stops on err
// (but not when it was interrupted).
func (l *lab) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted")
	}
	for _, p := range l.procs {
		if b, _ := os.ReadFile(p.log); len(b) > 0 {
			fmt.Fprintf(os.Stderr, "---- last lines of %s's log\n%s\n", p.name, tail(string(b), 15))
		}
	}
	return err
}

func (l *lab) url(t target) string { return "http://" + l.servers[serverKey(t)].addr + t.path }

// freePorts has the kernel pick n distinct free ports on 127.0.0.1.
func freePorts(n int) ([]string, error) {
	var ports []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close() // held until all are picked, so none repeats
		ports = append(ports, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

var noRedirects = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
