package wechatauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Each callback code is redeemed once across replicas: its claim in the
// wechat app's store says who redeems it and keeps the answer, sealed, for
// a repeat of the same callback.

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

// codeClaims redeems callback codes through the wechat app's store.
type codeClaims struct{ app *App }

// errCodeSpent is redeemOnce's answer to a code another login state
// claimed: for this request the code is used.
var errCodeSpent = errors.New("the code was redeemed by another login")

// redeemOnce redeems a callback's code at most once across replicas: the
// first to claim the code redeems it and leaves the session, sealed, for a
// repeat of the same callback; a repeat from the same login state (a double
// tap, a retried request, WeChat calling twice, on any replica) waits for
// that answer instead of redeeming again, and so gets the same session. A
// request of any other login state finds the code spent (errCodeSpent),
// whatever its claim holds. appID is the app the code was issued to, which
// namespaces the claim; state is the flow's state, proven by its flow
// cookie. An error from redeem (WeChat refused the code) is returned as it
// is.
func (c codeClaims) redeemOnce(ctx context.Context, appID, code, state string, redeem func() (loginEnd, error)) (loginEnd, error) {
	cl := newCodeClaim(appID, code, state)
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	won, err := c.app.store.Claim(sctx, cl.key, cl.mark(claimPending), claimTTL)
	cancel()
	if err == nil && !won {
		switch seen, s := c.awaitClaim(ctx, cl); seen {
		case claimAnswered:
			return loginEnd{ending: endSession, sess: s}, nil
		case claimSpent:
			return loginEnd{}, errCodeSpent
		}
		// The first redeemer failed or vanished: try ourselves; WeChat
		// says whether the code is still good.
	}
	end, err := redeem()
	sctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err != nil || end.ending != endSession {
		// The code may still be good at WeChat: it stays this login
		// state's to try again, and nobody else's.
		_ = c.app.store.Set(sctx, cl.key, cl.mark(claimFailed), failedClaimTTL)
		return end, err
	}
	_ = c.app.store.Set(sctx, cl.key, cl.seal(end.sess.marshal()), claimTTL)
	return end, nil
}

// awaitClaim waits for the answer of the replica that claimed the code. It
// gives up when the claim disappears or ctx ends (claimGone), at once on a
// claim of another login state (claimSpent), and when this login state's
// own earlier try failed (claimGone: try again).
func (c codeClaims) awaitClaim(ctx context.Context, cl codeClaim) (claimSeen, Session) {
	t := time.NewTicker(claimPoll)
	defer t.Stop()
	for {
		v, err := c.app.store.Get(ctx, cl.key)
		switch {
		case err != nil || v == nil:
			return claimGone, Session{}
		case !cl.ours(v):
			return claimSpent, Session{}
		case v[0] == claimAnswer:
			if s, ok := cl.open(v); ok {
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
