package wechatauth

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// revocationsFromStore returns n session revocations as a replica gets
// them from the store: decoded from their encoded members.
func revocationsFromStore(n int) []Revocation {
	until := time.Now().Add(time.Hour).Unix()
	rs := make([]Revocation, n)
	for i := range rs {
		id := fmt.Sprintf("%022d", i) // a session id is 22 characters
		r, _ := decodeRevocation(Revocation{AppID: "wx0123456789abcdef", SessionID: id, Until: until}.encode())
		rs[i] = r
	}
	return rs
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkRevocationSetMemory reports what holding 100k and 1M
// revocations costs a replica (MiB of heap, bytes a revocation) and how
// long applying them takes. docs/operations.md quotes these figures.
func BenchmarkRevocationSetMemory(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for range b.N {
				before := heapInUse()
				rs := revocationsFromStore(n)
				set := newRevocationSet(nil)
				start := time.Now()
				set.Revoked(rs...)
				took := time.Since(start)
				rs = nil
				after := heapInUse()
				if set.size() != n {
					b.Fatalf("%d held, want %d", set.size(), n)
				}
				b.ReportMetric(float64(after-before)/(1<<20), "MiB")
				b.ReportMetric(float64(after-before)/float64(n), "B/revocation")
				b.ReportMetric(took.Seconds()*1000, "ms-apply")
				runtime.KeepAlive(set)
			}
		})
	}
}

// BenchmarkRedisStoreLoad reports how long a replica takes to load 100k
// and 1M revocations from a real redis-server (page by page), and the
// longest a lookup waited meanwhile: loading never holds lookups up for
// long, since the set takes each page in slices.
func BenchmarkRedisStoreLoad(b *testing.B) {
	srv := redistest.Start(b)
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			_, _ = srv.Do("FLUSHALL")
			c := redis.NewClient(&redis.Options{Addr: srv.Addr})
			defer c.Close()
			rs := revocationsFromStore(n)
			for i := 0; i < n; i += 10000 {
				zs := make([]redis.Z, 0, 10000)
				for _, r := range rs[i:min(i+10000, n)] {
					zs = append(zs, redis.Z{Score: float64(r.Until), Member: r.encode()})
				}
				if err := c.ZAdd(context.Background(), "bench:revocations", zs...).Err(); err != nil {
					b.Fatal(err)
				}
			}
			rs = nil
			for range b.N {
				set := newRevocationSet(nil)
				s, err := newRedisStore(srv.URL(), "bench:", set, nil)
				if err != nil {
					b.Fatal(err)
				}
				stop := make(chan struct{})
				worst := make(chan time.Duration)
				go func() { // a request's lookup, all along
					var w time.Duration
					for {
						select {
						case <-stop:
							worst <- w
							return
						default:
						}
						t := time.Now()
						set.revoked("wx0123456789abcdef", "x", "o", 0)
						w = max(w, time.Since(t))
					}
				}()
				start := time.Now()
				got, err := s.load(context.Background())
				took := time.Since(start)
				close(stop)
				w := <-worst
				_ = s.client.Close()
				if err != nil || got != n {
					b.Fatalf("loaded %d, %v", got, err)
				}
				b.ReportMetric(took.Seconds()*1000, "ms-load")
				b.ReportMetric(float64(w.Microseconds())/1000, "ms-worst-lookup")
			}
		})
	}
}
