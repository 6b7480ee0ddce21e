package wechatauth

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// The one way tests build a Handler: the real Provision, in a Caddy context
// of its own. provisionedHandler starts from a working configuration that
// settings may change; newTestHandler adds session keys and the fake clock.

// provisionHandler provisions h as Caddy would and cleans it up after the
// test. It returns Provision's error, for tests of that error.
func provisionHandler(tb testing.TB, h *Handler) error {
	tb.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		return err
	}
	tb.Cleanup(func() { _ = h.Cleanup() })
	return nil
}

// provisionedHandler is a provisioned Handler for wx0123456789abcdef with
// fixed keys, WeChat unreachable, after settings changed what it needs.
func provisionedHandler(tb testing.TB, settings func(*Handler)) *Handler {
	tb.Helper()
	h := &Handler{
		AppID:     "wx0123456789abcdef",
		AppSecret: "0123456789abcdef0123456789abcdef",
		SessionKeys: []SessionKey{{
			HashKey:  base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
			BlockKey: base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210")),
		}},
		APIBase:  "http://127.0.0.1:1",
		OpenBase: "http://127.0.0.1:1",
	}
	if settings != nil {
		settings(h)
	}
	if err := provisionHandler(tb, h); err != nil {
		tb.Fatal(err)
	}
	return h
}

// newTestHandler is a provisioned Handler for testAppID whose session keys
// are pairs (hash, block, hash, block …; a nil block key signs only), on a
// fake clock that tests may move through *now.
func newTestHandler(tb testing.TB, pairs [][]byte) (*Handler, *time.Time) {
	tb.Helper()
	return newTestHandlerWith(tb, pairs, nil)
}

// newTestHandlerWith is newTestHandler with settings applied before it is
// provisioned.
func newTestHandlerWith(tb testing.TB, pairs [][]byte, settings func(*Handler)) (*Handler, *time.Time) {
	tb.Helper()
	now := fixedNow
	h := provisionedHandler(tb, func(h *Handler) {
		h.AppID = testAppID
		h.now = func() time.Time { return now }
		h.SessionKeys = nil
		for i := 0; i < len(pairs); i += 2 {
			k := SessionKey{HashKey: base64.StdEncoding.EncodeToString(pairs[i])}
			if i+1 < len(pairs) && pairs[i+1] != nil {
				k.BlockKey = base64.StdEncoding.EncodeToString(pairs[i+1])
			}
			h.SessionKeys = append(h.SessionKeys, k)
		}
		if settings != nil {
			settings(h)
		}
	})
	if h.sessions.revs != nil {
		h.sessions.revs.now = h.now
	}
	return h, &now
}
