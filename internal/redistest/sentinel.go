package redistest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
)

// StartReplica runs a second redis-server that replicates master, and
// waits until it has synchronized.
func StartReplica(t testing.TB, master *Server) *Server {
	t.Helper()
	r := Start(t)
	host, port, _ := net.SplitHostPort(master.Addr)
	if _, err := r.Do("REPLICAOF", host, port); err != nil {
		t.Fatalf("redistest: REPLICAOF: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if info, _ := r.Do("INFO", "replication"); strings.Contains(info, "master_link_status:up") {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("redistest: the replica of %s did not synchronize within 10s", master.Addr)
	return nil
}

// Sentinel is one redis-sentinel process watching a master.
type Sentinel struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	cmd  *exec.Cmd
	out  *bytes.Buffer
}

// SentinelBinary returns the path of redis-sentinel (the Debian package
// redis-sentinel), skipping the test (failing it under CI=true) when it is
// not installed.
func SentinelBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("redis-sentinel"); err == nil {
		return p
	}
	const msg = "redis-sentinel not found: install the Debian package redis-sentinel (scripts/install-test-deps.sh does)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// StartSentinel runs a Sentinel (quorum 1) monitoring master under name,
// on a free loopback port, and waits until it knows want replicas.
func StartSentinel(t testing.TB, name string, master *Server, want int) *Sentinel {
	t.Helper()
	bin := SentinelBinary(t)
	port := testnet.Port(t)
	host, mport, _ := net.SplitHostPort(master.Addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	cfg := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 10000\n",
		port, dir, name, host, mport, name, name)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Sentinel{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: new(bytes.Buffer)}
	s.cmd = exec.Command(bin, conf)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("redistest: starting redis-sentinel: %v", err)
	}
	go func() { _ = s.cmd.Wait() }()
	t.Cleanup(func() { _ = s.cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if out, err := s.Do("SENTINEL", "REPLICAS", name); err == nil && strings.Count(out, "\nslave\n") >= want && !strings.Contains(out, "s_down") {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("redistest: the sentinel did not see %d replica(s) of %s within 20s:\n%s", want, name, s.out.String())
	return nil
}

// Do sends one command to the Sentinel.
func (s *Sentinel) Do(args ...string) (string, error) {
	return do(s.Addr, args...)
}

// Master returns the address Sentinel gives for name now.
func (s *Sentinel) Master(name string) string {
	out, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
	if err != nil {
		return ""
	}
	f := strings.Split(out, "\n")
	if len(f) != 2 {
		return ""
	}
	return net.JoinHostPort(f[0], f[1])
}
