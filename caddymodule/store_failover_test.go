package wechatauth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// TestSentinelGracefulFailoverKeepsRevocationsFlowing: a graceful
// SENTINEL FAILOVER moves the master. Replicas follow it with their
// subscription too (not only their commands), so revocations made during
// and after the promotion reach every replica and the new master.
func TestSentinelGracefulFailoverKeepsRevocationsFlowing(t *testing.T) {
	master := redistest.Start(t)
	replica := redistest.StartReplica(t, master)
	sentinel := redistest.StartSentinel(t, "mymaster", master, 1)
	url := "redis://" + sentinel.Addr + "/0?master_name=mymaster&read_timeout=300ms&write_timeout=300ms&dial_timeout=500ms"
	a, setA, logsA := replicaStore(t, url, true)
	b, setB, _ := replicaStore(t, url, true)
	until := time.Now().Add(time.Hour).Unix()

	// Sentinel may not rate the replica a good one for a moment after it
	// learned of it (NOGOODSLAVE): ask until it accepts.
	waitFor(t, 15*time.Second, "SENTINEL FAILOVER accepted", func() bool {
		_, err := sentinel.Do("SENTINEL", "FAILOVER", "mymaster")
		return err == nil
	})
	// Logouts on both replicas every 100 ms through the promotion and the
	// 3 s after it.
	var made []Revocation
	deadline := time.Now().Add(4 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		ra := Revocation{AppID: "wxapp", SessionID: fmt.Sprintf("a%d", i), Until: until}
		rb := Revocation{AppID: "wxapp", SessionID: fmt.Sprintf("b%d", i), Until: until}
		_ = a.Revoke(context.Background(), ra)
		_ = b.Revoke(context.Background(), rb)
		made = append(made, ra, rb)
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, 10*time.Second, "the sentinel names the replica as master", func() bool { return sentinel.Master("mymaster") == replica.Addr })
	for _, r := range made {
		waitFor(t, 5*time.Second, r.SessionID+" reaches both replicas and the new master", func() bool {
			v, err := replica.Do("ZSCORE", "test:revocations", r.encode())
			return err == nil && v != "" && setA.revoked(r.AppID, r.SessionID, "o", 0) && setB.revoked(r.AppID, r.SessionID, "o", 0)
		})
	}
	// Events flow on the new master: one revocation, seen by the other
	// replica within a second (the subscription followed the master).
	after := Revocation{AppID: "wxapp", SessionID: "after-failover", Until: until}
	_ = a.Revoke(context.Background(), after)
	waitFor(t, time.Second, "an event after the failover reaches the other replica", func() bool {
		return setB.revoked(after.AppID, after.SessionID, "o", 0)
	})
	if logsA.FilterMessageSnippet("different Redis server").Len() == 0 {
		t.Fatal("no log line says the store's server changed")
	}
}
