package wechatauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// What the platform keeps in the wechat app's store, shared by every
// replica: the newest component_verify_ticket and the component_access_token
// (sealed with a key derived from the platform's AppSecret: whoever reads
// Redis without the secret learns neither), the authorization state of each
// authorizer AppID, and the msg_signature of each push seen lately.

const (
	// ticketTTL is how long WeChat accepts a component_verify_ticket
	// ("component_verify_ticket 的有效时间为12小时", docs/wechat.md §6).
	ticketTTL = 12 * time.Hour
	// authorizedTTL keeps an authorization until WeChat says otherwise:
	// WeChat sends no reminder, so the record has no useful end.
	authorizedTTL = 10 * 365 * 24 * time.Hour
	// unauthorizedTTL keeps a withdrawal long enough that a late or
	// repeated authorized push older than it cannot undo it.
	unauthorizedTTL = 30 * 24 * time.Hour
)

// seal encrypts an 8-byte number and a value for key.
func (c *component) seal(key string, n int64, v string) []byte {
	plain := binary.BigEndian.AppendUint64(nil, uint64(n))
	plain = append(plain, v...)
	nonce := make([]byte, c.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return c.aead.Seal(nonce, nonce, plain, []byte(key))
}

// open reverses seal; ok is false for anything else (a value sealed with
// another secret included).
func (c *component) open(key string, sealed []byte) (n int64, v string, ok bool) {
	ns := c.aead.NonceSize()
	if len(sealed) < ns {
		return 0, "", false
	}
	plain, err := c.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(key))
	if err != nil || len(plain) < 8 {
		return 0, "", false
	}
	return int64(binary.BigEndian.Uint64(plain[:8])), string(plain[8:]), true
}

// storedTicket returns the newest ticket and when WeChat made it; "" when
// none arrived or it has expired.
func (c *component) storedTicket(ctx context.Context) (string, time.Time, error) {
	k := c.storeKey("ticket")
	v, err := c.store.Get(ctx, k)
	if err != nil || v == nil {
		return "", time.Time{}, err
	}
	created, ticket, ok := c.open(k, v)
	if !ok {
		return "", time.Time{}, nil
	}
	return ticket, time.Unix(created, 0), nil
}

// keepTicket stores ticket unless a newer one is stored already (pushes can
// arrive out of order when WeChat retries one).
func (c *component) keepTicket(ctx context.Context, ticket string, created time.Time) error {
	_, have, err := c.storedTicket(ctx)
	if err != nil {
		return err
	}
	if !have.IsZero() && have.After(created) {
		return nil
	}
	ttl := time.Until(created.Add(ticketTTL))
	if ttl <= 0 {
		return nil
	}
	k := c.storeKey("ticket")
	if err := c.store.Set(ctx, k, c.seal(k, created.Unix(), ticket), ttl); err != nil {
		return err
	}
	// A token fetch that failed holds the refresh for a while; with a new
	// ticket the next login may try at once. A recorded failure means no
	// fetch is under way, so freeing the refresh cannot start a second one.
	if v, _ := c.store.Get(ctx, c.storeKey("token_error")); v != nil {
		_ = c.store.Delete(ctx, c.storeKey("token_error"))
		_ = c.store.Delete(ctx, c.storeKey("token_refresh"))
	}
	return nil
}

// Authorization states of an authorizer AppID in the store.
const (
	authorizedMark   = 'A'
	unauthorizedMark = 'U'
)

// authorizerKey is where an authorizer's state lives. AppIDs are letters
// and digits (checked by the caller).
func (c *component) authorizerKey(appID string) string { return c.storeKey("authorizer:" + appID) }

// authorizerState returns an authorizer's last recorded event: its mark
// (0 when none) and when WeChat made it.
func (c *component) authorizerState(ctx context.Context, appID string) (byte, int64, error) {
	v, err := c.store.Get(ctx, c.authorizerKey(appID))
	if err != nil || len(v) < 2 {
		return 0, 0, err
	}
	created, err := strconv.ParseInt(string(v[1:]), 10, 64)
	if err != nil {
		return 0, 0, nil
	}
	return v[0], created, nil
}

// authorizedFor is how long this process trusts what the store said about
// an authorizer: another replica's event reaches it within this time (its
// own at once, noteAuthorization).
const authorizedFor = 30 * time.Second

type authorizedEntry struct {
	ok   bool
	till time.Time
}

// authorizedCached is authorized, remembered for authorizedFor, so a busy
// sign-in page does not ask the store each time.
func (c *component) authorizedCached(ctx context.Context, appID string) (bool, error) {
	now := c.now()
	c.mu.Lock()
	e, hit := c.authz[appID]
	c.mu.Unlock()
	if hit && now.Before(e.till) {
		return e.ok, nil
	}
	ok, err := c.authorized(ctx, appID)
	if err != nil {
		return false, err
	}
	c.noteAuthorization(appID, ok)
	return ok, nil
}

// noteAuthorization records what this process learned about appID.
func (c *component) noteAuthorization(appID string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.authz == nil || len(c.authz) > 10000 {
		c.authz = make(map[string]authorizedEntry)
	}
	c.authz[appID] = authorizedEntry{ok: ok, till: c.now().Add(authorizedFor)}
}

// authorized reports whether appID has authorized the platform, as the
// authorization events recorded it.
func (c *component) authorized(ctx context.Context, appID string) (bool, error) {
	mark, _, err := c.authorizerState(ctx, appID)
	return mark == authorizedMark, err
}

// recordAuthorization applies an authorization event unless a newer one of
// the same authorizer is recorded already. It reports whether it changed
// the record.
func (c *component) recordAuthorization(ctx context.Context, appID string, authorized bool, created int64) (bool, error) {
	_, have, err := c.authorizerState(ctx, appID)
	if err != nil {
		return false, err
	}
	if have > created {
		return false, nil
	}
	mark, ttl := byte(authorizedMark), authorizedTTL
	if !authorized {
		mark, ttl = unauthorizedMark, unauthorizedTTL
	}
	v := strconv.AppendInt([]byte{mark}, created, 10)
	if err := c.store.Set(ctx, c.authorizerKey(appID), v, ttl); err != nil {
		return false, err
	}
	c.noteAuthorization(appID, authorized)
	return true, nil
}

// pushKey is where a push's msg_signature is remembered: its hash, so the
// key has a fixed shape whatever the query held.
func (c *component) pushKey(msgSignature string) string {
	h := sha256.Sum256([]byte(msgSignature))
	return c.storeKey("push:" + hex.EncodeToString(h[:16]))
}
