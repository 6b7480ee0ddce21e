package wechatauth

import (
	"context"
	"net/http"
	"time"

	"github.com/patrickmn/go-cache"
	"go.uber.org/zap"
)

// sessions is a handler's session cookies: turning one into a verified
// identity (identityFrom, verify, the memo), refusing revoked ones, issuing
// and clearing them, and revoking one at logout. The hot path never waits
// on the store: a cookie seen before is a memo lookup, and revocations are
// a memory lookup refreshed by the store's events.
type sessions struct {
	name    string
	codec   cookieCodec
	jar     cookieJar
	memo    *cache.Cache
	memoMax int
	ttl     time.Duration
	revs    *revocationSet // the wechat app's, looked up in memory
	app     *App           // publishes revocations
	flows   []signInFlow   // a cookie is accepted when one of them owns it
	// bound, when set, must also accept a session for the request's site:
	// a platform's handler serving each account on its own host
	// (component_flow.go) takes no session of another host's account.
	bound  func(r *http.Request, s *Session) bool
	now    func() time.Time
	logger *zap.Logger
}

// memoTTL and memoMaxEntries bound the verified-cookie cache: entries never
// outlive their session, and a flood of distinct valid cookies cannot grow
// memory without limit (~1 KiB an entry).
const (
	memoTTL        = 10 * time.Minute
	memoMaxEntries = 20000
)

// identityFrom returns the verified identity of the request's session
// cookie, or nil. A cookie seen before is a cache lookup; a new one is
// verified, decrypted and decoded once, then remembered.
func (ss *sessions) identityFrom(r *http.Request) *identity {
	var found *identity
	cookieValues(r.Header, ss.name, func(v string) bool {
		if x, ok := ss.memo.Get(v); ok {
			if id := x.(*identity); ss.current(id) {
				found = id
				procMetrics.sessionChecked(cookieMemoHit)
				return true
			}
			ss.memo.Delete(v) // revoked since it was memoized
			procMetrics.sessionChecked(cookieRejectRevoked)
			return false
		}
		found = ss.verify(v)
		return found != nil
	})
	if found != nil && ss.bound != nil && !ss.bound(r, &found.sess) {
		procMetrics.sessionChecked(cookieRejectForeign)
		return nil
	}
	return found
}

// owner is the flow whose app issued s, and the source its identity
// carries; ok is false for a session of any other app.
func (ss *sessions) owner(s *Session) (source *appSource, ok bool) {
	for _, fl := range ss.flows {
		if src, ok := fl.owns(s); ok {
			return src, true
		}
	}
	return nil, false
}

// verify checks a session cookie value from scratch. Tampered, truncated,
// expired, foreign-app or garbage values give nil, never an error page: the
// visitor is simply authorized again. Each check is counted (metrics.go).
func (ss *sessions) verify(value string) *identity {
	payload, err := ss.codec.decode(ss.name, value)
	if err != nil {
		return rejected(cookieRejectInvalid)
	}
	var s Session
	if s.unmarshal(payload) != nil || s.OpenID == "" {
		return rejected(cookieRejectMalformed)
	}
	now := ss.now().Unix()
	// The identity is the one allocation a new cookie costs; the owner
	// check reads the session inside it (a pointer to a local would escape
	// through the flows' interface and cost a second).
	id := newIdentity(s, nil)
	source, owned := ss.owner(&id.sess)
	switch {
	case !owned:
		return rejected(cookieRejectForeign)
	case s.Expires <= now:
		return rejected(cookieRejectExpired)
	case s.Issued > now+60:
		return rejected(cookieRejectFuture)
	}
	id.setSource(source)
	if !ss.notRevoked(id) {
		return rejected(cookieRejectRevoked)
	}
	ss.remember(value, id, time.Unix(s.Expires, 0).Sub(ss.now()))
	procMetrics.sessionChecked(cookieVerified)
	return id
}

// rejected counts a refused session cookie and gives verify's nil.
func rejected(why cookieCheck) *identity {
	procMetrics.sessionChecked(why)
	return nil
}

// remember memoizes a verified cookie for at most memoTTL and never past the
// session's own expiry. When the cache is full, expired entries go first; if
// it is still full the cookie is simply not memoized, so memory stays bounded
// whatever the number of distinct valid cookies.
func (ss *sessions) remember(value string, id *identity, left time.Duration) {
	ttl := min(memoTTL, left)
	if ttl <= 0 {
		return
	}
	if ss.memo.ItemCount() >= ss.memoMax {
		ss.memo.DeleteExpired()
		if ss.memo.ItemCount() >= ss.memoMax {
			return
		}
	}
	ss.memo.Set(value, id, ttl)
}

// issue sets a session cookie for s.
func (ss *sessions) issue(w http.ResponseWriter, site origin, s Session) error {
	value, err := ss.codec.encode(ss.name, s.marshal())
	for trim := 0; err != nil && trimProfile(&s, trim); trim++ {
		value, err = ss.codec.encode(ss.name, s.marshal())
	}
	if err != nil {
		return err
	}
	ss.jar.write(w, site, ss.name, value, ss.ttl)
	return nil
}

// trimProfile makes room in a session that does not fit its cookie, step
// by step: a nickname cut to 32 characters, then no avatar, then no
// nickname. The identity itself (openid, unionid, scope) always fits, so a
// profile of any size still ends in a session. It reports false when there
// is nothing left to trim.
func trimProfile(s *Session, step int) bool {
	switch step {
	case 0:
		if r := []rune(s.Nickname); len(r) > 32 {
			s.Nickname = string(r[:32])
			return true
		}
		fallthrough
	case 1:
		if s.Avatar != "" {
			s.Avatar = ""
			return true
		}
		fallthrough
	case 2:
		if s.Nickname != "" {
			s.Nickname = ""
			return true
		}
	}
	return false
}

// clear expires the session cookie in the browser and forgets the
// memoized copy of the value presented.
func (ss *sessions) clear(w http.ResponseWriter, r *http.Request, site origin) {
	cookieValues(r.Header, ss.name, func(v string) bool {
		ss.memo.Delete(v)
		return false
	})
	ss.jar.expire(w, site, ss.name)
}

// current reports whether a memoized identity may still be trusted. It is
// two atomic loads unless a revocation arrived since the identity was last
// checked; then it is looked up again, in memory.
func (ss *sessions) current(id *identity) bool {
	g := ss.revs.generation()
	if id.checked.Load() == g {
		return true
	}
	if ss.revs.revoked(id.sess.AppID, id.sess.ID, id.sess.OpenID, id.sess.issuedMs()) {
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
func (ss *sessions) notRevoked(id *identity) bool {
	g := ss.revs.generation()
	if !ss.revs.trusted(id.sess.issuedMs()) {
		storeMetrics.unchecked.Inc()
		return false
	}
	if ss.revs.revoked(id.sess.AppID, id.sess.ID, id.sess.OpenID, id.sess.issuedMs()) {
		return false
	}
	id.checked.Store(g)
	return true
}

// revoke ends s on every replica the store reaches (here at once). A
// session from before session ids is revoked with every session of its
// openid issued up to its second.
func (ss *sessions) revoke(ctx context.Context, s *Session) {
	r := Revocation{AppID: s.AppID, Until: s.Expires + 1}
	if s.ID != "" {
		r.SessionID = s.ID
	} else {
		r.OpenID, r.IssuedBefore = s.OpenID, s.issuedMs()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := ss.app.revoke(ctx, r); err != nil {
		if ce := ss.logger.Check(zap.WarnLevel, "revoking the session at logout failed; the cookie was still cleared in this browser"); ce != nil {
			ce.Write(zap.Error(err))
		}
	}
}

// issuedMs is when the session was issued, in Unix milliseconds; a cookie
// of version 1 counts from the end of its second, to be refused rather
// than spared by a revocation made in that second.
func (s *Session) issuedMs() int64 {
	if s.IssuedMilli != 0 {
		return s.IssuedMilli
	}
	return s.Issued*1000 + 999
}
