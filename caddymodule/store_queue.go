package wechatauth

import (
	"sync"
	"time"
)

// revocationQueue holds the revocations this replica made that the store
// has not confirmed yet. A revocation leaves it only once a write of it
// succeeded (done) or once every session it names has expired anyway: a
// reconnect, a failover or a race between the two can delay a revocation,
// never drop it. Only a full queue loses one, counted and logged.
//
// It also remembers the revocations made or received lately (recent), to
// write them again after a failover to a replica that may have missed them.
type revocationQueue struct {
	mu      sync.Mutex
	items   []Revocation
	recent  []recentRevocation
	lostLog time.Time
	report  bool // its length is the process's pending gauge
}

type recentRevocation struct {
	r  Revocation
	at time.Time
}

const (
	// maxPendingRevocations bounds the queue kept while the store is away;
	// beyond it a revocation still applies in this process but is lost to
	// the others (counted, logged).
	maxPendingRevocations = 10000
	// recentRevocationsKept and recentRevocationWindow bound what is
	// written again after a failover: a promoted replica lags by at most
	// seconds.
	recentRevocationsKept  = 10000
	recentRevocationWindow = 2 * time.Minute
	// flushBatch is how many queued revocations one write carries.
	flushBatch = 500
)

// add queues r; it reports false when the queue is full and r is lost to
// the other replicas.
func (q *revocationQueue) add(r Revocation) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= maxPendingRevocations {
		return false
	}
	q.items = append(q.items, r)
	if q.report {
		storeMetrics.pending.Set(float64(len(q.items)))
	}
	return true
}

// peek returns up to n queued revocations from the front, first dropping
// the ones whose sessions have all expired by now (they no longer matter).
func (q *revocationQueue) peek(n int, now time.Time) []Revocation {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) > 0 && q.items[0].expired(now) {
		q.items = q.items[1:]
	}
	return append([]Revocation(nil), q.items[:min(n, len(q.items))]...)
}

// done removes the first n revocations, which were written. Only the
// flusher removes from the front, one flush at a time, so these are the
// ones peek returned.
func (q *revocationQueue) done(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = q.items[min(n, len(q.items)):]
	if len(q.items) == 0 {
		q.items = nil
	}
	if q.report {
		storeMetrics.pending.Set(float64(len(q.items)))
	}
}

func (q *revocationQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// lostNow reports whether a loss should be logged now (at most one line a
// minute; the counter counts each).
func (q *revocationQueue) lostNow(now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if now.Sub(q.lostLog) < time.Minute {
		return false
	}
	q.lostLog = now
	return true
}

// remember keeps r among the recent revocations.
func (q *revocationQueue) remember(r Revocation, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.recent) >= recentRevocationsKept || (len(q.recent) > 0 && now.Sub(q.recent[0].at) > recentRevocationWindow) {
		q.trimRecent(now)
	}
	if len(q.recent) < recentRevocationsKept {
		q.recent = append(q.recent, recentRevocation{r, now})
	}
}

// trimRecent drops what is older than the window. q.mu is held.
func (q *revocationQueue) trimRecent(now time.Time) {
	i := 0
	for i < len(q.recent) && now.Sub(q.recent[i].at) > recentRevocationWindow {
		i++
	}
	q.recent = append(q.recent[:0], q.recent[i:]...)
}

// lately returns the recent revocations still within the window.
func (q *revocationQueue) lately(now time.Time) []Revocation {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.trimRecent(now)
	out := make([]Revocation, 0, len(q.recent))
	for _, rr := range q.recent {
		if !rr.r.expired(now) {
			out = append(out, rr.r)
		}
	}
	return out
}
