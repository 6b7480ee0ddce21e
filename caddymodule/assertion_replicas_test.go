package wechatauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// Generated keys on a real redis-server: two replicas (two wechat apps on
// one store, as two processes would be) sign with one key and publish the
// same set, and the keys rotate period by period under traffic without a
// verification failing for a verifier that caches the JWKS.

// redisReplica is a handler with assertion on, its app on srv, on clock.
func redisReplica(t *testing.T, srv *redistest.Server, name string, clock func() time.Time) *Handler {
	t.Helper()
	app := &App{Store: srv.URL(), replica: name}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	t.Cleanup(func() { _ = app.Cleanup() })
	if err := app.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !app.redis.up(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("store not connected")
		}
	}
	return provisionedHandler(t, func(h *Handler) {
		h.app, h.now = app, clock
		h.Assertion = &Assertion{Issuer: "https://gw.example", Audience: "https://app.example"}
	})
}

func jwksOf(t *testing.T, h *Handler) jose.JSONWebKeySet {
	t.Helper()
	w := httptest.NewRecorder()
	h.assert.serveJWKS(w, httptest.NewRequest("GET", "/wechat_auth/jwks.json", nil))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS %d %q: %v", w.Code, w.Body, err)
	}
	return set
}

// verifyWith checks tok against set with go-jose, at the given time.
func verifyWith(tok string, set jose.JSONWebKeySet, at time.Time) error {
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return err
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		return errUnknownKid
	}
	var c jwt.Claims
	if err := parsed.Claims(keys[0].Key, &c); err != nil {
		return err
	}
	return c.ValidateWithLeeway(jwt.Expected{Issuer: "https://gw.example", AnyAudience: jwt.Audience{"https://app.example"}, Time: at}, 0)
}

type verifyError string

func (e verifyError) Error() string { return string(e) }

const errUnknownKid = verifyError("unknown kid")

func TestReplicasOnRedisShareTheGeneratedKeysAndRotateWithoutAFailedVerification(t *testing.T) {
	srv := redistest.Start(t)
	saved := generatedKeyPeriod
	generatedKeyPeriod = time.Hour
	t.Cleanup(func() { generatedKeyPeriod = saved })
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a, b := redisReplica(t, srv, "a", clock), redisReplica(t, srv, "b", clock)

	setA, setB := jwksOf(t, a), jwksOf(t, b)
	if fmt.Sprint(kids(setA)) != fmt.Sprint(kids(setB)) {
		t.Fatalf("the replicas publish different keys: %v / %v", kids(setA), kids(setB))
	}
	ka, _ := a.assert.keys.current()
	kb, _ := b.assert.keys.current()
	if ka.kid != kb.kid {
		t.Fatalf("the replicas sign with different keys: %s / %s", ka.kid, kb.kid)
	}

	// Traffic on both replicas while the clock crosses four key periods;
	// the verifier refreshes its cached JWKS every 5 minutes (its
	// max-age), from either replica, and never on a failure.
	var failures, verified atomic.Int64
	cached := setA
	cachedAt := clock()
	r := httptest.NewRequest("GET", "https://app.example/", nil)
	for step := 0; step < 4*60; step++ { // 1-minute steps: 4 hours
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
		if clock().Sub(cachedAt) >= 5*time.Minute {
			cached, cachedAt = jwksOf(t, []*Handler{a, b}[step%2]), clock()
		}
		var wg sync.WaitGroup
		for i, h := range []*Handler{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := newIdentity(Session{AppID: h.AppID, OpenID: "o" + string(rune('A'+i)), Scope: "snsapi_base",
					Issued: clock().Unix(), Expires: clock().Add(time.Hour).Unix()}, sourceMP)
				hdr := http.Header{}
				h.assert.assertIdentity(r, hdr, newAdmitted(id, nil))
				if err := verifyWith(hdr.Get("X-Wechat-Assertion"), cached, clock()); err != nil {
					failures.Add(1)
					t.Errorf("step %d replica %d: %v", step, i%2, err)
					return
				}
				verified.Add(1)
			}()
		}
		wg.Wait()
	}
	k2, _ := a.assert.keys.current()
	if k2.kid == ka.kid {
		t.Error("four periods later the replicas still sign with the first key")
	}
	t.Logf("%d assertions verified across 4 key periods, %d failed", verified.Load(), failures.Load())
}

func kids(s jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range s.Keys {
		out = append(out, k.KeyID)
	}
	return out
}
