package wechatauth

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// redisStore shares state through Redis or Valkey. It never makes a request
// fail because Redis is away: while it is, every operation answers from a
// private memoryStore (claims and counters then hold for this process
// only), and revocations apply here at once and wait in a queue until a
// write of them succeeds. A health check on a timer (store_redis_sync.go)
// decides whether Redis is up, writes the queue, notices a Redis that lost
// its data or changed master, and reloads every replica's revocations. One
// log line says when Redis goes away and one when it is back.
type redisStore struct {
	client  redis.UniversalClient
	cluster bool
	prefix  string
	where   string   // the URL with its secrets masked, for log lines
	secrets []string // masked from any error text we log
	local   *memoryStore
	sink    RevocationSink
	// known returns every revocation this replica holds, to write back to
	// a store that lost its data; nil in the CLI.
	known  func() []Revocation
	logger *zap.Logger
	now    func() time.Time
	// healthEvery spaces the health checks.
	healthEvery time.Duration

	state      atomic.Int32 // stateUnknown, stateUp or stateDown
	subscribed atomic.Bool
	shardWarn  everyMinute // Cluster: one line a minute for other shards' failures
	report     bool        // this store's state is the process's store gauges
	queue      revocationQueue
	flushMu    sync.Mutex // one flush at a time
	syncMu     sync.Mutex // one resync at a time; guards epoch and server
	epoch      string     // the store's epoch when this replica last synced
	server     string     // run_id of the server that answered last
	loaded     chan struct{}
	loadOnce   sync.Once

	psMu sync.Mutex
	ps   *redis.PubSub
	// onSync, when set, runs after each successful resynchronization: the
	// place to (re)write what a restarted Redis has lost.
	onSync func(ctx context.Context)
	stop   context.CancelFunc
	done   chan struct{}
}

const (
	stateUnknown int32 = iota
	stateUp
	stateDown
)

// redisHealthEvery is how often a replica asks Redis whether it is there,
// on its command connections (where logins and logouts go).
const redisHealthEvery = time.Second

// incrScript starts a counter's window with its first increment, atomically
// and on Redis 6 as well as 7 and Valkey.
var incrScript = redis.NewScript(`local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// newRedisStore builds the store for a redis://, rediss://, valkey:// or
// unix:// URL. It does not connect: start does, in the background, so a
// Redis that is down at start-up does not stop Caddy from serving.
func newRedisStore(rawURL, prefix string, sink RevocationSink, logger *zap.Logger) (*redisStore, error) {
	client, where, secrets, err := newRedisClient(rawURL)
	if err != nil {
		return nil, err
	}
	_, cluster := client.(*redis.ClusterClient)
	return &redisStore{
		client:      client,
		cluster:     cluster,
		prefix:      prefix,
		where:       where,
		secrets:     secrets,
		local:       newMemoryStore(nil, nil),
		sink:        sink,
		logger:      logger,
		now:         time.Now,
		healthEvery: redisHealthEvery,
		loaded:      make(chan struct{}),
	}, nil
}

func (s *redisStore) key(k string) string { return s.prefix + k }

func (s *redisStore) revocationsKey() string { return s.prefix + "revocations" }

// channel is where revocations are announced. On Cluster its name carries
// the revocation key as a hash tag, so the set, the announcements and the
// subscription all live on one shard: losing another shard never touches
// revocations.
func (s *redisStore) channel() string {
	if s.cluster {
		return "{" + s.revocationsKey() + "}revoked"
	}
	return s.prefix + "revoked"
}

// up reports whether Redis answered last time; while it did not, operations
// go to memory without waiting on the network.
func (s *redisStore) up() bool { return s.state.Load() == stateUp }

// Shared is true while Redis is reachable.
func (s *redisStore) Shared() bool { return s.up() }

// failed records that Redis did not answer op (a constant naming the
// operation, for caddy_wechat_store_errors_total). Only a context the
// caller cancelled is not Redis's fault.
func (s *redisStore) failed(ctx context.Context, op string, err error) {
	// A request still in flight on a config being unloaded meets the closed
	// client: that is a reload, not an outage.
	if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
		return
	}
	procMetrics.storeError("redis", op)
	if s.cluster && !revocationOp(op) {
		// One shard of a Cluster failed for one key: the shard holding the
		// revocations (checked every second) decides whether the store is
		// up; this call carries on from memory, said once a minute.
		if s.shardWarn.allow(s.now()) {
			s.logger.Warn("a Redis Cluster shard did not answer for one wechat store key: this call carried on from this process's memory; revocations are unaffected unless their own shard fails",
				zap.String("store", s.where), zap.String("op", op), zap.String("error", s.redact(err)))
		}
		return
	}
	if s.state.Swap(stateDown) != stateDown {
		s.gauge(storeMetrics.up, 0)
		s.logger.Error("the wechat store is unreachable: sessions keep working from their cookies, logins use this process's claims, and logouts and revocations made now are queued and reach the other replicas when it is back; check the store setting of the wechat global option and that Redis/Valkey is running",
			zap.String("store", s.where), zap.String("op", op), zap.String("error", s.redact(err)))
	}
}

// gauge sets one of the process's store gauges, if this is its store.
func (s *redisStore) gauge(g interface{ Set(float64) }, v float64) {
	if s.report {
		g.Set(v)
	}
}

// revocationOp reports whether op is on the revocation set or its
// channel (whose shard decides, on Cluster, whether the store is up).
func revocationOp(op string) bool {
	switch op {
	case "health", "publish", "restore", "load", "revoke":
		return true
	}
	return false
}

// everyMinute lets something happen at most once a minute.
type everyMinute struct {
	mu   sync.Mutex
	last time.Time
}

func (e *everyMinute) allow(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if now.Sub(e.last) < time.Minute {
		return false
	}
	e.last = now
	return true
}

func (s *redisStore) redact(err error) string { return redactAll(err.Error(), s.secrets) }

// Revoke applies r here at once and queues it for the store; it is written
// now when Redis is up, and otherwise by the health check once Redis
// answers again. It leaves the queue only once written.
func (s *redisStore) Revoke(ctx context.Context, r Revocation) error {
	if !r.valid() {
		return errBadRevocation
	}
	if s.sink != nil {
		s.sink.Revoked(r)
	}
	now := s.now()
	s.queue.remember(r, now)
	if !s.queue.add(r) {
		storeMetrics.revocations[revocationsLost].Inc()
		if s.queue.lostNow(now) {
			s.logger.Error("a revocation could not be queued for the wechat store (the queue is full after a long outage): it holds on this replica only; run caddy wechat-session revoke for that person once the store is back",
				zap.String("store", s.where), zap.Int("queued", maxPendingRevocations))
		}
		return nil
	}
	if !s.up() || !s.flush(ctx) {
		storeMetrics.revocations[revocationsQueued].Inc()
	}
	return nil
}

// flush writes the queue, front first; what was written leaves it. It
// reports whether the queue is empty now.
func (s *redisStore) flush(ctx context.Context) bool {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	for {
		batch := s.queue.peek(flushBatch, s.now())
		if len(batch) == 0 {
			return true
		}
		if err := s.publish(ctx, batch...); err != nil {
			s.failed(ctx, "publish", err)
			return false
		}
		s.queue.done(len(batch))
	}
}

// publish stores rs (dropping revocations that have run their course) and
// announces them to every replica.
func (s *redisStore) publish(ctx context.Context, rs ...Revocation) error {
	now := s.now().Unix()
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, s.revocationsKey(), "-inf", strconv.FormatInt(now, 10))
		for _, r := range rs {
			// Keyed by what it names, so a repeat replaces rather than adds.
			p.ZAdd(ctx, s.revocationsKey(), redis.Z{Score: float64(r.Until), Member: r.encode()})
			p.Publish(ctx, s.channel(), r.encode())
		}
		return nil
	})
	return err
}

func (s *redisStore) Claim(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if s.up() {
		ok, err := s.client.SetNX(ctx, s.key(key), value, ttl).Result()
		if err == nil {
			return ok, nil
		}
		s.failed(ctx, "claim", err)
	}
	return s.local.Claim(ctx, key, value, ttl)
}

func (s *redisStore) Get(ctx context.Context, key string) ([]byte, error) {
	if s.up() {
		b, err := s.client.Get(ctx, s.key(key)).Bytes()
		if err == nil {
			return b, nil
		}
		if isRedisNil(err) {
			return nil, nil
		}
		s.failed(ctx, "get", err)
	}
	return s.local.Get(ctx, key)
}

func (s *redisStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if s.up() {
		err := s.client.Set(ctx, s.key(key), value, ttl).Err()
		if err == nil {
			return nil
		}
		s.failed(ctx, "set", err)
	}
	return s.local.Set(ctx, key, value, ttl)
}

func (s *redisStore) Delete(ctx context.Context, key string) error {
	if s.up() {
		err := s.client.Del(ctx, s.key(key)).Err()
		if err == nil {
			return nil
		}
		s.failed(ctx, "delete", err)
	}
	return s.local.Delete(ctx, key)
}

func (s *redisStore) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if s.up() {
		n, err := incrScript.Run(ctx, s.client, []string{s.key(key)}, ttl.Milliseconds()).Int64()
		if err == nil {
			return n, nil
		}
		s.failed(ctx, "incr", err)
	}
	return s.local.Incr(ctx, key, ttl)
}

// raiseScript sets a number unless the key already holds a larger one.
var raiseScript = redis.NewScript(`local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 0`)

// raise sets key to n unless it already holds more; best effort.
func (s *redisStore) raise(ctx context.Context, key string, n int64) {
	if err := raiseScript.Run(ctx, s.client, []string{s.key(key)}, n).Err(); err != nil && !isRedisNil(err) {
		s.failed(ctx, "raise", err)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Interface guard.
var _ Store = (*redisStore)(nil)

func isRedisNil(err error) bool { return errors.Is(err, redis.Nil) }
