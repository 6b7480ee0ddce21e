package wechatauth

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// quick is a store URL's query for tests that make Redis stall: a command
// gives up after 100 ms, as a login gives up after 1 s in production.
const quick = "?read_timeout=100ms&write_timeout=100ms&dial_timeout=300ms"

// replicaStore is one replica as the wechat app builds it: a store whose
// sink is a revocation set that also answers what it knows, checked every
// 50 ms. It is connected unless up is false.
func replicaStore(t *testing.T, url string, up bool) (*redisStore, *revocationSet, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	set := newRevocationSet(nil)
	s, err := newRedisStore(url, "test:", set, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	s.known = set.all
	s.onSync = func(context.Context) { set.markLoaded() }
	s.healthEvery = 50 * time.Millisecond
	s.start()
	t.Cleanup(func() { _ = s.Close() })
	if up {
		waitFor(t, 5*time.Second, "store connected", s.up)
	}
	return s, set, logs
}

func inRedis(srv *redistest.Server, r Revocation) bool {
	v, err := srv.Do("ZSCORE", "test:revocations", r.encode())
	return err == nil && v != ""
}

// TestNoRevocationLostWhileRedisStalls reproduces the reconnect race:
// Redis stalls for longer than a command waits, and a replica logs people
// out before, during and just after the stall, while its store goes down
// and comes back. Every one of those logouts must reach Redis and the
// other replica. Two kinds of stall, 10 trials each, 25 logouts a trial:
// DEBUG SLEEP (Redis runs what was sent once it wakes) and a partition
// that cuts the replica's command connections (what was sent is lost).
func TestNoRevocationLostWhileRedisStalls(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr)
	_, setB, _ := replicaStore(t, srv.URL()+quick, true)
	for _, tc := range []struct {
		name  string
		url   string
		stall func() (end func())
	}{
		{"debug sleep", srv.URL() + quick, func() func() {
			done := make(chan struct{})
			go func() { defer close(done); _, _ = srv.Do("DEBUG", "SLEEP", "0.3") }()
			return func() { <-done }
		}},
		{"partition", proxy.URL() + quick, func() func() {
			proxy.StallCommands()
			time.Sleep(300 * time.Millisecond)
			return proxy.ResumeDropping
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _, _ := replicaStore(t, tc.url, true)
			until := time.Now().Add(time.Hour).Unix()
			for trial := range 10 {
				var wg sync.WaitGroup
				var rs []Revocation
				// Logouts every 15 ms from the stall's start to a little
				// after it ends, shifted each trial to land on every phase
				// of the reconnect.
				start := time.Now()
				for i := range 25 {
					r := Revocation{AppID: "wxapp", SessionID: fmt.Sprintf("%s-%d-%d", tc.name[:1], trial, i), Until: until}
					rs = append(rs, r)
					at := time.Duration(i*15+trial*3) * time.Millisecond
					wg.Add(1)
					go func() {
						defer wg.Done()
						time.Sleep(time.Until(start.Add(at)))
						ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
						defer cancel()
						_ = a.Revoke(ctx, r)
					}()
				}
				tc.stall()()
				wg.Wait()
				for _, r := range rs {
					waitFor(t, 5*time.Second, fmt.Sprintf("trial %d: %s reaches Redis and the other replica", trial, r.SessionID), func() bool {
						return inRedis(srv, r) && setB.revoked(r.AppID, r.SessionID, "o", 0)
					})
				}
			}
		})
	}
}

// TestStalledCommandLinkRecoversWhileEventsFlow: a replica's command
// connections stall while its subscription keeps receiving the other
// replicas' revocations (one every 100 ms). It is down only while the link
// is stalled, and the logout it made meanwhile reaches the others once
// the link is back.
func TestStalledCommandLinkRecoversWhileEventsFlow(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr)
	a, _, logsA := replicaStore(t, proxy.URL()+quick, true)
	b, setB, _ := replicaStore(t, srv.URL()+quick, true)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { // the other replicas keep logging people out
		for i := 0; ctx.Err() == nil; i++ {
			_ = b.Revoke(ctx, Revocation{AppID: "wxapp", SessionID: fmt.Sprintf("b%d", i), Until: time.Now().Add(time.Hour).Unix()})
			sleepCtx(ctx, 100*time.Millisecond)
		}
	}()

	proxy.StallCommands()
	mine := Revocation{AppID: "wxapp", SessionID: "during-stall", Until: time.Now().Add(time.Hour).Unix()}
	_ = a.Revoke(context.Background(), mine)
	waitFor(t, 5*time.Second, "the stalled replica notices", func() bool { return !a.up() })
	time.Sleep(time.Second) // events keep arriving on A's live subscription
	if a.up() {
		t.Fatal("the replica says the store is up while its commands get no answer")
	}
	proxy.ResumeCommands()
	waitFor(t, 5*time.Second, "the replica is up again once its link is", a.up)
	waitFor(t, 5*time.Second, "its logout reaches Redis and the other replica", func() bool {
		return inRedis(srv, mine) && setB.revoked(mine.AppID, mine.SessionID, "o", 0)
	})
	if n := logsA.FilterMessageSnippet("reachable again").Len(); n != 1 {
		t.Fatalf("%d recovery lines, want 1", n)
	}
}

// TestRevocationsSurviveRedisLosingItsData: Redis restarts without
// persistence, is flushed, or loses the key (eviction): the replicas write
// back what they hold, and a replica started afterwards refuses what was
// revoked before.
func TestRevocationsSurviveRedisLosingItsData(t *testing.T) {
	srv := redistest.Start(t)
	a, _, logsA := replicaStore(t, srv.URL(), true)
	replicaStore(t, srv.URL(), true)
	until := time.Now().Add(time.Hour).Unix()
	for i, lose := range []func(){
		func() { srv.Stop(); srv.Restart() },
		func() { _, _ = srv.Do("FLUSHALL") },
		func() { _, _ = srv.Do("DEL", "test:revocations") },
	} {
		r := Revocation{AppID: "wxapp", SessionID: fmt.Sprintf("before-loss-%d", i), Until: until}
		if err := a.Revoke(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Second, "written", func() bool { return inRedis(srv, r) })
		lose()
		waitFor(t, 5*time.Second, fmt.Sprintf("loss %d: the replicas write the revocation back", i), func() bool { return inRedis(srv, r) })
		_, setC, _ := replicaStore(t, srv.URL(), true)
		if !setC.revoked(r.AppID, r.SessionID, "o", 0) {
			t.Fatalf("loss %d: a replica started afterwards admits the revoked session", i)
		}
	}
	if logsA.FilterMessageSnippet("had lost its revocations").Len() == 0 {
		t.Fatal("no log line says the store lost its revocations")
	}
}

// TestReplicaStartedWhileRedisIsDown: a replica that could not load the
// revocations trusts no session issued before it started, until the store
// answers; then it loads and trusts what is not revoked.
func TestReplicaStartedWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	old := Revocation{AppID: "wxapp", SessionID: "revoked-earlier", Until: time.Now().Add(time.Hour).Unix()}
	seed, _, _ := replicaStore(t, srv.URL(), true)
	_ = seed.Revoke(context.Background(), old)
	waitFor(t, 2*time.Second, "written", func() bool { return inRedis(srv, old) })
	issuedBefore := time.Now().Add(-time.Minute).UnixMilli()
	srv.Stop()

	s, set, _ := replicaStore(t, srv.URL(), false)
	waitFor(t, 5*time.Second, "the store is found down", func() bool { return s.state.Load() == stateDown })
	if set.trusted(issuedBefore) {
		t.Fatal("a session issued before start is trusted without the revocations")
	}
	if !set.trusted(time.Now().UnixMilli()) {
		t.Fatal("a session issued after start is refused: nobody could sign in")
	}
	set.admit.Store(true)
	if !set.trusted(issuedBefore) {
		t.Fatal("unchecked_sessions admit does not admit")
	}
	set.admit.Store(false)

	srv.Restart()
	// The restarted Redis is empty; the seed replica writes the revocation
	// back, and the new replica loads it.
	waitFor(t, 5*time.Second, "loaded once the store answers", func() bool {
		return set.trusted(issuedBefore) && set.revoked(old.AppID, old.SessionID, "o", 0)
	})
}

// TestRevocationSetBounds: what the store hands a replica cannot lock a
// person out for good nor grow memory without limit.
func TestRevocationSetBounds(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	set := newRevocationSet(func() time.Time { return now })
	core, logs := observer.New(zapcore.InfoLevel)
	set.logger = zap.New(core)
	set.setSessionTTL("wx1", time.Hour)

	// A forged revocation: every session of o1, for ten years, including
	// sessions issued ten years from now.
	future := now.Add(10 * 365 * 24 * time.Hour)
	set.Revoked(Revocation{AppID: "wx1", OpenID: "o1", IssuedBefore: future.UnixMilli(), Until: future.Unix()})
	if !set.revoked("wx1", "s", "o1", now.UnixMilli()) {
		t.Fatal("a session issued before the revocation is admitted")
	}
	if set.revoked("wx1", "s", "o1", now.Add(2*time.Minute).UnixMilli()) {
		t.Fatal("a session issued after the revocation arrived is refused: the person can never sign in again")
	}
	now = now.Add(time.Hour + 2*time.Minute)
	if set.revoked("wx1", "s", "o1", 0) {
		t.Fatal("a revocation outlived the longest session it could end (session_ttl 1h)")
	}

	set.max = 10
	before := testutil.ToFloat64(storeMetrics.revocations[revocationsOverflow])
	for i := range 15 {
		set.Revoked(Revocation{AppID: "wx1", SessionID: fmt.Sprintf("s%d", i), Until: now.Unix() + 60})
	}
	if n := set.size(); n != 10 {
		t.Fatalf("%d revocations held, want the bound 10", n)
	}
	if got := testutil.ToFloat64(storeMetrics.revocations[revocationsOverflow]) - before; got != 5 {
		t.Fatalf("overflow counted %v, want 5", got)
	}
	if lines := logs.FilterMessageSnippet("revocation set is full").All(); len(lines) != 1 || !strings.Contains(lines[0].Message, "docs/operations.md") {
		t.Fatalf("overflow log lines: %v", lines)
	}
}

// TestStoreLogsMaskTheSentinelPassword: a Sentinel URL's data-node
// password, which can only go in ?password=, is masked in every log line
// (the start-up and outage lines name the store).
func TestStoreLogsMaskTheSentinelPassword(t *testing.T) {
	const secret = "data-node-s3cret"
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := newRedisStore("redis://:sentinel-s3cret@127.0.0.1:1/0?master_name=mymaster&password="+secret, "p:", nil, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	defer s.Close()
	waitFor(t, 5*time.Second, "outage logged", func() bool { return logs.Len() > 0 })
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, secret) || strings.Contains(line, "sentinel-s3cret") {
			t.Fatalf("a log line shows a password: %s", line)
		}
		if !strings.Contains(line, "password=xxxxx") {
			t.Fatalf("the line does not name the masked store: %s", line)
		}
	}
	if got := MaskStoreURL("rediss://u:p4ss@h:1/0?master_name=m&password=" + secret + "&sentinel_password=y"); strings.Contains(got, secret) || strings.Contains(got, "p4ss") || !strings.Contains(got, "sentinel_password=xxxxx") {
		t.Fatalf("MaskStoreURL left a secret: %s", got)
	}
}
