package wechatauth

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// sinkRecorder is a RevocationSink that remembers what reached it.
type sinkRecorder struct {
	mu  sync.Mutex
	got []Revocation
}

func (s *sinkRecorder) Revoked(rs ...Revocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, rs...)
}

func (s *sinkRecorder) has(r Revocation) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.got {
		if g == r {
			return true
		}
	}
	return false
}

// waitFor polls cond every 10 ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startRedisStore connects a store ("one replica") to srv and waits until
// it is up. Its log lines go to the returned observer.
func startRedisStore(t *testing.T, url string, sink RevocationSink) (*redisStore, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := newRedisStore(url, "test:", sink, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(func() { _ = s.Close() })
	waitFor(t, 5*time.Second, "store connected", s.up)
	return s, logs
}

// storeContract runs the behaviour every Store must have.
func storeContract(t *testing.T, newStore func(t *testing.T, sink RevocationSink) Store) {
	ctx := context.Background()
	t.Run("ClaimIsWonOnceUntilItExpires", func(t *testing.T) {
		s := newStore(t, nil)
		won, err := s.Claim(ctx, "claim:a", []byte("first"), 300*time.Millisecond)
		if err != nil || !won {
			t.Fatalf("first claim: won=%v err=%v", won, err)
		}
		won, err = s.Claim(ctx, "claim:a", []byte("second"), 300*time.Millisecond)
		if err != nil || won {
			t.Fatalf("second claim: won=%v err=%v, want lost", won, err)
		}
		if v, _ := s.Get(ctx, "claim:a"); string(v) != "first" {
			t.Fatalf("claimed value %q, want the winner's", v)
		}
		waitFor(t, 3*time.Second, "claim expires", func() bool {
			v, _ := s.Get(ctx, "claim:a")
			return v == nil
		})
		if won, _ := s.Claim(ctx, "claim:a", []byte("third"), time.Second); !won {
			t.Fatal("an expired claim could not be claimed again")
		}
	})
	t.Run("SetGetDelete", func(t *testing.T) {
		s := newStore(t, nil)
		if v, err := s.Get(ctx, "k"); v != nil || err != nil {
			t.Fatalf("absent key: %q, %v", v, err)
		}
		if err := s.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, "k", []byte("v2"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.Get(ctx, "k"); string(v) != "v2" {
			t.Fatalf("got %q, want v2", v)
		}
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.Get(ctx, "k"); v != nil {
			t.Fatalf("deleted key still %q", v)
		}
	})
	t.Run("IncrCountsWithinItsWindow", func(t *testing.T) {
		s := newStore(t, nil)
		for want := int64(1); want <= 3; want++ {
			if n, err := s.Incr(ctx, "budget", 300*time.Millisecond); err != nil || n != want {
				t.Fatalf("incr = %d, %v; want %d", n, err, want)
			}
		}
		waitFor(t, 3*time.Second, "counter window ends", func() bool {
			n, _ := s.Incr(ctx, "budget", time.Hour)
			return n == 1
		})
	})
	t.Run("RevokeReachesTheSink", func(t *testing.T) {
		sink := &sinkRecorder{}
		s := newStore(t, sink)
		r := Revocation{AppID: "wxapp", SessionID: "sid1", Until: time.Now().Add(time.Hour).Unix()}
		if err := s.Revoke(ctx, r); err != nil {
			t.Fatal(err)
		}
		if !sink.has(r) {
			t.Fatal("the store's own sink did not get its revocation at once")
		}
		if err := s.Revoke(ctx, Revocation{AppID: "wxapp", Until: 1}); err == nil {
			t.Fatal("a revocation naming nothing was accepted")
		}
	})
}

func TestMemoryStoreContract(t *testing.T) {
	storeContract(t, func(t *testing.T, sink RevocationSink) Store { return newMemoryStore(sink, nil) })
}

func TestRedisStoreContract(t *testing.T) {
	srv := redistest.Start(t)
	storeContract(t, func(t *testing.T, sink RevocationSink) Store {
		_, _ = srv.Do("FLUSHALL")
		s, _ := startRedisStore(t, srv.URL(), sink)
		return s
	})
}

// TestRedisStoreSharesBetweenReplicas: what one replica writes, another
// sees — claims, values and revocations (by event, within 2 s).
func TestRedisStoreSharesBetweenReplicas(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	sinkA, sinkB := &sinkRecorder{}, &sinkRecorder{}
	a, _ := startRedisStore(t, srv.URL(), sinkA)
	b, _ := startRedisStore(t, srv.URL(), sinkB)

	if won, _ := a.Claim(ctx, "claim:x", []byte("A"), time.Minute); !won {
		t.Fatal("replica A lost a fresh claim")
	}
	if won, _ := b.Claim(ctx, "claim:x", []byte("B"), time.Minute); won {
		t.Fatal("replica B won a claim replica A holds")
	}
	if v, _ := b.Get(ctx, "claim:x"); string(v) != "A" {
		t.Fatalf("replica B reads %q, want A's value", v)
	}
	if n, _ := b.Incr(ctx, "n", time.Minute); n != 1 {
		t.Fatal(n)
	}
	if n, _ := a.Incr(ctx, "n", time.Minute); n != 2 {
		t.Fatalf("replica A counts %d after B's 1, want 2", n)
	}

	r := Revocation{AppID: "wxapp", OpenID: "oUser", IssuedBefore: time.Now().UnixMilli(), Until: time.Now().Add(time.Hour).Unix()}
	if err := a.Revoke(ctx, r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "replica B learns A's revocation", func() bool { return sinkB.has(r) })

	// A replica that starts later loads what was revoked before it.
	sinkC := &sinkRecorder{}
	startRedisStore(t, srv.URL(), sinkC)
	if !sinkC.has(r) {
		t.Fatal("a replica started after the revocation did not load it")
	}
	if got, _ := srv.Do("GET", "test:claim:x"); got != "A" {
		t.Fatalf("keys are not under the prefix: GET test:claim:x = %q", got)
	}
}

// TestRedisStoreOutage: Redis stops. Nothing fails, one log line names the
// setting, a logout during the outage applies here at once and reaches the
// other replica when Redis is back, and events flow again after restart.
func TestRedisStoreOutage(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	sinkA, sinkB := &sinkRecorder{}, &sinkRecorder{}
	a, logsA := startRedisStore(t, srv.URL(), sinkA)
	b, _ := startRedisStore(t, srv.URL(), sinkB)

	srv.Stop()
	// The first operation after the crash may be the one that finds out.
	for i := 0; i < 3; i++ {
		if _, err := a.Claim(ctx, fmt.Sprintf("claim:%d", i), []byte("v"), time.Minute); err != nil {
			t.Fatalf("claim during the outage failed: %v", err)
		}
	}
	waitFor(t, 5*time.Second, "replica A notices the outage", func() bool { return !a.up() })
	if won, err := a.Claim(ctx, "claim:local", nil, time.Minute); !won || err != nil {
		t.Fatalf("per-process claim during the outage: won=%v err=%v", won, err)
	}
	if won, _ := a.Claim(ctx, "claim:local", nil, time.Minute); won {
		t.Fatal("per-process claim won twice")
	}
	if n, err := a.Incr(ctx, "n", time.Minute); err != nil || n != 1 {
		t.Fatalf("incr during outage = %d, %v", n, err)
	}
	down := logsA.FilterMessageSnippet("unreachable").All()
	if len(down) != 1 {
		t.Fatalf("%d outage log lines, want exactly 1: %v", len(down), down)
	}
	if !strings.Contains(down[0].Message, "store setting of the wechat global option") {
		t.Fatalf("the outage line does not name the setting: %q", down[0].Message)
	}

	during := Revocation{AppID: "wxapp", SessionID: "during", Until: time.Now().Add(time.Hour).Unix()}
	if err := a.Revoke(ctx, during); err != nil {
		t.Fatalf("revoke during the outage: %v", err)
	}
	if !sinkA.has(during) {
		t.Fatal("a revocation during the outage did not apply in its own process")
	}

	srv.Restart()
	waitFor(t, 5*time.Second, "both replicas reconnect", func() bool { return a.up() && b.up() })
	waitFor(t, 2*time.Second, "replica B learns the revocation made during the outage", func() bool { return sinkB.has(during) })
	if n := len(logsA.FilterMessageSnippet("reachable again").All()); n != 1 {
		t.Fatalf("%d recovery log lines, want 1", n)
	}

	after := Revocation{AppID: "wxapp", SessionID: "after", Until: time.Now().Add(time.Hour).Unix()}
	if err := b.Revoke(ctx, after); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "replica A learns B's revocation after the restart", func() bool { return sinkA.has(after) })
	if won, _ := b.Claim(ctx, "claim:shared", nil, time.Minute); !won {
		t.Fatal("claim after restart")
	}
	if won, _ := a.Claim(ctx, "claim:shared", nil, time.Minute); won {
		t.Fatal("claims are not shared again after the restart")
	}
}

// TestRedisStoreForgetsSpentRevocations: a revocation is kept only until
// the sessions it names would have expired.
func TestRedisStoreForgetsSpentRevocations(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s, _ := startRedisStore(t, srv.URL(), nil)
	now := time.Now()
	_ = s.Revoke(ctx, Revocation{AppID: "wxapp", SessionID: "short", Until: now.Add(time.Second).Unix()})
	_ = s.Revoke(ctx, Revocation{AppID: "wxapp", SessionID: "long", Until: now.Add(time.Hour).Unix()})
	time.Sleep(2100 * time.Millisecond)
	_ = s.Revoke(ctx, Revocation{AppID: "wxapp", SessionID: "later", Until: now.Add(time.Hour).Unix()})
	// Two revocations and the epoch member.
	if n, _ := srv.Do("ZCARD", "test:revocations"); n != "3" {
		t.Fatalf("%s members kept, want 3: the spent revocation stays", n)
	}
	n, err := s.load(ctx)
	if err != nil || n != 2 {
		t.Fatalf("load: %d, %v", n, err)
	}
}

// TestRedisStoreKeepsThePasswordSecret: neither errors nor log lines carry
// the password of the store URL.
func TestRedisStoreKeepsThePasswordSecret(t *testing.T) {
	const secret = "s3cr3t-passw0rd"
	for _, bad := range []string{
		"redis://:" + secret + "@127.0.0.1:1/0?no_such_option=1",
		"ftp://:" + secret + "@127.0.0.1/",
		"redis://:" + secret + "@127.0.0.1:1/notanumber",
		":" + secret,
	} {
		_, err := newRedisStore(bad, "p:", nil, zap.NewNop())
		if err == nil {
			t.Fatalf("%q accepted", bad)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error shows the password: %v", err)
		}
	}
	// A server that is not there: the outage line must not show it either.
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := newRedisStore("redis://user:"+secret+"@127.0.0.1:1/0", "p:", nil, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	defer s.Close()
	waitFor(t, 5*time.Second, "outage logged", func() bool { return logs.Len() > 0 })
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, secret) {
			t.Fatalf("log line shows the password: %s", line)
		}
		if !strings.Contains(line, "xxxxx") {
			t.Fatalf("log line does not name the (redacted) store: %s", line)
		}
	}
}

func TestRevocationEncoding(t *testing.T) {
	for _, r := range []Revocation{
		{AppID: "wx1", SessionID: "abc", Until: 99},
		{AppID: "wx1", OpenID: "o-_x", IssuedBefore: 1700000000123, Until: 99},
	} {
		got, err := decodeRevocation(r.encode())
		if err != nil || got != r {
			t.Fatalf("%+v → %q → %+v, %v", r, r.encode(), got, err)
		}
	}
	for _, bad := range []string{"", "s|wx|", "x|a|b|1", "s|a|b|c", "o|a|b|1", "s||b|1", "o|a|b|x|1"} {
		if _, err := decodeRevocation(bad); err == nil {
			t.Fatalf("%q decoded", bad)
		}
	}
	if (Revocation{AppID: "wx", SessionID: "a|b", Until: 1}).valid() {
		t.Fatal("a separator inside an id was accepted")
	}
	if (Revocation{AppID: "wx", SessionID: "a", OpenID: "o", Until: 1}).valid() {
		t.Fatal("a revocation naming both a session and an openid was accepted")
	}
}

func TestRevocationSet(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	set := newRevocationSet(func() time.Time { return now })
	gen := set.generation()
	set.Revoked(Revocation{AppID: "wx1", SessionID: "s1", Until: now.Unix() + 60})
	if !set.revoked("wx1", "s1", "o1", 0) {
		t.Fatal("revoked session accepted")
	}
	if set.revoked("wx2", "s1", "o1", 0) || set.revoked("wx1", "s2", "o1", 0) {
		t.Fatal("a revocation of one session refused another")
	}
	if set.generation() == gen {
		t.Fatal("generation unchanged by a new revocation")
	}
	gen = set.generation()
	set.Revoked(Revocation{AppID: "wx1", SessionID: "s1", Until: now.Unix() + 60})
	if set.generation() != gen {
		t.Fatal("a repeated revocation changed the generation: memoized sessions would be re-checked for nothing")
	}

	cut := now.UnixMilli()
	set.Revoked(Revocation{AppID: "wx1", OpenID: "o9", IssuedBefore: cut, Until: now.Unix() + 60})
	if !set.revoked("wx1", "any", "o9", cut) || !set.revoked("wx1", "any", "o9", cut-5000) {
		t.Fatal("a session issued before the openid's revocation was accepted")
	}
	if set.revoked("wx1", "new", "o9", cut+1) {
		t.Fatal("a session issued after the openid's revocation was refused: the person could not sign in again")
	}

	now = now.Add(61 * time.Second)
	if set.revoked("wx1", "s1", "o1", 0) || set.revoked("wx1", "x", "o9", 0) {
		t.Fatal("a revocation outlived the sessions it names")
	}
	set.Revoked() // prunes
	if n := set.size(); n != 0 {
		t.Fatalf("%d spent revocations kept", n)
	}
}

// TestRedisStoreClosedByAReloadIsNoOutage: a request still in flight on an
// unloaded config meets the closed client; that is not logged as an outage.
func TestRedisStoreClosedByAReloadIsNoOutage(t *testing.T) {
	srv := redistest.Start(t)
	s, logs := startRedisStore(t, srv.URL(), nil)
	_ = s.Close()
	if _, err := s.Claim(context.Background(), "claim:late", nil, time.Minute); err != nil {
		t.Fatalf("claim after close: %v", err)
	}
	if n := logs.FilterMessageSnippet("unreachable").Len(); n != 0 {
		t.Fatalf("%d outage lines after a close", n)
	}
}
