package wechatauth_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// TestSoakMemoryLevelsOff runs only by hand (WECHAT_SOAK=10m go test -run
// TestSoakMemoryLevelsOff ./caddymodule): a gateway on a real redis-server
// under steady logins, requests and logouts (each logout a revocation),
// printing the process's RSS and heap every 30 s, to show where memory
// levels off. docs/operations.md records a run.
func TestSoakMemoryLevelsOff(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("WECHAT_SOAK"))
	if err != nil {
		t.Skip("set WECHAT_SOAK=10m to run the soak")
	}
	srv := redistest.Start(t)
	t.Setenv("TEST_WECHAT_STORE", srv.URL())
	g := startGateway(t, gatewayConfig{global: "wechat {\n\t\tstore {env.TEST_WECHAT_STORE}\n\t}", settings: "session_ttl 2m"})
	start := time.Now()
	next := start
	logins := 0
	for i := 0; time.Since(start) < d; i++ {
		b := newBrowser([]string{"alice", "bob"}[i%2]) // each login is a new session, each logout a new revocation
		g.login(t, b, "/x")
		for range 5 {
			b.get(t, g.URL+"/x")
		}
		b.StopAt = "127.0.0.1"
		b.get(t, g.URL+"/wechat_auth/logout")
		logins++
		if time.Now().After(next) {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Printf("soak t=%4.0fs logins=%6d rss=%s heap_inuse=%.1fMiB redis=%s\n", time.Since(start).Seconds(), logins,
				rss(), float64(m.HeapInuse)/(1<<20), redisMemory(srv))
			next = next.Add(30 * time.Second)
		}
	}
}

func rss() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func redisMemory(srv *redistest.Server) string {
	info, _ := srv.Do("INFO", "memory")
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(l, "used_memory_human:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
