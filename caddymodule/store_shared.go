package wechatauth

import (
	"context"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// storePool keeps what must outlive a config reload: the revocations this
// process knows and the store they go through (its connections and its
// queue of revocations not yet written). Each config's wechat app holds a
// reference; a reload provisions the new config (one more reference)
// before it cleans up the old one, so a logout made before `caddy reload`
// is still refused after it, with the memory store too. The last
// reference closes the store.
var storePool = caddy.NewUsagePool()

// sharedStore is one pool entry: per store URL and key prefix.
type sharedStore struct {
	revocations *revocationSet
	store       Store
	redis       *redisStore // store, when it is Redis
	ttls        *sessionTTLs
}

// Destruct closes the store when no config uses it any more.
func (s *sharedStore) Destruct() error { return s.store.Close() }

// firstLoadWait bounds how long provisioning waits for the store's
// revocations on a replica's first start, so no port opens before a
// reachable store was read; a store that does not answer ends the wait
// at once (unchecked_sessions then says what happens).
const firstLoadWait = 15 * time.Second

// sharedStoreFor returns the pool entry for storeURL (empty: in memory)
// and the key to release it with.
func (a *App) sharedStoreFor(storeURL string) (*sharedStore, string, error) {
	key := "memory|" + a.KeyPrefix + "|" + a.replica
	if storeURL != "" {
		key = "redis|" + storeURL + "|" + a.KeyPrefix + "|" + a.replica
	}
	v, existed, err := storePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return a.newSharedStore(storeURL)
	})
	if err != nil {
		return nil, "", err
	}
	sh := v.(*sharedStore)
	if !existed && sh.redis != nil {
		if sh.redis.waitLoaded(firstLoadWait) {
			a.logger.Info("loaded the wechat store's revocations before serving", zap.Int("revocations", sh.revocations.size()))
		} else if sh.redis.state.Load() != stateDown {
			a.logger.Warn("the wechat store's revocations are still loading: until they are, a session issued before this replica started is handled as unchecked_sessions says",
				zap.String("store", sh.redis.where), zap.Duration("waited", firstLoadWait))
		} else if a.UncheckedSessions == uncheckedAdmit {
			a.logger.Warn("the wechat store is unreachable at start: sessions issued before this replica started are admitted without a revocation check (unchecked_sessions admit) until it answers")
		} else {
			a.logger.Warn("the wechat store is unreachable at start: until it answers, a session issued before this replica started is not trusted and its visitor signs in again (unchecked_sessions refuse)",
				zap.String("store", sh.redis.where))
		}
	}
	return sh, key, nil
}

func (a *App) newSharedStore(storeURL string) (*sharedStore, error) {
	sh := &sharedStore{revocations: newRevocationSet(nil), ttls: &sessionTTLs{m: make(map[string]time.Duration)}}
	sh.revocations.logger = a.logger
	// In Caddy one process is one replica, whose state the gauges show;
	// tests' stand-in replicas (replica set) leave them alone.
	sh.revocations.report = a.replica == ""
	if storeURL == "" {
		a.logger.Info("no wechat store configured: revocations, callback claims and token refreshes hold in this process only (they survive a config reload, not a restart); with several replicas, set store redis://… in the wechat global option")
		sh.store = newMemoryStore(sh.revocations, nil)
		sh.revocations.markLoaded()
		return sh, nil
	}
	rs, err := newRedisStore(storeURL, a.KeyPrefix, sh.revocations, a.logger)
	if err != nil {
		return nil, err
	}
	rs.known = sh.revocations.all
	rs.report, rs.queue.report = sh.revocations.report, sh.revocations.report
	// onSync runs after each whole load: the set is complete from then on.
	rs.onSync = func(ctx context.Context) {
		sh.revocations.markLoaded()
		sh.writeSessionTTLs(ctx)
	}
	sh.store, sh.redis = rs, rs
	rs.start()
	return sh, nil
}

// writeSessionTTLs raises each app_id's announced session_ttl in the store
// to this process's, never lowering what another gateway announced.
func (sh *sharedStore) writeSessionTTLs(ctx context.Context) {
	sh.ttls.mu.Lock()
	ttls := make(map[string]time.Duration, len(sh.ttls.m))
	for k, v := range sh.ttls.m {
		ttls[k] = v
	}
	sh.ttls.mu.Unlock()
	for appID, ttl := range ttls {
		sh.redis.raise(ctx, sessionTTLKey(appID), int64(ttl/time.Second))
	}
}

// announceSessionTTL records a handler's session_ttl for its app_id: no
// revocation of the app is kept longer here, and when the store is shared
// and up, it is written there.
func (sh *sharedStore) announceSessionTTL(appID string, ttl time.Duration) {
	sh.ttls.mu.Lock()
	sh.ttls.m[appID] = max(sh.ttls.m[appID], ttl)
	sh.ttls.mu.Unlock()
	sh.revocations.setSessionTTL(appID, ttl)
	if sh.redis != nil && sh.redis.up() {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		sh.writeSessionTTLs(ctx)
	}
}

// Values of unchecked_sessions.
const (
	uncheckedRefuse = "refuse"
	uncheckedAdmit  = "admit"
)

func validUncheckedSessions(v string) error {
	switch v {
	case "", uncheckedRefuse, uncheckedAdmit:
		return nil
	}
	return fmt.Errorf("wechat unchecked_sessions %q is not refuse or admit: leave it out (refuse) unless you accept that a revoked session passes while the store is unreachable at start", v)
}
