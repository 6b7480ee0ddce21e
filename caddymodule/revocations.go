package wechatauth

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// revocationSet is this process's copy of every live revocation, fed by the
// store (its own revocations, other replicas' events, the whole set on each
// (re)connect). Looking a session up is a map lookup: the network is never
// on a request's path. Its generation changes with every new revocation, so
// a memoized session verified under an older generation is looked up again
// before it is trusted.
//
// What the store can do to a replica is bounded: a revocation is kept no
// longer than the longest session_ttl configured for its app (a forged
// far-future one cannot lock a person out for good), an openid revocation
// never reaches sessions issued after it arrived, and the set holds at
// most max entries (an overflow is logged and counted, never grown).
type revocationSet struct {
	now    func() time.Time
	gen    atomic.Uint64
	logger *zap.Logger
	// loaded is set once the store's set was loaded (or there is no shared
	// store); until then a session issued before started is not trusted.
	loaded  atomic.Bool
	admit   atomic.Bool // unchecked_sessions admit: trust before the load
	started int64       // Unix ms when the set was made
	// report: this set is the process's, whose size the gauge shows (not
	// a test's stand-in replica).
	report bool

	mu        sync.RWMutex
	sessions  map[revocationKey]int64 // session → Until
	openids   map[revocationKey]openIDCut
	apps      map[string]string // interned app ids, so entries share one copy
	ttls      map[string]int64  // app → longest session_ttl in seconds
	max       int
	nextPrune int64
	lastWarn  int64
}

// revocationKey is a struct, not a joined string, so a lookup does not
// allocate.
type revocationKey struct{ app, id string }

type openIDCut struct {
	issuedBefore int64 // Unix ms
	until        int64 // Unix s
}

const (
	// revocationPruneEvery spaces the sweeps that forget revocations whose
	// sessions have all expired.
	revocationPruneEvery = 60
	// defaultMaxRevocations bounds the set (~100 bytes a revocation, see
	// docs/operations.md): 1,000,000 logouts within one session_ttl.
	defaultMaxRevocations = 1_000_000
	// revocationClockSkew is how far replicas' clocks may disagree: an
	// openid revocation reaches sessions issued up to this long after it
	// arrived, and no further.
	revocationClockSkew = 60
	// revocationBatch is how many revocations are applied under one hold
	// of the lock, so loading a large set never stalls lookups for long.
	revocationBatch = 4096
)

func newRevocationSet(now func() time.Time) *revocationSet {
	if now == nil {
		now = time.Now
	}
	return &revocationSet{
		now:      now,
		logger:   zap.NewNop(),
		started:  now().UnixMilli(),
		sessions: make(map[revocationKey]int64),
		openids:  make(map[revocationKey]openIDCut),
		apps:     make(map[string]string),
		ttls:     make(map[string]int64),
		max:      defaultMaxRevocations,
	}
}

// setSessionTTL records the longest session_ttl of app: no revocation of
// app is kept longer than that from now.
func (s *revocationSet) setSessionTTL(app string, ttl time.Duration) {
	s.mu.Lock()
	s.ttls[app] = max(s.ttls[app], int64(ttl/time.Second))
	s.mu.Unlock()
}

// markLoaded records that the store's set has been loaded once.
func (s *revocationSet) markLoaded() { s.loaded.Store(true) }

// trusted reports whether a session issued at issuedMs may be admitted on
// this replica's knowledge: always once the set is loaded; before, only a
// session issued after the replica started (no revocation it has not seen
// can name it, but one issued earlier may have been revoked).
func (s *revocationSet) trusted(issuedMs int64) bool {
	return s.loaded.Load() || issuedMs > s.started || s.admit.Load()
}

// Revoked adds revocations; repeats and ones already covered change nothing.
// A large batch (a whole set loaded from the store) is applied in slices,
// so lookups are never held up for long.
func (s *revocationSet) Revoked(rs ...Revocation) {
	for {
		n := min(len(rs), revocationBatch)
		s.apply(rs[:n])
		if rs = rs[n:]; len(rs) == 0 {
			return
		}
	}
}

func (s *revocationSet) apply(rs []Revocation) {
	now := s.now()
	nowS, nowMs := now.Unix(), now.UnixMilli()
	changed, dropped := false, 0
	s.mu.Lock()
	if nowS >= s.nextPrune {
		s.prune(nowS)
	}
	for _, r := range rs {
		until := min(r.Until, nowS+s.ttlOf(r.AppID)+revocationClockSkew)
		if until <= nowS {
			continue
		}
		app := s.intern(r.AppID)
		if r.SessionID != "" {
			k := revocationKey{app, r.SessionID}
			old, ok := s.sessions[k]
			if !ok && s.full(nowS) {
				dropped++
				continue
			}
			if old < until {
				if !ok {
					k.id = strings.Clone(r.SessionID)
				}
				s.sessions[k] = until
				changed = true
			}
			continue
		}
		k := revocationKey{app, r.OpenID}
		c, ok := s.openids[k]
		if !ok && s.full(nowS) {
			dropped++
			continue
		}
		before := min(r.IssuedBefore, nowMs+revocationClockSkew*1000)
		if before > c.issuedBefore || until > c.until {
			if !ok {
				k.id = strings.Clone(r.OpenID)
			}
			s.openids[k] = openIDCut{max(c.issuedBefore, before), max(c.until, until)}
			changed = true
		}
	}
	warn := dropped > 0 && nowS >= s.lastWarn+60
	if warn {
		s.lastWarn = nowS
	}
	size := len(s.sessions) + len(s.openids)
	s.mu.Unlock()
	if s.report {
		storeMetrics.held.Set(float64(size))
	}
	if dropped > 0 {
		storeMetrics.revocations[revocationsOverflow].Add(float64(dropped))
		if warn {
			s.logger.Error("the in-memory revocation set is full: new revocations apply on the other replicas and in the store but not here; this many logouts within one session_ttl is unusual (a flood of logouts?), see docs/operations.md",
				zap.Int("held", size), zap.Int("max", s.max), zap.Int("dropped", dropped))
		}
	}
	if changed {
		s.gen.Add(1)
	}
}

// ttlOf is the longest a revocation of app can matter, in seconds: its
// longest session_ttl, or the longest of any app when app is not served
// here (168h when none is known). s.mu is held.
func (s *revocationSet) ttlOf(app string) int64 {
	if t, ok := s.ttls[app]; ok {
		return t
	}
	longest := int64(defaultSessionTTL / time.Second)
	for _, t := range s.ttls {
		longest = max(longest, t)
	}
	return longest
}

// intern returns the set's copy of an app id, so a million entries of one
// app share one string and none keeps a store message alive. s.mu is held.
func (s *revocationSet) intern(app string) string {
	if a, ok := s.apps[app]; ok {
		return a
	}
	a := strings.Clone(app)
	s.apps[a] = a
	return a
}

// full reports whether there is no room for one more entry, after
// forgetting what has run its course if that may help. s.mu is held.
func (s *revocationSet) full(now int64) bool {
	if len(s.sessions)+len(s.openids) < s.max {
		return false
	}
	s.prune(now)
	return len(s.sessions)+len(s.openids) >= s.max
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

// all returns every live revocation held, to write back to a store that
// lost them.
func (s *revocationSet) all() []Revocation {
	now := s.now().Unix()
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Revocation, 0, len(s.sessions)+len(s.openids))
	for k, until := range s.sessions {
		if until > now {
			out = append(out, Revocation{AppID: k.app, SessionID: k.id, Until: until})
		}
	}
	for k, c := range s.openids {
		if c.until > now {
			out = append(out, Revocation{AppID: k.app, OpenID: k.id, IssuedBefore: c.issuedBefore, Until: c.until})
		}
	}
	return out
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
