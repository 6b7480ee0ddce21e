package wechatauth

import (
	"context"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"go.uber.org/zap"
)

// A round is what the keeper does with WeChat for one session when work is
// due: refresh the access_token, re-check the authorization, fetch the
// profile, whichever are due, in one go. One round per session runs at a
// time in a replica (webTokenEntry.flight) and, through a claim in the
// store, in the whole deployment; requests that find a round in flight
// wait for its answer instead of calling WeChat again.

// start begins a round for the session unless one is in flight, and
// returns a channel closed when the round in flight has ended. The round
// runs detached from the request, bounded by webTokenWork.
func (k *webTokenKeeper) start(e *webTokenEntry, userinfo bool) <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.flight != nil {
		return e.flight
	}
	done := make(chan struct{})
	e.flight = done
	k.work.Add(1)
	go func() {
		defer k.work.Done()
		ctx, cancel := context.WithTimeout(context.Background(), webTokenWork)
		k.round(ctx, e, userinfo)
		cancel()
		e.mu.Lock()
		e.flight = nil
		e.mu.Unlock()
		close(done)
	}()
	return done
}

// round does the work due for the session, unless another replica does it
// or did it already; either way e holds the newest record afterwards.
func (k *webTokenKeeper) round(ctx context.Context, e *webTokenEntry, userinfo bool) {
	rec := k.fresher(ctx, e)
	if k.due(rec, k.now().Unix(), userinfo) == 0 {
		return
	}
	won, err := k.store.Claim(ctx, e.seal.lock, []byte{1}, webTokenLockTTL)
	if err != nil {
		return
	}
	if !won {
		k.awaitOther(ctx, e, rec.Gen)
		return
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), webTokenStoreTimeout)
		defer cancel()
		_ = k.store.Delete(dctx, e.seal.lock)
	}()
	// The replica that held the claim before may have finished between
	// the look above and the claim.
	rec = k.fresher(ctx, e)
	now := k.now().Unix()
	d := k.due(rec, now, userinfo)
	if d == 0 {
		return
	}
	next := k.call(ctx, rec, d, now)
	e.rec.Store(next)
	k.save(ctx, e, next)
}

// awaitOther waits for the replica holding the session's claim to publish
// a record newer than seen, or to give up its claim.
func (k *webTokenKeeper) awaitOther(ctx context.Context, e *webTokenEntry, seen int64) {
	t := time.NewTicker(webTokenPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if k.fresher(ctx, e).Gen > seen {
			return
		}
		// The record is written before the claim is released: a look
		// after the claim is gone sees the answer, if there is one.
		if v, err := k.store.Get(ctx, e.seal.lock); err != nil || v == nil {
			k.fresher(ctx, e)
			return
		}
	}
}

// fresher adopts the store's record when it is newer than e's and returns
// e's record.
func (k *webTokenKeeper) fresher(ctx context.Context, e *webTokenEntry) *webTokens {
	cur := e.rec.Load()
	if rec := k.load(ctx, e); rec != nil && rec.Gen > cur.Gen {
		e.rec.Store(rec)
		return rec
	}
	return cur
}

// call asks WeChat what d needs and returns the record that results. A
// refresh comes first when the token is due or too close to its end for
// the other calls; a refresh also vouches for the authorization, so no
// sns/auth follows it. Every answer is classified by
// wechat.WebTokenActionOf: a refused refresh_token ends the session, no
// answer leaves WeChat alone for webTokenRetry.
func (k *webTokenKeeper) call(ctx context.Context, rec *webTokens, d int, now int64) *webTokens {
	next := *rec
	next.Gen++
	refreshed := false
	refresh := func() bool {
		tok, err := k.api.RefreshToken(ctx, next.Refresh)
		if err != nil {
			k.failed(&next, err, now)
			return false
		}
		next.Access, next.AccessExpires, next.Checked = tok.AccessToken, now+expiresIn(tok), now
		if tok.RefreshToken != "" {
			next.Refresh = tok.RefreshToken
		}
		refreshed = true
		webTokenMetrics.count(webTokenRefreshed)
		return true
	}
	const callMargin = 60 // seconds an access_token needs left for one more call
	if d&dueToken != 0 || now >= next.AccessExpires-callMargin {
		if !refresh() {
			return &next
		}
	}
	if d&dueCheck != 0 && !refreshed {
		err := k.api.CheckToken(ctx, next.Access, next.OpenID)
		switch wechat.WebTokenActionOf(err) {
		case wechat.WebTokenValid:
			next.Checked = now
			webTokenMetrics.count(webTokenChecked)
		case wechat.WebTokenRefresh:
			// sns/auth said no (40003 after a withdrawal, 42001, 40014…):
			// the refresh decides whether the authorization stands.
			if !refresh() {
				return &next
			}
		default:
			k.failed(&next, err, now)
			return &next
		}
	}
	if d&dueProfile != 0 {
		u, err := k.api.UserInfo(ctx, next.Access, next.OpenID, "")
		if wechat.WebTokenActionOf(err) == wechat.WebTokenRefresh && !refreshed {
			if !refresh() {
				return &next
			}
			u, err = k.api.UserInfo(ctx, next.Access, next.OpenID, "")
		}
		switch wechat.WebTokenActionOf(err) {
		case wechat.WebTokenValid:
			next.Nickname, next.Avatar, next.Profiled = u.Nickname, u.HeadImgURL, now
			webTokenMetrics.count(webTokenProfiled)
		case wechat.WebTokenRefresh:
			// A token WeChat just vouched for cannot fetch the profile
			// (48001): keep the old one until profile_ttl passes again.
			next.Profiled = now
			k.warn("WeChat refused the profile of a snsapi_userinfo session with a fresh token; the last profile stays until profile_ttl passes again", err)
		default:
			k.failed(&next, err, now)
		}
	}
	return &next
}

// failed records in next what WeChat's answer err means: the session ends
// (a refused refresh_token, a password change), or WeChat is left alone
// for webTokenRetry and the session keeps working.
func (k *webTokenKeeper) failed(next *webTokens, err error, now int64) {
	if wechat.NeedsReauthorization(err) {
		next.Ended = true
		webTokenMetrics.count(webTokenSessionEnd)
		if ce := k.logger.Check(zap.InfoLevel, "WeChat refused a session's refresh_token or the user withdrew the authorization; the visitor signs in again"); ce != nil {
			ce.Write(zap.Int("errcode", wechat.Code(err)))
		}
		return
	}
	next.RetryAt = now + int64(webTokenRetry/time.Second)
	webTokenMetrics.count(webTokenRetryLater)
	k.warn("WeChat did not answer about a session's web tokens; the session keeps working and WeChat is asked again in "+webTokenRetry.String(), err)
}

// warn logs at most once a minute: while WeChat is away every active
// session would say the same.
func (k *webTokenKeeper) warn(msg string, err error) {
	now := time.Now().Unix()
	if last := k.warned.Load(); now-last < 60 || !k.warned.CompareAndSwap(last, now) {
		return
	}
	// err is a *wechat.APIError or *wechat.RequestError: the client keeps
	// tokens, codes and the secret out of their text.
	k.logger.Warn(msg, zap.Error(err))
}

// load reads the session's record from the store; nil when there is none
// (or it does not open: not this session's).
func (k *webTokenKeeper) load(ctx context.Context, e *webTokenEntry) *webTokens {
	sctx, cancel := context.WithTimeout(ctx, webTokenStoreTimeout)
	defer cancel()
	v, err := k.store.Get(sctx, e.seal.key)
	if err != nil || v == nil {
		return nil
	}
	return e.seal.open(v)
}

// save writes rec to the store, kept until the session ends.
func (k *webTokenKeeper) save(ctx context.Context, e *webTokenEntry, rec *webTokens) {
	ttl := time.Duration(rec.Until-k.now().Unix()) * time.Second
	if ttl < time.Minute {
		ttl = time.Minute
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), webTokenStoreTimeout)
	defer cancel()
	_ = k.store.Set(sctx, e.seal.key, e.seal.seal(rec), ttl)
}
