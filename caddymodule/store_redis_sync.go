package wechatauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// How a replica keeps its copy of the revocations and the store in step:
//
//   - a health check on a timer asks Redis, on the command connections,
//     for its identity (run_id) and the store's epoch; its answer, not the
//     absence of events, decides whether the store is up;
//   - a queued revocation is written by the first check that finds Redis
//     answering, whatever state changes raced with it;
//   - an epoch member in the revocation set marks it as complete: a Redis
//     that restarted empty, was flushed, or evicted the key has none, and
//     every replica then writes back what it holds;
//   - a different run_id (a failover, a restart) renews the subscription,
//     which otherwise stays on the old master, and writes the last minutes'
//     revocations again, which a promoted replica may have missed;
//   - every (re)subscription and every recovery loads the whole set.

const (
	// redisRetryPause spaces reconnection attempts of the subscription.
	redisRetryPause = 500 * time.Millisecond
	// redisIdleCheck is how long the subscription waits for a message
	// before it pings; a ping unanswered by the next wait renews it.
	redisIdleCheck = 2 * time.Second
	// redisCheckTimeout bounds one health check; redisSyncTimeout one
	// resynchronization (a million revocations load in about a second).
	redisCheckTimeout = 2 * time.Second
	redisSyncTimeout  = time.Minute
	// loadPage and restoreBatch size the reads and writes of a whole set.
	loadPage     = 10000
	restoreBatch = 1000
	// epochPrefix starts the epoch member of the revocation set. Its score
	// is +inf, so it is never pruned with spent revocations, and it is no
	// revocation, so a replica loading the set skips it.
	epochPrefix = "e|"
)

// start connects and runs the subscription and the health check until
// Close.
func (s *redisStore) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.done = make(chan struct{})
	// Without channels Subscribe does not connect: run does, so a Redis
	// that is down never holds up Caddy's start.
	s.ps = s.client.Subscribe(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.run(ctx) }()
	go func() { defer wg.Done(); s.watch(ctx) }()
	go func() { wg.Wait(); close(s.done) }()
}

// Close stops both loops (closing the subscription ends a read in progress
// at once) and the client.
func (s *redisStore) Close() error {
	if s.stop != nil {
		s.stop()
		_ = s.pubsub().Close()
		<-s.done
	}
	return s.client.Close()
}

// waitLoaded waits until the whole set was loaded once, the health check
// found Redis unreachable, or d passed; it reports whether it was loaded.
func (s *redisStore) waitLoaded(d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-s.loaded:
			return true
		case <-deadline.C:
			return false
		case <-poll.C:
			if s.state.Load() == stateDown {
				return false
			}
		}
	}
}

// watch runs the health check every healthEvery.
func (s *redisStore) watch(ctx context.Context) {
	t := time.NewTicker(s.healthEvery)
	defer t.Stop()
	for {
		s.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check asks Redis whether it is there and unchanged; it resynchronizes
// when Redis is back, another server answers, or the epoch changed, and
// writes what is queued.
func (s *redisStore) check(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, redisCheckTimeout)
	server, epoch, err := s.probe(cctx)
	cancel()
	if err != nil {
		s.failed(ctx, "health", err)
		return
	}
	s.syncMu.Lock()
	same := server == s.server && epoch != "" && epoch == s.epoch
	s.syncMu.Unlock()
	if !same || !s.up() {
		s.resync(ctx)
		return
	}
	s.gauge(storeMetrics.lastSync, float64(s.now().Unix()))
	if s.queue.len() > 0 {
		cctx, cancel := context.WithTimeout(ctx, redisCheckTimeout)
		written := s.queue.len()
		if s.flush(cctx) {
			storeMetrics.revocations[revocationsWritten].Add(float64(written))
		}
		cancel()
	}
}

// probe returns the answering server's run_id (empty on Cluster, whose
// nodes each have one) and the store's epoch (empty when it has none).
func (s *redisStore) probe(ctx context.Context) (server, epoch string, err error) {
	var info *redis.StringCmd
	var ep *redis.StringSliceCmd
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		if !s.cluster {
			info = p.Info(ctx, "server")
		}
		ep = p.ZRangeByScore(ctx, s.revocationsKey(), &redis.ZRangeBy{Min: "+inf", Max: "+inf", Count: 1})
		return nil
	})
	if err != nil {
		return "", "", err
	}
	if info != nil {
		server = infoField(info.Val(), "run_id")
	}
	if m := ep.Val(); len(m) > 0 && strings.HasPrefix(m[0], epochPrefix) {
		epoch = m[0]
	}
	return server, epoch, nil
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// resync brings this replica and the store in step: it writes the queue,
// writes back everything this replica holds when the store lost its set,
// follows a new master, and loads the whole set.
func (s *redisStore) resync(parent context.Context) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	ctx, cancel := context.WithTimeout(parent, redisSyncTimeout)
	defer cancel()
	server, epoch, err := s.probe(ctx)
	if err != nil {
		s.failed(parent, "health", err)
		return
	}
	queued := s.queue.len()
	if !s.flush(ctx) {
		return
	}
	restored, rewritten := 0, 0
	if epoch == "" || (s.epoch != "" && epoch != s.epoch) {
		// The set is gone or was replaced: write back what this replica
		// holds, then mark the set complete again.
		if restored, err = s.restore(ctx); err != nil {
			s.failed(parent, "restore", err)
			return
		}
		if epoch == "" {
			if epoch, err = s.newEpoch(ctx); err != nil {
				s.failed(parent, "restore", err)
				return
			}
		}
	}
	moved := s.server != "" && server != s.server
	if moved {
		// A promoted replica may lack the last writes, and the
		// subscription still listens to the old master.
		recent := s.queue.lately(s.now())
		if len(recent) > 0 {
			if err := s.publish(ctx, recent...); err != nil {
				s.failed(parent, "publish", err)
				return
			}
		}
		rewritten = len(recent)
		s.renewSubscription()
	}
	loaded, err := s.load(ctx)
	if err != nil {
		s.failed(parent, "load", err)
		return
	}
	if s.onSync != nil {
		s.onSync(ctx)
	}
	lost := s.epoch != "" && epoch != s.epoch
	s.epoch, s.server = epoch, server
	s.gauge(storeMetrics.lastSync, float64(s.now().Unix()))
	if queued > 0 {
		storeMetrics.revocations[revocationsWritten].Add(float64(queued))
	}
	s.loadOnce.Do(func() { close(s.loaded) })
	if lost || (restored > 0 && s.state.Load() != stateUnknown) {
		s.logger.Warn("the wechat store had lost its revocations (Redis restarted without persistence, was flushed, failed over to a replica without them, or evicted the key): this replica wrote back the ones it holds; give Redis appendonly yes and maxmemory-policy noeviction (see docs/operations.md)",
			zap.String("store", s.where), zap.Int("revocations_restored", restored))
	}
	if moved {
		s.logger.Info("a different Redis server answers the wechat store (failover or restart): subscribed again and wrote the recent revocations again",
			zap.String("store", s.where), zap.Int("revocations_rewritten", rewritten))
	}
	s.gauge(storeMetrics.up, 1)
	switch s.state.Swap(stateUp) {
	case stateDown:
		s.logger.Info("the wechat store is reachable again: revocations are shared between replicas again",
			zap.String("store", s.where), zap.Int("revocations_loaded", loaded), zap.Int("revocations_written", queued))
	case stateUnknown:
		s.logger.Info("the wechat store is connected: revocations, callback claims and token refreshes are shared between replicas",
			zap.String("store", s.where), zap.Int("revocations_loaded", loaded), zap.Int("revocations_restored", restored))
	}
}

// restore writes every revocation this replica holds into the store's set
// (without announcing them: every replica holding them already refuses
// them), and counts them.
func (s *redisStore) restore(ctx context.Context) (int, error) {
	if s.known == nil {
		return 0, nil
	}
	rs := s.known()
	total := len(rs)
	for len(rs) > 0 {
		n := min(len(rs), restoreBatch)
		zs := make([]redis.Z, n)
		for i, r := range rs[:n] {
			zs[i] = redis.Z{Score: float64(r.Until), Member: r.encode()}
		}
		if err := s.client.ZAdd(ctx, s.revocationsKey(), zs...).Err(); err != nil {
			return 0, err
		}
		storeMetrics.revocations[revocationsRestored].Add(float64(n))
		rs = rs[n:]
	}
	return total, nil
}

// newEpoch marks the set complete and returns its epoch: the first epoch
// member, so two replicas restoring at once agree on one.
func (s *redisStore) newEpoch(ctx context.Context) (string, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	if err := s.client.ZAddNX(ctx, s.revocationsKey(), redis.Z{Score: redisInf, Member: epochPrefix + hex.EncodeToString(b)}).Err(); err != nil {
		return "", err
	}
	_, epoch, err := s.probe(ctx)
	if err == nil && epoch == "" {
		err = errors.New("the epoch just written is missing")
	}
	return epoch, err
}

// redisInf is the score of the epoch member.
var redisInf = math.Inf(1)

// load hands every live revocation the store holds to the sink, page by
// page, and returns how many there were.
func (s *redisStore) load(ctx context.Context) (int, error) {
	now := s.now()
	n := 0
	var cursor uint64
	page := make([]Revocation, 0, loadPage)
	for {
		kv, next, err := s.client.ZScan(ctx, s.revocationsKey(), cursor, "", loadPage).Result()
		if err != nil {
			return n, err
		}
		page = page[:0]
		for i := 0; i+1 < len(kv); i += 2 {
			if r, err := decodeRevocation(kv[i]); err == nil && !r.expired(now) {
				page = append(page, r)
			}
		}
		if s.sink != nil && len(page) > 0 {
			s.sink.Revoked(page...)
		}
		n += len(page)
		if next == 0 {
			return n, nil
		}
		cursor = next
	}
}
