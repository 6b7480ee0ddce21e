package wechatauth

import (
	"context"
	"sync"
	"time"
)

// memoryStore is the Store of a single process: the default without a
// configured store, and the Redis store's stand-in while Redis is away.
// Revocations go straight to the sink, which keeps them.
type memoryStore struct {
	sink RevocationSink
	now  func() time.Time

	mu        sync.Mutex
	entries   map[string]memoryEntry
	lastSweep time.Time
}

type memoryEntry struct {
	value   []byte
	count   int64
	expires time.Time
}

// memorySweepEvery is how often a write also drops expired entries, so
// claims and counters of past logins do not pile up.
const memorySweepEvery = time.Minute

func newMemoryStore(sink RevocationSink, now func() time.Time) *memoryStore {
	if now == nil {
		now = time.Now
	}
	return &memoryStore{sink: sink, now: now, entries: make(map[string]memoryEntry)}
}

func (m *memoryStore) Revoke(ctx context.Context, r Revocation) error {
	if !r.valid() {
		return errBadRevocation
	}
	if m.sink != nil {
		m.sink.Revoked(r)
	}
	return nil
}

// live returns key's entry unless it is absent or expired. m.mu is held.
func (m *memoryStore) live(key string, now time.Time) (memoryEntry, bool) {
	e, ok := m.entries[key]
	if !ok {
		return e, false
	}
	if !now.Before(e.expires) {
		delete(m.entries, key)
		return e, false
	}
	return e, true
}

// put stores e under key, sweeping expired entries now and then. m.mu is held.
func (m *memoryStore) put(key string, e memoryEntry, now time.Time) {
	if now.Sub(m.lastSweep) >= memorySweepEvery {
		for k, old := range m.entries {
			if !now.Before(old.expires) {
				delete(m.entries, k)
			}
		}
		m.lastSweep = now
	}
	m.entries[key] = e
}

func (m *memoryStore) Claim(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live(key, now); ok {
		return false, nil
	}
	m.put(key, memoryEntry{value: clone(value), expires: now.Add(ttl)}, now)
	return true, nil
}

func (m *memoryStore) Get(_ context.Context, key string) ([]byte, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.live(key, now)
	if !ok {
		return nil, nil
	}
	return clone(e.value), nil
}

func (m *memoryStore) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(key, memoryEntry{value: clone(value), expires: now.Add(ttl)}, now)
	return nil
}

func (m *memoryStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
	return nil
}

func (m *memoryStore) Incr(_ context.Context, key string, ttl time.Duration) (int64, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.live(key, now)
	if !ok {
		e = memoryEntry{expires: now.Add(ttl)}
	}
	e.count++
	m.put(key, e, now)
	return e.count, nil
}

// Shared is false: nothing here leaves the process.
func (m *memoryStore) Shared() bool { return false }

func (m *memoryStore) Close() error { return nil }

// clone copies b so a caller's later change cannot reach the store, nor
// the store's a caller's; nil stays nil, empty stays non-nil.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// Interface guard.
var _ Store = (*memoryStore)(nil)
