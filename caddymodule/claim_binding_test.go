package wechatauth

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// TestRedeemedCodeAnswersOnlyItsLoginState: after a code is redeemed, a
// repeat of its callback with the login state that redeemed it gets the
// same session, 5, 30 and 45 seconds on (the store's clock, no sleeping);
// a request with any other login state finds the code spent at each of
// those times, and WeChat is never asked again for either. The stored
// answer of one state does not open under another.
func TestRedeemedCodeAnswersOnlyItsLoginState(t *testing.T) {
	h, _ := newTestHandler(t, testPair(1))
	now := time.Now()
	h.app.store = newMemoryStore(nil, func() time.Time { return now })
	const code = "081victimCodeAAAAAAAAAAAAAAAAAAAA"
	victim, attacker := randomAlnum(stateLen), randomAlnum(stateLen)
	var exchanges, refused atomic.Int32
	redeem := func() (loginEnd, bool) {
		exchanges.Add(1)
		return loginEnd{ending: endSession, sess: liveSession(randomAlnum(sessionIDLen))}, false
	}
	spent := func() (loginEnd, bool) { refused.Add(1); return loginEnd{}, true }
	first, _ := redeemOnce(h, context.Background(), testAppID, code, victim, redeem, spent)
	if first.ending != endSession {
		t.Fatal("the first redemption gave no session")
	}
	for i, after := range []time.Duration{5 * time.Second, 25 * time.Second, 15 * time.Second} {
		now = now.Add(after)
		res, answered := redeemOnce(h, context.Background(), testAppID, code, attacker, redeem, spent)
		if res.ending == endSession || !answered || refused.Load() != int32(i+1) {
			t.Fatalf("another login state's replay %d got %+v (refused %d)", i, res, refused.Load())
		}
		res, _ = redeemOnce(h, context.Background(), testAppID, code, victim, redeem, spent)
		if res.ending != endSession || res.sess != first.sess {
			t.Fatalf("the redeeming login state's repeat %d got %+v, want its session", i, res)
		}
	}
	if n := exchanges.Load(); n != 1 {
		t.Fatalf("%d exchanges, want 1", n)
	}
	v, _ := h.app.store.Get(context.Background(), newCodeClaim(testAppID, code, victim).key)
	if _, ok := newCodeClaim(testAppID, code, attacker).open(v); ok {
		t.Fatal("the answer opened under another login state")
	}
}

// TestReplayedCodeIsSpentWhileItsRedemptionIsPendingOnAnotherReplica: a
// replay of another login state arriving while a replica (sharing Redis)
// still redeems the code is refused at once, without waiting for the answer
// or asking WeChat itself (where it could win the race for the code).
func TestReplayedCodeIsSpentWhileItsRedemptionIsPendingOnAnotherReplica(t *testing.T) {
	srv := redistest.Start(t)
	hs := []*Handler{replicaHandler(t, redisApp(t, srv.URL())), replicaHandler(t, redisApp(t, srv.URL()))}
	const code = "081pendingCodeAAAAAAAAAAAAAAAAAAA"
	release, started := make(chan struct{}), make(chan struct{})
	var exchanges atomic.Int32
	done := make(chan loginEnd)
	go func() {
		res, _ := redeemOnce(hs[0], context.Background(), testAppID, code, randomAlnum(stateLen), func() (loginEnd, bool) {
			exchanges.Add(1)
			close(started)
			<-release
			return loginEnd{ending: endSession, sess: liveSession(randomAlnum(sessionIDLen))}, false
		}, nil)
		done <- res
	}()
	<-started
	var refused bool
	// Bounded, so that a replay waiting for the answer fails the test
	// rather than waiting out the claim.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, _ := redeemOnce(hs[1], ctx, testAppID, code, randomAlnum(stateLen), func() (loginEnd, bool) {
		exchanges.Add(1)
		return loginEnd{ending: endSession, sess: liveSession("stolen")}, false
	}, func() (loginEnd, bool) { refused = true; return loginEnd{}, true })
	close(release)
	if res.ending == endSession || !refused {
		t.Fatalf("a replay during the redemption got %+v (refused %v)", res, refused)
	}
	if (<-done).ending != endSession || exchanges.Load() != 1 {
		t.Fatalf("%d exchanges, want only the first redeemer's", exchanges.Load())
	}
}
