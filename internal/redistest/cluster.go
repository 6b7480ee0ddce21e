package redistest

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
)

// Cluster is a Redis Cluster of masters without replicas, each a Server
// (stop one to lose its shard; Restart brings it back empty, with its
// slots, from the nodes.conf kept in its directory).
type Cluster struct {
	Masters []*Server
}

// StartCluster runs n masters (n >= 3) as one cluster, node timeout 1 s,
// serving the slots that remain when a shard is lost
// (cluster-require-full-coverage no), and waits until it is ok. Each
// master's cluster bus gets a reserved port of its own (cluster-port)
// rather than Redis's default of its port + 10000, which nothing reserves
// and which is past 65535 for a kernel-picked port above 55535.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{}
	addrs := make([]string, 0, n)
	for range n {
		s := StartWith(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no",
			"--cluster-port", strconv.Itoa(testnet.Port(t)))
		c.Masters = append(c.Masters, s)
		addrs = append(addrs, s.Addr)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatal("redistest: redis-cli not found: it comes with the Debian package redis-tools, which redis-server depends on")
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitOK(t)
	return c
}

func (c *Cluster) waitOK(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, m := range c.Masters {
			if info, err := m.Do("CLUSTER", "INFO"); err != nil || !strings.Contains(info, "cluster_state:ok") {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("redistest: the cluster did not reach cluster_state:ok within 20s")
}

// URL is the cluster's store URL: the first node, the others as addr=.
func (c *Cluster) URL() string {
	u := "redis://" + c.Masters[0].Addr + "/0?"
	for i, m := range c.Masters[1:] {
		if i > 0 {
			u += "&"
		}
		u += "addr=" + m.Addr
	}
	return u
}

// Owner returns the master that serves key.
func (c *Cluster) Owner(t testing.TB, key string) *Server {
	t.Helper()
	slot, err := c.Masters[0].Do("CLUSTER", "KEYSLOT", key)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Masters {
		if nodes, err := m.Do("CLUSTER", "NODES"); err == nil {
			for _, line := range strings.Split(nodes, "\n") {
				if strings.Contains(line, "myself") && ownsSlot(line, slot) {
					return m
				}
			}
		}
	}
	t.Fatalf("redistest: no master owns the slot of %q", key)
	return nil
}

// ownsSlot reports whether a CLUSTER NODES line lists slot in its ranges.
func ownsSlot(line, slot string) bool {
	f := strings.Fields(line)
	for _, r := range f[min(8, len(f)):] {
		lo, hi, found := strings.Cut(r, "-")
		if !found {
			hi = lo
		}
		if atoi(lo) <= atoi(slot) && atoi(slot) <= atoi(hi) {
			return true
		}
	}
	return false
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}
