package wechatauth

import (
	"context"
	"errors"
	"net"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// The subscription to every replica's revocation events. It is not what
// says whether the store is up (the health check on the command
// connections does, store_redis_sync.go), but it must be live for events
// to arrive: a failure is logged once, and every (re)subscription reloads
// the whole set, which covers the events missed meanwhile.

func (s *redisStore) pubsub() *redis.PubSub {
	s.psMu.Lock()
	defer s.psMu.Unlock()
	return s.ps
}

// renewSubscription replaces the subscription: run subscribes the new one,
// on whichever server is the master now.
func (s *redisStore) renewSubscription() {
	s.psMu.Lock()
	old := s.ps
	s.ps = s.client.Subscribe(context.Background())
	s.psMu.Unlock()
	_ = old.Close()
}

// run is the subscription loop: it receives every replica's revocations,
// resynchronizes on every (re)subscription, and renews a subscription that
// stopped answering.
func (s *redisStore) run(ctx context.Context) {
	var cur *redis.PubSub
	pinged := false
	for ctx.Err() == nil {
		ps := s.pubsub()
		if ps != cur {
			cur, pinged = ps, false
			if err := ps.Subscribe(ctx, s.channel()); err != nil {
				s.unsubscribed(ctx, err) // Receive below retries
			}
		}
		msg, err := ps.ReceiveTimeout(ctx, redisIdleCheck)
		if err != nil {
			if ctx.Err() != nil || ps != s.pubsub() {
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if pinged {
					// No answer to the last ping within a whole wait: the
					// link is stalled although not closed.
					s.unsubscribed(ctx, errors.New("no answer to PING on the subscription"))
					s.renewSubscription()
					continue
				}
				pinged = ps.Ping(ctx) == nil
				continue
			}
			s.unsubscribed(ctx, err)
			sleepCtx(ctx, redisRetryPause)
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				if !s.subscribed.Swap(true) {
					s.gauge(storeMetrics.subscribed, 1)
				}
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

// unsubscribed records that the subscription failed; once per outage, a
// log line says so.
func (s *redisStore) unsubscribed(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
		return
	}
	procMetrics.storeError("redis", "subscribe")
	if s.subscribed.Swap(false) {
		s.gauge(storeMetrics.subscribed, 0)
		s.logger.Warn("the subscription to the wechat store's revocation events is lost: other replicas' logouts reach this one when it is back (it reconnects and reloads them)",
			zap.String("store", s.where), zap.String("error", s.redact(err)))
	}
}
