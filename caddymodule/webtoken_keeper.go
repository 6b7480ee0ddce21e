package wechatauth

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"go.uber.org/zap"
)

// webTokenAPI is what the keeper asks WeChat; *wechat.Client has it.
type webTokenAPI interface {
	RefreshToken(ctx context.Context, refreshToken string) (*wechat.Token, error)
	CheckToken(ctx context.Context, accessToken, openID string) error
	UserInfo(ctx context.Context, accessToken, openID, lang string) (*wechat.UserInfo, error)
}

const (
	// webTokenMargin is the life an access_token must have left to be
	// handed to the upstream: it is refreshed this long before WeChat's
	// 7200 s run out, so the upstream's own calls with it still work.
	webTokenMargin = 5 * time.Minute
	// webTokenRetry is how long the keeper leaves WeChat alone after it
	// could not be reached (or gave no verdict): the session keeps working
	// meanwhile, without a fresh token once the old one has run out.
	webTokenRetry = 30 * time.Second
	// webTokenWork bounds one round of calls to WeChat (at most three:
	// check or userinfo, a refresh, userinfo again); it runs detached from
	// the request, so a visitor who gives up never cuts a refresh short
	// (a lost answer could cost a rotated refresh_token).
	webTokenWork = 20 * time.Second
	// webTokenLockTTL is how long a replica's claim to call WeChat for a
	// session lasts if it dies before releasing it.
	webTokenLockTTL = webTokenWork + 5*time.Second
	// webTokenPoll spaces the looks of a replica waiting for another
	// replica's answer.
	webTokenPoll = 25 * time.Millisecond
	// webTokenStoreTimeout bounds a store operation on a request path.
	webTokenStoreTimeout = 3 * time.Second
	// webTokenIdle is how long a session's record stays in a replica's
	// memory unused; afterwards it is read from the store again.
	webTokenIdle = 15 * time.Minute
	// webTokenDefaultWait bounds how long a request waits for a re-check
	// or a profile refresh it started; a slower WeChat answers the next
	// request instead.
	webTokenDefaultWait = 200 * time.Millisecond
	// webTokenRefreshWait bounds how long a request waits for a refresh
	// of an access_token it needs.
	webTokenRefreshWait = 10 * time.Second
)

// webTokenState is what the keeper says about a session.
type webTokenState uint8

const (
	// webTokenKept: tokens are kept and WeChat has not refused them.
	webTokenKept webTokenState = iota
	// webTokenMissing: nothing is kept for this session (it signed in
	// before the tokens were kept, or its record was lost with a store
	// that holds no data across restarts).
	webTokenMissing
	// webTokenEnded: WeChat refused the refresh_token or the user withdrew
	// the authorization: end the session into a fresh silent sign-in.
	webTokenEnded
)

// webTokenView is what one request learns from the keeper.
type webTokenView struct {
	State webTokenState
	// Access is a web access_token valid for webTokenMargin more, when the
	// keeper passes tokens; "" when none is (WeChat unreachable after the
	// kept one ran out).
	Access string
	// Nickname and Avatar are the profile as last fetched; a caller
	// compares them with its cookie's to reissue the cookie.
	Nickname, Avatar string
}

// webTokenKeeper keeps the web tokens of the sessions of one handler
// (docs/tokens.md) and keeps them current: a fresh access_token when one is
// to be passed on (passToken), a re-check of the authorization every
// verifyEvery, the profile of snsapi_userinfo sessions every profileTTL.
// Each round of calls to WeChat for a session happens once, whatever the
// number of concurrent requests (one flight per session in a replica) and
// of replicas (a claim in the store; the others wait for its answer).
//
// A request that needs nothing refreshed costs a map lookup: no store
// call, no WeChat call, no allocation.
type webTokenKeeper struct {
	appID       string
	api         webTokenAPI
	store       Store
	now         func() time.Time
	logger      *zap.Logger
	passToken   bool
	verifyEvery time.Duration // 0: never
	profileTTL  time.Duration // 0: never
	// ttl is how long a session lasts (session_ttl): a record is kept as
	// long.
	ttl time.Duration
	// wait bounds how long a request waits for a re-check or a profile
	// refresh (webTokenDefaultWait unless a test says otherwise).
	wait time.Duration

	mu      sync.RWMutex
	entries map[string]*webTokenEntry
	swept   time.Time

	work   sync.WaitGroup // rounds in flight, for close
	warned atomic.Int64   // Unix seconds of the last warning
	since  atomic.Int64   // the store's webTokenSinceKey, once read
}

// webTokenEntry is one session in a replica's memory.
type webTokenEntry struct {
	seal webTokenSeal
	rec  atomic.Pointer[webTokens] // nil: the store had none (see missUntil)
	used atomic.Int64              // Unix seconds of the last request
	// missUntil, for a session the store had no record of, is when to
	// look again (Unix seconds): until then such a session costs no store
	// call either.
	missUntil int64

	mu     sync.Mutex
	flight chan struct{} // closed when the round in flight ends; nil: none
}

func newWebTokenKeeper(appID string, api webTokenAPI, store Store, now func() time.Time, logger *zap.Logger) *webTokenKeeper {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	return &webTokenKeeper{appID: appID, api: api, store: store, now: now, logger: logger,
		ttl: defaultSessionTTL, wait: webTokenDefaultWait, entries: make(map[string]*webTokenEntry)}
}

// put keeps tok for the session sessionID at sign-in, until the session
// ends (ttl, the handler's session_ttl). For a
// snsapi_userinfo sign-in nickname and avatar are the profile just fetched
// (profiled true); later profile refreshes count from now.
func (k *webTokenKeeper) put(ctx context.Context, sessionID string, tok *wechat.Token, nickname, avatar string, profiled bool) {
	if sessionID == "" || tok == nil || tok.AccessToken == "" {
		return
	}
	now := k.now().Unix()
	rec := &webTokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, OpenID: tok.OpenID,
		AccessExpires: now + expiresIn(tok), Checked: now, Nickname: nickname, Avatar: avatar, Gen: 1, Until: now + int64(k.ttl/time.Second)}
	if profiled {
		rec.Profiled = now
	}
	e := &webTokenEntry{seal: newWebTokenSeal(k.appID, sessionID)}
	e.rec.Store(rec)
	e.used.Store(now)
	k.remember(sessionID, e, now)
	k.save(ctx, e, rec)
}

// expiresIn is the access_token's lifetime as WeChat gave it (7200 s when
// it gave none).
func expiresIn(tok *wechat.Token) int64 {
	if tok.ExpiresIn > 0 {
		return int64(tok.ExpiresIn)
	}
	return 7200
}

// view is what the request of session sessionID gets: whether the session
// stands, a valid access_token when tokens are passed, and the profile.
// userinfo says the session has the snsapi_userinfo scope (only those have
// a profile to refresh). Only work that is due reaches the store or WeChat.
func (k *webTokenKeeper) view(ctx context.Context, sessionID string, userinfo bool) webTokenView {
	e := k.entry(ctx, sessionID)
	if e == nil {
		return webTokenView{State: webTokenMissing}
	}
	now := k.now().Unix()
	e.used.Store(now)
	rec := e.rec.Load()
	if d := k.due(rec, now, userinfo); d != 0 {
		wait := k.wait
		if d&dueToken != 0 {
			wait = webTokenRefreshWait
		}
		rec = k.await(ctx, e, k.start(e, userinfo), wait)
	}
	v := webTokenView{Nickname: rec.Nickname, Avatar: rec.Avatar}
	switch {
	case rec.Ended:
		v.State = webTokenEnded
	case k.passToken && now < rec.AccessExpires:
		// A token past the margin (a refresh that failed) still works
		// for its last minutes; after that the upstream gets none.
		v.Access = rec.Access
	}
	return v
}

// What is due for a session, as bits.
const (
	dueToken   = 1 << iota // the access_token to pass is about to run out
	dueCheck               // verify_interval has passed since WeChat last vouched
	dueProfile             // profile_ttl has passed since the profile was fetched
)

// due says what rec needs at now. Nothing is due for an ended session, nor
// while WeChat is being left alone (RetryAt).
func (k *webTokenKeeper) due(rec *webTokens, now int64, userinfo bool) int {
	if rec.Ended || now < rec.RetryAt {
		return 0
	}
	d := 0
	if k.passToken && now >= rec.AccessExpires-int64(webTokenMargin/time.Second) {
		d |= dueToken
	}
	if k.verifyEvery > 0 && now-rec.Checked >= int64(k.verifyEvery/time.Second) {
		d |= dueCheck
	}
	if userinfo && k.profileTTL > 0 && now-rec.Profiled >= int64(k.profileTTL/time.Second) {
		d |= dueProfile
	}
	return d
}

// await waits for the round done to end, for at most wait and while ctx
// lasts, and returns the session's record as it then is.
func (k *webTokenKeeper) await(ctx context.Context, e *webTokenEntry, done <-chan struct{}, wait time.Duration) *webTokens {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
	return e.rec.Load()
}

// entry returns the session's entry: from memory, else from the store
// (a session first seen by this replica, or idle a while). nil when
// nothing is kept for it.
func (k *webTokenKeeper) entry(ctx context.Context, sessionID string) *webTokenEntry {
	if sessionID == "" {
		return nil
	}
	k.mu.RLock()
	e := k.entries[sessionID]
	k.mu.RUnlock()
	now := k.now().Unix()
	if e != nil {
		if e.rec.Load() != nil {
			return e
		}
		if now < e.missUntil {
			e.used.Store(now)
			return nil
		}
	}
	e = &webTokenEntry{seal: newWebTokenSeal(k.appID, sessionID)}
	e.used.Store(now)
	rec := k.load(ctx, e)
	if rec == nil {
		e.missUntil = now + int64(webTokenMissRecheck/time.Second)
		k.remember(sessionID, e, now)
		return nil
	}
	e.rec.Store(rec)
	return k.remember(sessionID, e, now)
}

// webTokenMissRecheck is how long a replica believes the store has no
// record for a session before it looks again.
const webTokenMissRecheck = time.Minute

// remember puts e in memory unless a request of the same session was
// first; it returns the entry in memory. Idle entries go now and then.
func (k *webTokenKeeper) remember(sessionID string, e *webTokenEntry, now int64) *webTokenEntry {
	k.mu.Lock()
	defer k.mu.Unlock()
	if old := k.entries[sessionID]; old != nil && old.rec.Load() != nil && (e.rec.Load() == nil || old.rec.Load().Gen >= e.rec.Load().Gen) {
		return old
	}
	k.entries[sessionID] = e
	if t := time.Unix(now, 0); t.Sub(k.swept) >= time.Minute {
		k.swept = t
		for id, old := range k.entries {
			if now-old.used.Load() >= int64(webTokenIdle/time.Second) {
				delete(k.entries, id)
			}
		}
	}
	return e
}

// forget drops the session's tokens here and in the store (a logout).
func (k *webTokenKeeper) forget(ctx context.Context, sessionID string) {
	if sessionID == "" {
		return
	}
	k.mu.Lock()
	delete(k.entries, sessionID)
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), webTokenStoreTimeout)
	defer cancel()
	_ = k.store.Delete(ctx, newWebTokenSeal(k.appID, sessionID).key)
}

// close waits for the rounds in flight (a config unload).
func (k *webTokenKeeper) close() { k.work.Wait() }

// webTokenSinceKey holds when the store began keeping web tokens, Unix
// milliseconds: the first time a keeper met a session without a record.
const webTokenSinceKey = "webtoken_since"

// predates reports whether a session issued at issuedMs (Unix ms) signed in
// before the store kept web tokens (the settings were just enabled, or the
// in-memory store was lost with a restart): it has none, and a silent
// sign-in gets them. A session issued since then whose record is missing
// lost it otherwise (a store outage, an eviction) and is served without a
// token rather than sent to sign in again and again. While a configured
// store is unreachable nobody predates: its marker cannot be read.
func (k *webTokenKeeper) predates(ctx context.Context, issuedMs int64) bool {
	since := k.since.Load()
	if since == 0 {
		if _, memory := k.store.(*memoryStore); !memory && !k.store.Shared() {
			return false
		}
		if since = k.loadSince(ctx); since == 0 {
			return false
		}
		k.since.Store(since)
	}
	return issuedMs < since
}

// loadSince reads the store's marker, setting it to now when there is none.
func (k *webTokenKeeper) loadSince(ctx context.Context) int64 {
	sctx, cancel := context.WithTimeout(ctx, webTokenStoreTimeout)
	defer cancel()
	now := k.now().UnixMilli()
	const keep = 400 * 24 * time.Hour // longer than any session_ttl
	won, err := k.store.Claim(sctx, webTokenSinceKey, []byte(strconv.FormatInt(now, 10)), keep)
	if err != nil {
		return 0
	}
	if won {
		return now
	}
	v, err := k.store.Get(sctx, webTokenSinceKey)
	if err != nil {
		return 0
	}
	since, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || since <= 0 {
		return 0
	}
	return since
}
