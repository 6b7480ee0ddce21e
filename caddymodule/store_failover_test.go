package wechatauth

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// TestSentinelGracefulFailoverKeepsRevocationsFlowing: a graceful
// SENTINEL FAILOVER moves the master. Replicas follow it with their
// subscription too (not only their commands), so revocations made during
// and after the promotion reach every replica and the new master. Then the
// new master crashes (kill -9) and the old one is promoted back: nothing
// made around the crash is lost either.
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

	// The new master crashes (kill -9); Sentinel promotes the old one,
	// now its replica. Logouts made just before the crash (which the
	// replica may not have received) and during the promotion all arrive.
	waitFor(t, 30*time.Second, "the old master replicates the new one", func() bool {
		info, _ := master.Do("INFO", "replication")
		return strings.Contains(info, "master_link_status:up")
	})
	made = made[:0]
	deadline = time.Now().Add(6 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if i == 5 {
			replica.Stop()
		}
		ra := Revocation{AppID: "wxapp", SessionID: fmt.Sprintf("crash-a%d", i), Until: until}
		rb := Revocation{AppID: "wxapp", SessionID: fmt.Sprintf("crash-b%d", i), Until: until}
		_ = a.Revoke(context.Background(), ra)
		_ = b.Revoke(context.Background(), rb)
		made = append(made, ra, rb)
		time.Sleep(100 * time.Millisecond)
	}
	// Down after 1 s, but a promotion attempt that stalls is retried only
	// after failover-timeout (10 s): on a loaded machine (load 8 on two
	// cores) the first one did, so the wait allows a second attempt.
	waitFor(t, 30*time.Second, "the sentinel promotes the old master", func() bool { return sentinel.Master("mymaster") == master.Addr })
	for _, r := range made {
		waitFor(t, 10*time.Second, r.SessionID+" reaches both replicas and the promoted master", func() bool {
			v, err := master.Do("ZSCORE", "test:revocations", r.encode())
			return err == nil && v != "" && setA.revoked(r.AppID, r.SessionID, "o", 0) && setB.revoked(r.AppID, r.SessionID, "o", 0)
		})
	}
}

// TestClusterShardLoss: on a three-master Cluster without replicas, losing
// a shard that does not hold the revocations leaves the store up (no
// flapping, claims carry on from memory) and `wechat-session revoke`
// working even when the session_ttl key is on the lost shard; losing the
// revocations' shard queues the revocations made meanwhile, and when it
// comes back empty they and every older one are written back.
func TestClusterShardLoss(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	url := cluster.URL() + "&read_timeout=200ms&write_timeout=200ms&dial_timeout=300ms"
	a, _, logsA := replicaStore(t, url, true)
	_, setB, _ := replicaStore(t, url, true)
	until := time.Now().Add(time.Hour).Unix()
	ctx := context.Background()
	inCluster := func(r Revocation) bool {
		v, err := cluster.Owner(t, "test:revocations").Do("ZSCORE", "test:revocations", r.encode())
		return err == nil && v != ""
	}
	before := Revocation{AppID: "wxapp", SessionID: "before-loss", Until: until}
	_ = a.Revoke(ctx, before)
	waitFor(t, 3*time.Second, "written and received", func() bool { return inCluster(before) && setB.revoked("wxapp", "before-loss", "o", 0) })

	// An app whose session_ttl key lives on another shard than the set.
	revShard := cluster.Owner(t, "test:revocations")
	app := ""
	for i := 0; app == ""; i++ {
		cand := fmt.Sprintf("wx0123456789ab%04d", i)
		if cluster.Owner(t, "test:"+sessionTTLKey(cand)) != revShard {
			app = cand
		}
	}
	other := cluster.Owner(t, "test:"+sessionTTLKey(app))
	other.Stop()
	for i := range 40 { // claims everywhere for 2 s: some keys hash to the lost shard
		if _, err := a.Claim(ctx, fmt.Sprintf("claim:%d", i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if !a.up() {
			t.Fatal("the store went down for a shard that holds no revocation")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := logsA.FilterMessageSnippet("unreachable").Len(); n != 0 {
		t.Fatalf("%d outage lines for a shard that holds no revocation", n)
	}
	r, note, err := RevokeOpenID(ctx, url, "test:", app, "oUser_1", time.Hour)
	if err != nil || note == "" {
		t.Fatalf("wechat-session revoke with the session_ttl shard lost: %v, note %q", err, note)
	}
	waitFor(t, 3*time.Second, "the CLI's revocation reaches a replica", func() bool { return setB.revoked(app, "", "oUser_1", r.IssuedBefore) })
	other.Restart()

	// The revocations' shard is lost, and comes back empty.
	revShard.Stop()
	during := Revocation{AppID: "wxapp", SessionID: "during-loss", Until: until}
	_ = a.Revoke(ctx, during)
	waitFor(t, 5*time.Second, "the store is down while the revocations' shard is", func() bool { return !a.up() })
	revShard.Restart()
	waitFor(t, 15*time.Second, "both revocations are in the cluster again and the other replica has the new one", func() bool {
		return inCluster(before) && inCluster(during) && setB.revoked("wxapp", "during-loss", "o", 0)
	})
}
