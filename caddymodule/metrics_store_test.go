package wechatauth

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// storeErrors sums caddy_wechat_store_errors_total{store="redis"} over ops.
func storeErrors(ops ...string) float64 {
	var n float64
	for _, op := range ops {
		n += testutil.ToFloat64(procMetrics.storeErrors.WithLabelValues("redis", op))
	}
	return n
}

var redisOps = []string{"revoke", "claim", "get", "set", "delete", "incr", "raise", "subscribe", "receive", "ping", "publish", "load"}

// A real redis-server: a revocation published by one replica arrives at
// both over pub/sub, and an outage shows as store errors.
func TestStoreMetricsCountReceivedRevocationsAndFailedOperations(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	sinkA, sinkB := &sinkRecorder{}, &sinkRecorder{}
	a, _ := startRedisStore(t, srv.URL(), sinkA)
	startRedisStore(t, srv.URL(), sinkB)

	received := procMetrics.revoked[revocationReceived]
	before, errsBefore := testutil.ToFloat64(received), storeErrors(redisOps...)
	r := Revocation{AppID: "wxapp", SessionID: "s1", Until: time.Now().Add(time.Hour).Unix()}
	if err := a.Revoke(ctx, r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "both replicas receive the revocation", func() bool { return testutil.ToFloat64(received) == before+2 })
	if !sinkB.has(r) {
		t.Fatal("replica B did not apply the revocation it received")
	}
	if got := storeErrors(redisOps...); got != errsBefore {
		t.Fatalf("store errors moved by %v with Redis up, want 0", got-errsBefore)
	}

	srv.Stop()
	for i := range 3 {
		_, _ = a.Claim(ctx, "claim:"+string(rune('a'+i)), []byte("v"), time.Minute)
	}
	waitFor(t, 5*time.Second, "the outage is counted as store errors", func() bool { return storeErrors(redisOps...) > errsBefore })
}
