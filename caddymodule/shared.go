package wechatauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"go.uber.org/zap"
)

// What a handler does with the wechat app's store: revoke a session at
// logout, refuse revoked sessions (first sight of a cookie, and memo hits
// after a revocation event), and redeem each callback code once across
// replicas. The hot path never waits on the store: revocations are a
// memory lookup, refreshed by events.

const (
	// claimTTL is how long a callback code's claim and its answer are kept:
	// a repeat of the same callback within it gets the same session.
	claimTTL = time.Minute
	// claimPoll spaces the looks of a replica waiting for another one's
	// answer to the same code.
	claimPoll = 25 * time.Millisecond
	// storeTimeout bounds a store operation on a request path; the store
	// answers from memory after its own shorter timeouts anyway.
	storeTimeout = 3 * time.Second
)

// claimPending marks a code being redeemed; an answer starts with 's'.
var claimPending = []byte{'p'}

// current reports whether a memoized identity may still be trusted. It is
// two atomic loads unless a revocation arrived since the identity was last
// checked; then it is looked up again, in memory.
func (h *Handler) current(id *identity) bool {
	g := h.revs.generation()
	if id.checked.Load() == g {
		return true
	}
	if h.revs.revoked(id.sess.AppID, id.sess.ID, id.sess.OpenID, id.sess.issuedMs()) {
		return false
	}
	id.checked.Store(g)
	return true
}

// notRevoked checks a session seen for the first time and records the
// generation it was checked at. The generation is read first, so a
// revocation landing during the check makes the next memo hit look again.
func (h *Handler) notRevoked(id *identity) bool {
	g := h.revs.generation()
	if h.revs.revoked(id.sess.AppID, id.sess.ID, id.sess.OpenID, id.sess.issuedMs()) {
		return false
	}
	id.checked.Store(g)
	return true
}

// revokeSession ends s on every replica the store reaches (here at once).
// A session from before session ids is revoked with every session of its
// openid issued up to its second.
func (h *Handler) revokeSession(ctx context.Context, s *Session) {
	r := Revocation{AppID: s.AppID, Until: s.Expires + 1}
	if s.ID != "" {
		r.SessionID = s.ID
	} else {
		r.OpenID, r.IssuedBefore = s.OpenID, s.issuedMs()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := h.app.revoke(ctx, r); err != nil {
		if ce := h.logger.Check(zap.WarnLevel, "revoking the session at logout failed; the cookie was still cleared in this browser"); ce != nil {
			ce.Write(zap.Error(err))
		}
	}
}

// codeClaim is a callback code's place in the store. Neither its key nor
// what is stored under it reveals the code: the key is an HMAC of the code,
// and the answer (the session) is sealed with a key derived from the code,
// so only a request that holds the code can read it.
type codeClaim struct {
	key  string
	aead cipher.AEAD
}

func newCodeClaim(appID, code string) codeClaim {
	id := hmac.New(sha256.New, []byte("wechat_auth code claim"))
	id.Write([]byte(appID + "\x00" + code))
	seal := hmac.New(sha256.New, []byte(code))
	seal.Write([]byte("wechat_auth claim seal\x00" + appID))
	block, _ := aes.NewCipher(seal.Sum(nil)) // a 32-byte key never fails
	aead, _ := cipher.NewGCM(block)
	return codeClaim{key: "claim:" + hex.EncodeToString(id.Sum(nil)[:16]), aead: aead}
}

func (c codeClaim) seal(payload []byte) []byte {
	nonce := make([]byte, c.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := append([]byte{'s'}, nonce...)
	return c.aead.Seal(out, nonce, payload, []byte(c.key))
}

func (c codeClaim) open(v []byte) (Session, bool) {
	var s Session
	n := c.aead.NonceSize()
	if len(v) < 1+n || v[0] != 's' {
		return s, false
	}
	payload, err := c.aead.Open(nil, v[1:1+n], v[1+n:], []byte(c.key))
	if err != nil || s.unmarshal(payload) != nil {
		return Session{}, false
	}
	return s, true
}

// redeemOnce redeems a callback's code at most once across replicas: the
// first to claim the code redeems it and leaves the session, sealed, for a
// repeat of the same callback; a repeat (a double tap, a retried request,
// WeChat calling twice, on any replica) waits for that answer instead of
// redeeming again, and so gets the same session. answered is true when
// redeem already answered the visitor (codeFailed's page or restart).
// appID is the app the code was issued to (the website app's for a
// desktop login), which namespaces the claim.
func (h *Handler) redeemOnce(ctx context.Context, appID, code string, redeem func() (authResult, bool)) (res authResult, answered bool) {
	c := newCodeClaim(appID, code)
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	won, err := h.app.store.Claim(sctx, c.key, claimPending, claimTTL)
	cancel()
	if err == nil && !won {
		if s, ok := h.awaitClaim(ctx, c); ok {
			return authResult{outcome: outcomeSession, sess: s}, false
		}
		// The first redeemer failed or vanished: try ourselves; WeChat
		// says whether the code is still good.
	}
	res, answered = redeem()
	sctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if answered || res.outcome != outcomeSession {
		if won {
			_ = h.app.store.Delete(sctx, c.key)
		}
		return res, answered
	}
	_ = h.app.store.Set(sctx, c.key, c.seal(res.sess.marshal()), claimTTL)
	return res, false
}

// awaitClaim waits for the answer of the replica that claimed the code.
// It gives up when the claim disappears (that replica failed) or ctx ends.
func (h *Handler) awaitClaim(ctx context.Context, c codeClaim) (Session, bool) {
	t := time.NewTicker(claimPoll)
	defer t.Stop()
	for {
		v, err := h.app.store.Get(ctx, c.key)
		if err != nil || v == nil {
			return Session{}, false
		}
		if v[0] != claimPending[0] {
			return c.open(v)
		}
		select {
		case <-ctx.Done():
			return Session{}, false
		case <-t.C:
		}
	}
}
