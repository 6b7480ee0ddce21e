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
	// a repeat of the same callback, from the browser that redeemed the
	// code, within it gets the same session.
	claimTTL = time.Minute
	// failedClaimTTL keeps the claim of a code whose exchange failed for as
	// long as WeChat might still accept the code (5 minutes, docs/wechat.md):
	// until then only the browser that claimed it may try it again.
	failedClaimTTL = 5 * time.Minute
	// claimPoll spaces the looks of a replica waiting for another one's
	// answer to the same code.
	claimPoll = 25 * time.Millisecond
	// storeTimeout bounds a store operation on a request path; the store
	// answers from memory after its own shorter timeouts anyway.
	storeTimeout = 3 * time.Second
	// claimBindLen is how much of the login-state binding a claim keeps.
	claimBindLen = 16
)

// What a claim's value starts with: the code is being redeemed, was
// redeemed (the sealed session follows), or its exchange failed. Each is
// followed by the binding of the login state that claimed it. An older
// version's claims ('p', 's': no binding) read as someone else's.
const (
	claimPending = 'P'
	claimAnswer  = 'S'
	claimFailed  = 'F'
)

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
// Until the store's revocations were loaded once, a session issued before
// this replica started cannot be checked and is refused (unless the
// wechat app's unchecked_sessions says admit).
func (h *Handler) notRevoked(id *identity) bool {
	g := h.revs.generation()
	if !h.revs.trusted(id.sess.issuedMs()) {
		storeMetrics.unchecked.Inc()
		return false
	}
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
//
// A claim also belongs to the login state that made it: bind is an HMAC,
// keyed by the code, of the flow's state (never the state itself), stored
// with every value. The state is the one the browser's flow cookie proves
// (readFlow), so a callback URL replayed from a log or a shared history
// with another browser's own flow cookie (its own state) gets no session:
// that browser never held the state the code was redeemed for.
type codeClaim struct {
	key  string
	aead cipher.AEAD
	bind []byte
}

func newCodeClaim(appID, code, state string) codeClaim {
	id := hmac.New(sha256.New, []byte("wechat_auth code claim"))
	id.Write([]byte(appID + "\x00" + code))
	seal := hmac.New(sha256.New, []byte(code))
	seal.Write([]byte("wechat_auth claim seal\x00" + appID))
	block, _ := aes.NewCipher(seal.Sum(nil)) // a 32-byte key never fails
	aead, _ := cipher.NewGCM(block)
	bind := hmac.New(sha256.New, []byte(code))
	bind.Write([]byte("wechat_auth claim binding\x00" + appID + "\x00" + state))
	return codeClaim{key: "claim:" + hex.EncodeToString(id.Sum(nil)[:16]), aead: aead, bind: bind.Sum(nil)[:claimBindLen]}
}

// mark is the value of a claim in state tag (claimPending, claimFailed).
func (c codeClaim) mark(tag byte) []byte { return append([]byte{tag}, c.bind...) }

// ours reports whether v is a value of c's login state.
func (c codeClaim) ours(v []byte) bool {
	return len(v) >= 1+claimBindLen && hmac.Equal(v[1:1+claimBindLen], c.bind)
}

func (c codeClaim) seal(payload []byte) []byte {
	nonce := make([]byte, c.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := append(c.mark(claimAnswer), nonce...)
	return c.aead.Seal(out, nonce, payload, c.ad())
}

// ad binds the sealed answer to the claim's key and login state.
func (c codeClaim) ad() []byte { return append([]byte(c.key), c.bind...) }

func (c codeClaim) open(v []byte) (Session, bool) {
	var s Session
	n := c.aead.NonceSize()
	if len(v) < 1+claimBindLen+n || v[0] != claimAnswer || !c.ours(v) {
		return s, false
	}
	v = v[1+claimBindLen:]
	payload, err := c.aead.Open(nil, v[:n], v[n:], c.ad())
	if err != nil || s.unmarshal(payload) != nil {
		return Session{}, false
	}
	return s, true
}

// claimSeen is what a callback finds in a code's claim when it did not
// make the claim itself.
type claimSeen uint8

const (
	claimGone     claimSeen = iota // no claim (it failed, expired, or the store could not say): WeChat decides
	claimAnswered                  // this login state's session
	claimSpent                     // another login state's claim: the code is used, for this request
)

// redeemOnce redeems a callback's code at most once across replicas: the
// first to claim the code redeems it and leaves the session, sealed, for a
// repeat of the same callback; a repeat from the same login state (a double
// tap, a retried request, WeChat calling twice, on any replica) waits for
// that answer instead of redeeming again, and so gets the same session. A
// request of any other login state finds the code spent, whatever its
// claim holds, and spent answers it as a used code. answered is true when
// redeem or spent already answered the visitor. appID is the app the code
// was issued to (the website app's for a desktop login), which namespaces
// the claim; state is the flow's state, proven by its flow cookie.
func (h *Handler) redeemOnce(ctx context.Context, appID, code, state string, redeem, spent func() (authResult, bool)) (res authResult, answered bool) {
	c := newCodeClaim(appID, code, state)
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	won, err := h.app.store.Claim(sctx, c.key, c.mark(claimPending), claimTTL)
	cancel()
	if err == nil && !won {
		switch seen, s := h.awaitClaim(ctx, c); seen {
		case claimAnswered:
			return authResult{outcome: outcomeSession, sess: s}, false
		case claimSpent:
			return spent()
		}
		// The first redeemer failed or vanished: try ourselves; WeChat
		// says whether the code is still good.
	}
	res, answered = redeem()
	sctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if answered || res.outcome != outcomeSession {
		// The code may still be good at WeChat: it stays this login
		// state's to try again, and nobody else's.
		_ = h.app.store.Set(sctx, c.key, c.mark(claimFailed), failedClaimTTL)
		return res, answered
	}
	_ = h.app.store.Set(sctx, c.key, c.seal(res.sess.marshal()), claimTTL)
	return res, false
}

// awaitClaim waits for the answer of the replica that claimed the code. It
// gives up when the claim disappears or ctx ends (claimGone), at once on a
// claim of another login state (claimSpent), and when this login state's
// own earlier try failed (claimGone: try again).
func (h *Handler) awaitClaim(ctx context.Context, c codeClaim) (claimSeen, Session) {
	t := time.NewTicker(claimPoll)
	defer t.Stop()
	for {
		v, err := h.app.store.Get(ctx, c.key)
		switch {
		case err != nil || v == nil:
			return claimGone, Session{}
		case !c.ours(v):
			return claimSpent, Session{}
		case v[0] == claimAnswer:
			if s, ok := c.open(v); ok {
				return claimAnswered, s
			}
			return claimGone, Session{}
		case v[0] != claimPending:
			return claimGone, Session{}
		}
		select {
		case <-ctx.Done():
			return claimGone, Session{}
		case <-t.C:
		}
	}
}
