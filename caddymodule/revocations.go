package wechatauth

import (
	"sync"
	"sync/atomic"
	"time"
)

// revocationSet is this process's copy of every live revocation, fed by the
// store (its own revocations, other replicas' events, the whole set on each
// (re)connect). Looking a session up is a map lookup: the network is never
// on a request's path. Its generation changes with every new revocation, so
// a memoized session verified under an older generation is looked up again
// before it is trusted.
type revocationSet struct {
	now func() time.Time
	gen atomic.Uint64

	mu        sync.RWMutex
	sessions  map[revocationKey]int64 // session → Until
	openids   map[revocationKey]openIDCut
	nextPrune int64
}

// revocationKey is a struct, not a joined string, so a lookup does not
// allocate.
type revocationKey struct{ app, id string }

type openIDCut struct {
	issuedBefore int64 // Unix ms
	until        int64 // Unix s
}

// revocationPruneEvery spaces the sweeps that forget revocations whose
// sessions have all expired.
const revocationPruneEvery = 60

func newRevocationSet(now func() time.Time) *revocationSet {
	if now == nil {
		now = time.Now
	}
	return &revocationSet{
		now:      now,
		sessions: make(map[revocationKey]int64),
		openids:  make(map[revocationKey]openIDCut),
	}
}

// Revoked adds revocations; repeats and ones already covered change nothing.
func (s *revocationSet) Revoked(rs ...Revocation) {
	now := s.now().Unix()
	changed := false
	s.mu.Lock()
	for _, r := range rs {
		if r.Until <= now {
			continue
		}
		if r.SessionID != "" {
			k := revocationKey{r.AppID, r.SessionID}
			if s.sessions[k] < r.Until {
				s.sessions[k] = r.Until
				changed = true
			}
			continue
		}
		k := revocationKey{r.AppID, r.OpenID}
		c := s.openids[k]
		if r.IssuedBefore > c.issuedBefore || r.Until > c.until {
			s.openids[k] = openIDCut{max(c.issuedBefore, r.IssuedBefore), max(c.until, r.Until)}
			changed = true
		}
	}
	if now >= s.nextPrune {
		s.prune(now)
	}
	s.mu.Unlock()
	if changed {
		s.gen.Add(1)
	}
}

// prune forgets what has run its course. s.mu is held.
func (s *revocationSet) prune(now int64) {
	for k, until := range s.sessions {
		if until <= now {
			delete(s.sessions, k)
		}
	}
	for k, c := range s.openids {
		if c.until <= now {
			delete(s.openids, k)
		}
	}
	s.nextPrune = now + revocationPruneEvery
}

// revoked reports whether the session sessionID of openID, issued at
// issuedMs (Unix ms), of app appID has been revoked.
func (s *revocationSet) revoked(appID, sessionID, openID string, issuedMs int64) bool {
	now := s.now().Unix()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sessionID != "" {
		if until, ok := s.sessions[revocationKey{appID, sessionID}]; ok && until > now {
			return true
		}
	}
	c, ok := s.openids[revocationKey{appID, openID}]
	return ok && c.until > now && issuedMs <= c.issuedBefore
}

// generation changes whenever a revocation is added.
func (s *revocationSet) generation() uint64 { return s.gen.Load() }

// size is the number of revocations held, for tests and logs.
func (s *revocationSet) size() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions) + len(s.openids)
}

// Interface guard.
var _ RevocationSink = (*revocationSet)(nil)
