//go:build linux

package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestSoakGatewayMemoryLevelsOff runs only by hand:
//
//	WECHAT_SOAK=10m go test -run TestSoakGatewayMemoryLevelsOff -v -timeout 30m ./e2e
//
// One gateway process (session_ttl 2m) on a real redis-server under steady
// logins, requests and logouts (each logout a revocation); every 30 s it
// prints the gateway's RSS and the revocations Redis holds, to show where
// memory levels off once revocations start expiring. docs/operations.md
// records a run.
func TestSoakGatewayMemoryLevelsOff(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("WECHAT_SOAK"))
	if err != nil {
		t.Skip("set WECHAT_SOAK=10m to run the soak")
	}
	srv := redistest.Start(t)
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	r := startReplicasOf(t, strings.Replace(replicaCaddyfile,
		"\t\topen_base {env.WECHAT_OPEN_BASE}\n", "\t\topen_base {env.WECHAT_OPEN_BASE}\n\t\tsession_ttl 2m\n", 1),
		1, sim, srv.URL())[0]
	p, u := r.p, r.url
	pid := p.cmd.Process.Pid
	start := time.Now()
	next := start
	logins := 0
	for i := 0; time.Since(start) < d; i++ {
		b := wechattest.NewBrowser([]string{"alice", "bob"}[i%2]) // each login a new session, each logout a new revocation
		for range 6 {
			if pg := b.Get(t, u+"/"); pg.Status != 200 {
				t.Fatalf("status %d", pg.Status)
			}
		}
		b.StopAt = "127.0.0.1"
		b.Get(t, u+"/wechat_auth/logout")
		logins++
		if time.Now().After(next) {
			held, _ := srv.Do("ZCARD", "wechat_auth:revocations")
			fmt.Printf("soak t=%4.0fs logins=%6d gateway_rss=%s redis_revocations=%s\n",
				time.Since(start).Seconds(), logins, procRSS(pid), held)
			next = next.Add(30 * time.Second)
		}
	}
}

func procRSS(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
