package wechatauth

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// redisStore shares state through Redis or Valkey. It never makes a request
// fail because Redis is away: while it is, every operation answers from a
// private memoryStore (claims and counters then hold for this process
// only), revocations apply here at once and are queued, and a background
// loop reconnects, writes the queue and reloads every replica's
// revocations. One log line says when Redis goes away and one when it is
// back.
type redisStore struct {
	client redis.UniversalClient
	prefix string
	where  string // the URL without its password, for log lines
	secret string // the password, redacted from any error text we log
	local  *memoryStore
	sink   RevocationSink
	logger *zap.Logger
	now    func() time.Time

	state   atomic.Int32 // stateUnknown, stateUp or stateDown
	mu      sync.Mutex
	pending []Revocation // made while Redis was away; written when it is back

	ps *redis.PubSub
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

const (
	// redisRetryPause spaces reconnection attempts while Redis is away.
	redisRetryPause = 500 * time.Millisecond
	// redisIdleCheck is how long the event loop waits for a message before
	// it checks that the connection is still alive.
	redisIdleCheck = 2 * time.Second
	// maxPendingRevocations bounds the queue kept while Redis is away; the
	// revocations beyond it still apply in this process.
	maxPendingRevocations = 10000
)

// incrScript starts a counter's window with its first increment, atomically
// and on Redis 6 as well as 7 and Valkey.
var incrScript = redis.NewScript(`local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// newRedisStore builds the store for a redis://, rediss://, valkey:// or
// unix:// URL. It does not connect: start does, in the background, so a
// Redis that is down at start-up does not stop Caddy from serving.
func newRedisStore(rawURL, prefix string, sink RevocationSink, logger *zap.Logger) (*redisStore, error) {
	client, where, secret, err := newRedisClient(rawURL)
	if err != nil {
		return nil, err
	}
	return &redisStore{
		client: client,
		prefix: prefix,
		where:  where,
		secret: secret,
		local:  newMemoryStore(nil, nil),
		sink:   sink,
		logger: logger,
		now:    time.Now,
	}, nil
}

func (s *redisStore) key(k string) string { return s.prefix + k }

func (s *redisStore) revocationsKey() string { return s.prefix + "revocations" }

func (s *redisStore) channel() string { return s.prefix + "revoked" }

// up reports whether Redis answered last time; while it did not, operations
// go to memory without waiting on the network.
func (s *redisStore) up() bool { return s.state.Load() == stateUp }

// Shared is true while Redis is reachable.
func (s *redisStore) Shared() bool { return s.up() }

// start connects and runs the event loop until Close.
func (s *redisStore) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.done = make(chan struct{})
	// Without channels Subscribe does not connect: run does, so a Redis
	// that is down never holds up Caddy's start.
	s.ps = s.client.Subscribe(ctx)
	go s.run(ctx)
}

// Close stops the event loop (closing the subscription ends a read in
// progress at once) and the client.
func (s *redisStore) Close() error {
	if s.stop != nil {
		s.stop()
		_ = s.ps.Close()
		<-s.done
	}
	return s.client.Close()
}

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
	if s.state.Swap(stateDown) != stateDown {
		s.logger.Error("the wechat store is unreachable: sessions keep working from their cookies, logins use this process's claims, and logouts and revocations made now reach the other replicas when it is back; check the store setting of the wechat global option and that Redis/Valkey is running",
			zap.String("store", s.where), zap.String("error", s.redact(err)))
	}
}

func (s *redisStore) redact(err error) string {
	msg := err.Error()
	if s.secret != "" {
		msg = strings.ReplaceAll(msg, s.secret, "xxxxx")
	}
	return msg
}

// Revoke applies r here at once and, through Redis, everywhere else.
func (s *redisStore) Revoke(ctx context.Context, r Revocation) error {
	if !r.valid() {
		return errBadRevocation
	}
	if s.sink != nil {
		s.sink.Revoked(r)
	}
	if s.up() {
		err := s.publish(ctx, r)
		if err == nil {
			return nil
		}
		s.failed(ctx, "revoke", err)
	}
	s.mu.Lock()
	if len(s.pending) < maxPendingRevocations {
		s.pending = append(s.pending, r)
	}
	s.mu.Unlock()
	return nil
}

// publish stores r (dropping revocations that have run their course) and
// announces it to every replica.
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

// load returns every live revocation Redis holds.
func (s *redisStore) load(ctx context.Context) ([]Revocation, error) {
	members, err := s.client.ZRangeByScore(ctx, s.revocationsKey(), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(s.now().Unix(), 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, err
	}
	rs := make([]Revocation, 0, len(members))
	for _, m := range members {
		if r, err := decodeRevocation(m); err == nil {
			rs = append(rs, r)
		}
	}
	return rs, nil
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

// run is the event loop: it subscribes to revocations, resynchronizes on
// every (re)subscription, and notices when Redis goes away.
func (s *redisStore) run(ctx context.Context) {
	defer close(s.done)
	ps := s.ps
	if err := ps.Subscribe(ctx, s.channel()); err != nil {
		s.failed(ctx, "subscribe", err) // Receive below retries
	}
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, redisIdleCheck)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.idle(ctx, ps)
				continue
			}
			s.failed(ctx, "receive", err)
			sleepCtx(ctx, redisRetryPause)
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				s.resync(ctx)
			}
		case *redis.Message:
			if r, err := decodeRevocation(m.Payload); err == nil && s.sink != nil {
				procMetrics.revocation(revocationReceived)
				s.sink.Revoked(r)
			}
		}
	}
}

// idle runs when no event came for a while: a ping on the subscription
// connection finds a dead one, and a store marked down by a failed command
// while the subscription stayed up comes back once Redis answers.
func (s *redisStore) idle(ctx context.Context, ps *redis.PubSub) {
	if err := ps.Ping(ctx); err != nil {
		s.failed(ctx, "ping", err)
		return
	}
	if !s.up() {
		s.resync(ctx)
	}
}

// resync writes what was revoked while Redis was away, then loads every
// live revocation, so a replica that was cut off or just started refuses
// what the others refuse.
func (s *redisStore) resync(ctx context.Context) {
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(pending) > 0 {
		if err := s.publish(ctx, pending...); err != nil {
			s.requeue(pending)
			s.failed(ctx, "publish", err)
			return
		}
	}
	rs, err := s.load(ctx)
	if err != nil {
		s.failed(ctx, "load", err)
		return
	}
	if s.sink != nil && len(rs) > 0 {
		s.sink.Revoked(rs...)
	}
	if s.onSync != nil {
		s.onSync(ctx)
	}
	switch s.state.Swap(stateUp) {
	case stateDown:
		s.logger.Info("the wechat store is reachable again: revocations are shared between replicas again",
			zap.String("store", s.where), zap.Int("revocations_loaded", len(rs)), zap.Int("revocations_written", len(pending)))
	case stateUnknown:
		s.logger.Info("the wechat store is connected: revocations, callback claims and token refreshes are shared between replicas",
			zap.String("store", s.where), zap.Int("revocations_loaded", len(rs)))
	}
}

func (s *redisStore) requeue(rs []Revocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	room := min(max(maxPendingRevocations-len(s.pending), 0), len(rs))
	s.pending = append(rs[:room:room], s.pending...)
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
