package wechatauth

import (
	"context"
	"crypto/cipher"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
)

// newRelayClient is a client handler (relay <url>) on the fake clock, for
// https://allowed.com (holding only that origin's key, derived from
// testSecrets(1)), with one relay flow in progress for testState.
func newRelayClient(t *testing.T) (*Handler, *time.Time, flowState) {
	t.Helper()
	h, now := newTestHandler(t, testPair(1))
	h.PathPrefix, h.Scope, h.logger = defaultPathPrefix, "snsapi_base", zap.NewNop()
	rc := &relayClientFlow{
		appID:    testAppID,
		source:   sourceMP.forApp(testAppID),
		seal:     newRelaySeal(testAppID, clientRing(map[origin][]cipher.AEAD{allowed: relayRing(testSecrets(1))(allowed)}), func() time.Time { return *now }),
		endpoint: "https://wx.example.com/wechat_auth/relay",
		claims:   storeClaims{newMemoryStore(nil, func() time.Time { return *now })},
		origins:  []origin{allowed},
		logins:   h.logins,
		logger:   h.logger,
	}
	h.logins.flows = []signInFlow{rc}
	h.sessions.flows = h.logins.flows
	h.sites.guard = rc
	h.routes = h.routeTable()
	f := flowState{State: testState, Return: "/orders?id=7#/x", Scope: "snsapi_base", Created: now.Unix(), Kind: kindRelayClient}
	return h, now, f
}

// deliver sends hand-back hb to the client's /handback in a browser holding
// flow f (none when f.State is empty) and returns the answer.
func deliver(t *testing.T, h *Handler, f flowState, hb string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "https://allowed.com/wechat_auth/handback?hb="+url.QueryEscape(hb), nil)
	if f.State != "" {
		r.Header = flowRequest(t, h, f.State, f).Header
	}
	w := httptest.NewRecorder()
	if err := serveRoute(w, r, h.routes, h.sites, "handback"); err != nil {
		t.Fatal(err)
	}
	return w
}

func sessionSet(w *httptest.ResponseRecorder) bool {
	for _, c := range w.Result().Cookies() {
		if c.Name == defaultCookieName && c.Value != "" {
			return true
		}
	}
	return false
}

// allowed is the test client's origin.
var allowed = origin{Scheme: "https", Host: "allowed.com"}

// handBackFor is a hand-back the relay (whose secret h's seal derives from)
// seals for client, with state.
func handBackFor(t *testing.T, h *Handler, client, state string) string {
	t.Helper()
	o, err := parseClientOrigin(client)
	if err != nil {
		t.Fatal(err)
	}
	hb := testHandBack()
	hb.State = state
	relay := newRelaySeal(testAppID, relayRing(testSecrets(1)), relayClientOf(h).seal.now)
	v, err := relay.sealHandBack(o, hb)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHandBackTurnsIntoASessionAndReturnsToTheStartingPage(t *testing.T) {
	h, _, f := newRelayClient(t)
	w := deliver(t, h, f, handBackFor(t, h, "https://allowed.com", testState))
	if w.Code != http.StatusFound || w.Header().Get("Location") != "/orders?id=7#/x" || !sessionSet(w) {
		t.Fatalf("got %d %q, session %v: %s", w.Code, w.Header().Get("Location"), sessionSet(w), w.Body)
	}
	var got *identity
	for _, c := range w.Result().Cookies() {
		if c.Name == defaultCookieName {
			got = h.sessions.verify(c.Value)
		}
	}
	if got == nil || got.sess.OpenID != validSession().OpenID || got.sess.Expires != fixedNow.Add(h.sessions.ttl).Unix() {
		t.Fatalf("the session is not the hand-back's identity with this site's TTL: %+v", got)
	}
}

func TestHandBackRefusedLateTwiceElsewhereOrWithoutItsFlow(t *testing.T) {
	cases := map[string]func(t *testing.T, h *Handler, now *time.Time, f flowState) *httptest.ResponseRecorder{
		"61 seconds late": func(t *testing.T, h *Handler, now *time.Time, f flowState) *httptest.ResponseRecorder {
			hb := handBackFor(t, h, "https://allowed.com", testState)
			*now = now.Add(handBackTTL + time.Second)
			f.Created = now.Unix()
			return deliver(t, h, f, hb)
		},
		"spent": func(t *testing.T, h *Handler, now *time.Time, f flowState) *httptest.ResponseRecorder {
			hb := handBackFor(t, h, "https://allowed.com", testState)
			if w := deliver(t, h, f, hb); w.Code != http.StatusFound {
				t.Fatalf("first use: %d", w.Code)
			}
			return deliver(t, h, f, hb) // the same flow cookie, no session cookie
		},
		"another host": func(t *testing.T, h *Handler, now *time.Time, f flowState) *httptest.ResponseRecorder {
			return deliver(t, h, f, handBackFor(t, h, "https://other.example.com", testState))
		},
		"another port": func(t *testing.T, h *Handler, now *time.Time, f flowState) *httptest.ResponseRecorder {
			return deliver(t, h, f, handBackFor(t, h, "https://allowed.com:8443", testState))
		},
		"another scheme": func(t *testing.T, h *Handler, now *time.Time, f flowState) *httptest.ResponseRecorder {
			return deliver(t, h, f, handBackFor(t, h, "http://allowed.com", testState))
		},
		"no flow cookie": func(t *testing.T, h *Handler, now *time.Time, f flowState) *httptest.ResponseRecorder {
			return deliver(t, h, flowState{}, handBackFor(t, h, "https://allowed.com", testState))
		},
		"a flow not via the relay": func(t *testing.T, h *Handler, now *time.Time, f flowState) *httptest.ResponseRecorder {
			f.Kind = kindMP
			return deliver(t, h, f, handBackFor(t, h, "https://allowed.com", testState))
		},
		"another state": func(t *testing.T, h *Handler, now *time.Time, f flowState) *httptest.ResponseRecorder {
			return deliver(t, h, f, handBackFor(t, h, "https://allowed.com", strings.Repeat("Z", stateLen)))
		},
		"a stale flow": func(t *testing.T, h *Handler, now *time.Time, f flowState) *httptest.ResponseRecorder {
			f.Created = now.Add(-flowTTL - time.Second).Unix()
			return deliver(t, h, f, handBackFor(t, h, "https://allowed.com", testState))
		},
		"other keys": func(t *testing.T, h *Handler, now *time.Time, f flowState) *httptest.ResponseRecorder {
			other := newRelaySeal(testAppID, relayRing(testSecrets(9)), relayClientOf(h).seal.now)
			v, _ := other.sealHandBack(allowed, testHandBack())
			return deliver(t, h, f, v)
		},
		"empty": func(t *testing.T, h *Handler, now *time.Time, f flowState) *httptest.ResponseRecorder {
			return deliver(t, h, f, "")
		},
	}
	for name, run := range cases {
		t.Run(name, func(t *testing.T) {
			h, now, f := newRelayClient(t)
			w := run(t, h, now, f)
			if w.Code != http.StatusBadRequest || sessionSet(w) || w.Header().Get("Location") != "" {
				t.Fatalf("got %d, Location %q, session %v", w.Code, w.Header().Get("Location"), sessionSet(w))
			}
			if !strings.Contains(w.Body.String(), "/wechat_auth/login?") {
				t.Fatalf("the refusal offers no new login: %s", w.Body)
			}
		})
	}
}

func TestHandBackIsSpentEvenWhenRefused(t *testing.T) {
	h, _, f := newRelayClient(t)
	hb := handBackFor(t, h, "https://allowed.com", testState)
	if w := deliver(t, h, flowState{}, hb); w.Code != http.StatusBadRequest {
		t.Fatalf("without its flow: %d", w.Code)
	}
	if w := deliver(t, h, f, hb); w.Code != http.StatusBadRequest || sessionSet(w) {
		t.Fatalf("after a refused delivery the hand-back still worked: %d", w.Code)
	}
}

// failingClaims is a store that cannot answer.
type failingClaims struct{}

func (failingClaims) claim(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("store unreachable and no memory fallback")
}

func TestHandBackFailsClosedWhenItCannotBeRecordedAsSpent(t *testing.T) {
	h, _, f := newRelayClient(t)
	relayClientOf(h).claims = failingClaims{}
	w := deliver(t, h, f, handBackFor(t, h, "https://allowed.com", testState))
	if w.Code != http.StatusServiceUnavailable || sessionSet(w) {
		t.Fatalf("got %d, session %v", w.Code, sessionSet(w))
	}
}

// Two client replicas, each with its own Redis connection (and its own
// memory fallback), share one redis-server: a hand-back spent on one is
// refused on the other, in a browser holding the very same flow cookie.
func TestHandBackSpentOnOneReplicaIsRefusedOnAnother(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := startRedisStore(t, srv.URL(), nil)
	b, _ := startRedisStore(t, srv.URL(), nil)
	ha, _, f := newRelayClient(t)
	hb, _, _ := newRelayClient(t)
	relayClientOf(ha).claims, relayClientOf(hb).claims = storeClaims{a}, storeClaims{b}
	v := handBackFor(t, ha, "https://allowed.com", testState)
	if w := deliver(t, ha, f, v); w.Code != http.StatusFound || !sessionSet(w) {
		t.Fatalf("replica A: %d", w.Code)
	}
	if w := deliver(t, hb, f, v); w.Code != http.StatusBadRequest || sessionSet(w) {
		t.Fatalf("replica B took a hand-back replica A had spent: %d", w.Code)
	}
	// The control: a fresh hand-back works on B.
	if w := deliver(t, hb, f, handBackFor(t, hb, "https://allowed.com", testState)); w.Code != http.StatusFound {
		t.Fatalf("replica B refused a fresh hand-back: %d", w.Code)
	}
}

func TestHandBackEndpointAnswersOnlyOnARelayClient(t *testing.T) {
	h, _, f := newRelayClient(t)
	hb := handBackFor(t, h, "https://allowed.com", testState)
	// The same handler without the relay client's flow: the Official
	// Account's own, as a site with app_secret has.
	h.logins.flows = []signInFlow{&mpFlow{acct: h.acct, source: sourceMP.forApp(testAppID), links: h.logins.links, now: h.now, logger: h.logger}}
	h.sites.guard = nil
	h.routes = h.routeTable()
	if w := deliver(t, h, f, hb); w.Code != http.StatusNotFound || sessionSet(w) {
		t.Fatalf("a site that is no relay client took a hand-back: %d", w.Code)
	}
}

// relayClientOf is the relay client flow of a handler from newRelayClient.
func relayClientOf(h *Handler) *relayClientFlow {
	for _, fl := range h.logins.flows {
		if rc, ok := fl.(*relayClientFlow); ok {
			return rc
		}
	}
	panic("not a relay client")
}
