package wechatauth

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Store is what the replicas of one deployment share: revocations (with an
// event to every replica), claims on callback codes, cached answers and the
// force_refresh budget. The wechat app owns one; without a configured store
// it is in memory and holds for this process only.
//
// Every method is safe for concurrent use. A store that cannot reach its
// backend answers from memory rather than failing: callers see an error
// only for a request that cannot be answered at all (a cancelled context).
type Store interface {
	// Revoke records r until r.Until and tells every replica's
	// RevocationSink, this one's included.
	Revoke(ctx context.Context, r Revocation) error
	// Claim sets key to value for ttl unless key is already set; it reports
	// whether this caller set it (won the claim).
	Claim(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Get returns the value of key, or nil when it is absent or expired.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set sets key to value for ttl, replacing any value.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key.
	Delete(ctx context.Context, key string) error
	// Incr adds one to the counter key and returns the new count; a counter
	// that did not exist starts a window of ttl, after which it is gone.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Shared reports whether other processes see what this one writes (the
	// backend is configured and reachable right now).
	Shared() bool
	// Close stops the store's background work and releases connections.
	Close() error
}

// RevocationSink receives revocations: every one any replica makes, and the
// whole live set whenever a store (re)connects. A revocation may arrive more
// than once; applying one is idempotent.
type RevocationSink interface {
	Revoked(rs ...Revocation)
}

// Revocation ends sessions before they expire: either the one session
// SessionID (a logout), or every session of OpenID issued at or before
// IssuedBefore (an operator's `caddy wechat-session revoke`). The person can
// sign in again afterwards; only sessions that existed are ended.
type Revocation struct {
	AppID     string
	SessionID string
	OpenID    string
	// IssuedBefore is Unix milliseconds: sessions of OpenID issued at or
	// before it are refused.
	IssuedBefore int64
	// Until is Unix seconds when every session the revocation names has
	// expired anyway; the revocation is forgotten then.
	Until int64
}

var errBadRevocation = errors.New("not a revocation")

// key identifies what a revocation names, so that repeats collapse: one
// session, or one openid of one app.
func (r Revocation) key() string {
	if r.SessionID != "" {
		return "s|" + r.AppID + "|" + r.SessionID
	}
	return "o|" + r.AppID + "|" + r.OpenID
}

// encode is the revocation's form in the store and on the event channel:
// s|APPID|SESSIONID|UNTIL or o|APPID|OPENID|ISSUEDBEFORE|UNTIL. App ids,
// session ids and openids never contain "|".
func (r Revocation) encode() string {
	until := strconv.FormatInt(r.Until, 10)
	if r.SessionID != "" {
		return "s|" + r.AppID + "|" + r.SessionID + "|" + until
	}
	return "o|" + r.AppID + "|" + r.OpenID + "|" + strconv.FormatInt(r.IssuedBefore, 10) + "|" + until
}

func decodeRevocation(s string) (Revocation, error) {
	f := strings.Split(s, "|")
	var r Revocation
	var err error
	switch {
	case len(f) == 4 && f[0] == "s":
		r.AppID, r.SessionID = f[1], f[2]
		r.Until, err = strconv.ParseInt(f[3], 10, 64)
	case len(f) == 5 && f[0] == "o":
		r.AppID, r.OpenID = f[1], f[2]
		if r.IssuedBefore, err = strconv.ParseInt(f[3], 10, 64); err == nil {
			r.Until, err = strconv.ParseInt(f[4], 10, 64)
		}
	default:
		return r, errBadRevocation
	}
	if err != nil || r.AppID == "" || (r.SessionID == "" && r.OpenID == "") {
		return r, errBadRevocation
	}
	return r, nil
}

// valid reports whether r can be stored: it names an app and a session or
// an openid, none holding the separator, and has a lifetime.
func (r Revocation) valid() bool {
	named := (r.SessionID != "") != (r.OpenID != "")
	return r.AppID != "" && named && r.Until > 0 &&
		!strings.Contains(r.AppID+r.SessionID+r.OpenID, "|")
}

// expired reports whether r no longer names a live session at now.
func (r Revocation) expired(now time.Time) bool {
	return r.Until <= now.Unix()
}
