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
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// WeChat's callback (redirect_uri), the same for every flow whose logins
// end with a code (codeFlow): the state checked against this browser's flow
// cookie, the code redeemed once across replicas by the flow that started
// the login, and WeChat's refusals sorted into a silent retry or a page.

// serveCallback is WeChat's redirect_uri. The state is checked against this
// browser's flow cookie before the code is redeemed: a callback whose state
// this browser did not start (login CSRF) never logs it in.
func (l *logins) serveCallback(w http.ResponseWriter, r *http.Request, site origin) error {
	q := r.URL.Query()
	state, code := q.Get("state"), q.Get("code")
	if !validState(state) {
		procMetrics.loginCompleted("", loginFlowLost)
		return l.writeFlowLost(w, r, site)
	}
	f, ok := l.cookies.read(r, state)
	if !ok {
		procMetrics.loginCompleted("", loginFlowLost)
		return l.writeFlowLost(w, r, site)
	}
	fl := l.flowOf(f)
	if fl == nil && f.Kind == legacyFlowKind {
		if fl = l.adopt(f); fl != nil {
			// A login an older version started: its flow cookie names no
			// flow, so it starts over, silently, to the same page.
			return l.restart(w, r, site, fl, f)
		}
	}
	// A flow that never sends anyone to WeChat (a relay client's) did not
	// bring this browser here.
	cf, ok := fl.(codeFlow)
	if !ok {
		procMetrics.loginCompleted("", loginFlowLost)
		return l.writeFlowLost(w, r, site)
	}
	if f.Done {
		// A refresh or back button after a finished login.
		if l.resumable(r, fl, f) {
			procMetrics.loginCompleted(f.Scope, loginResumed)
			redirect(w, r, f.Return)
			return nil
		}
		return l.restart(w, r, site, fl, f)
	}
	if code == "" {
		return l.finish(w, r, site, fl, f, loginEnd{ending: endDeclined})
	}
	if len(code) > 512 {
		procMetrics.loginCompleted(f.Scope, loginCodeRejected)
		return l.writeFlowLost(w, r, site)
	}

	ctx, cancel := context.WithTimeout(r.Context(), callbackTimeout)
	defer cancel()
	end, err := l.claims.redeemOnce(ctx, cf.codeApp(), code, f.State, func() (loginEnd, error) { return cf.redeem(ctx, f, code) })
	switch {
	case errors.Is(err, errCodeSpent):
		// Another login state redeemed this code: to this browser it is a
		// used code, whatever the claim holds (a replayed callback URL
		// never carries another browser's session away).
		if ce := l.logger.Check(zap.InfoLevel, "a callback carried a code another login redeemed; answered as a used code"); ce != nil {
			ce.Write()
		}
		return l.codeSpent(w, r, site, fl, f, "errcode 40163")
	case err != nil:
		procMetrics.callbackFailed(wechat.Code(err))
		return l.codeFailed(w, r, site, fl, f, err)
	}
	return l.finish(w, r, site, fl, f, end)
}

// codeSpent answers a used or invalid code: with a valid session the
// visitor simply continues; otherwise authorization restarts silently,
// once; a second failure shows a page instead of a loop.
func (l *logins) codeSpent(w http.ResponseWriter, r *http.Request, site origin, fl signInFlow, f flowState, ref string) error {
	if l.resumable(r, fl, f) {
		procMetrics.loginCompleted(f.Scope, loginResumed)
		l.cookies.expire(w, site, f.State)
		redirect(w, r, f.Return)
		return nil
	}
	if !f.Retry {
		return l.restart(w, r, site, fl, f)
	}
	return l.finish(w, r, site, fl, f, loginEnd{ending: endCodeFailed, ref: ref})
}

// codeFailed handles a code WeChat would not redeem. A used or invalid code
// comes from a double callback, a refresh or the back button (codeSpent).
func (l *logins) codeFailed(w http.ResponseWriter, r *http.Request, site origin, fl signInFlow, f flowState, err error) error {
	ref := "errcode " + strconv.Itoa(wechat.Code(err))
	if wechat.IsCodeUsed(err) || wechat.IsInvalidCode(err) {
		return l.codeSpent(w, r, site, fl, f, ref)
	}
	if errors.Is(err, wechat.ErrRedirect) {
		// Following it would have sent the secret and the code elsewhere.
		if ce := l.logger.Check(zap.ErrorLevel, "the code exchange was answered with an HTTP redirect, which is never followed: set api_base to WeChat's API (or remove it for the default)"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return l.finish(w, r, site, fl, f, loginEnd{ending: endMisconfigured, ref: "api_base redirect"})
	}
	if wechat.IsConfig(err) {
		if ce := l.logger.Check(zap.ErrorLevel, "WeChat refused the code exchange: fix the configuration"); ce != nil {
			ce.Write(zap.Int("errcode", wechat.Code(err)), zap.Error(err))
		}
		return l.finish(w, r, site, fl, f, loginEnd{ending: endMisconfigured, ref: ref})
	}
	if ce := l.logger.Check(zap.WarnLevel, "code exchange failed"); ce != nil {
		ce.Write(zap.Int("errcode", wechat.Code(err)), zap.Error(err))
	}
	return l.finish(w, r, site, fl, f, loginEnd{ending: endUnavailable})
}

// legacyFlowKind is the kind a flow cookie of a version before kinds
// decodes with.
const legacyFlowKind flowKind = 0

// legacyAdopter is a flow that recognises the logins an older version
// started for it, from what their flow cookies carry.
type legacyAdopter interface {
	adopts(f flowState) bool
}

// adopt is the flow an older version's flow cookie belongs to, or nil.
func (l *logins) adopt(f flowState) signInFlow {
	for _, fl := range l.flows {
		if a, ok := fl.(legacyAdopter); ok && a.adopts(f) {
			return fl
		}
	}
	return nil
}

// What every flow does with WeChat's answer to a code: check the ids, and
// fetch the profile where the scope gives one.

// validIdentity reports whether WeChat's openid (and unionid, if any) are
// WeChat identifiers; anything else means api_base does not point at
// WeChat, and is logged so.
func validIdentity(openID, unionID string, logger *zap.Logger) bool {
	if validWeChatID(openID) && (unionID == "" || validWeChatID(unionID)) {
		return true
	}
	if ce := logger.Check(zap.ErrorLevel, "WeChat returned an openid or unionid that is not a WeChat identifier; check api_base points at WeChat"); ce != nil {
		ce.Write()
	}
	return false
}

// fillProfile fetches nickname and avatar with a web access_token and
// reports whether it could. If WeChat fails here the visitor still gets a
// session (without the profile) rather than none, and is not sent round
// again for upgradeBackoff.
func fillProfile(ctx context.Context, client *wechat.Client, s *Session, tok *wechat.Token, now func() time.Time, logger *zap.Logger) bool {
	info, err := client.UserInfo(ctx, tok.AccessToken, tok.OpenID, "zh_CN")
	if err != nil {
		if ce := logger.Check(zap.WarnLevel, "fetching userinfo failed; continuing with a snsapi_base session"); ce != nil {
			ce.Write(zap.Int("errcode", wechat.Code(err)), zap.Error(err))
		}
		procMetrics.callbackFailed(wechat.Code(err))
		s.NoUpgradeUntil = now().Add(upgradeBackoff).Unix()
		return false
	}
	s.Nickname = info.Nickname
	if cleanAvatarURL(info.HeadImgURL) {
		s.Avatar = info.HeadImgURL
	}
	if s.UnionID == "" && validWeChatID(info.UnionID) {
		s.UnionID = info.UnionID
	}
	return true
}

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
