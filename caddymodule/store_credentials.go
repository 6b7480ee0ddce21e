package wechatauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// sharedCredentials is wechat.SharedCredentials over the wechat app's store
// for one account: the basic access_token and the jsapi_ticket are fetched
// by one replica and read by the others, sealed with a key derived from the
// app secret (whoever reads Redis without the secret learns nothing), and a
// force refresh of the basic token is rationed across replicas.
type sharedCredentials struct {
	store  Store
	appID  string
	aead   cipher.AEAD
	logger *zap.Logger
	now    func() time.Time
}

const (
	// forceRefreshEvery is WeChat's own spacing of force refreshes.
	forceRefreshEvery = 30 * time.Second
	// forceRefreshPerDay leaves half of WeChat's 20 a day to the account's
	// other tools (docs/wechat.md §4).
	forceRefreshPerDay = 10
)

// beijing is the time zone WeChat's daily quotas reset in.
var beijing = time.FixedZone("CST", 8*3600)

func newSharedCredentials(store Store, appID, secret string, logger *zap.Logger) *sharedCredentials {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("wechat_auth shared credentials\x00" + appID))
	block, _ := aes.NewCipher(mac.Sum(nil)) // a 32-byte key never fails
	aead, _ := cipher.NewGCM(block)
	return &sharedCredentials{store: store, appID: appID, aead: aead, logger: logger, now: time.Now}
}

func (s *sharedCredentials) key(name string) string { return "credential:" + s.appID + ":" + name }

// Credential reads what another replica fetched. Only a shared store has
// anything to say: in memory, the client's own cache is the whole story.
func (s *sharedCredentials) Credential(ctx context.Context, name string) (string, time.Duration, bool) {
	if !s.store.Shared() {
		return "", 0, false
	}
	v, err := s.store.Get(ctx, s.key(name))
	n := s.aead.NonceSize()
	if err != nil || len(v) < n+8 {
		return "", 0, false
	}
	plain, err := s.aead.Open(nil, v[:n], v[n:], []byte(s.key(name)))
	if err != nil || len(plain) < 8 {
		return "", 0, false
	}
	till := time.UnixMilli(int64(binary.BigEndian.Uint64(plain[:8])))
	return string(plain[8:]), till.Sub(s.now()), true
}

// SetCredential offers a fresh credential to the other replicas, for as
// long as it may be used.
func (s *sharedCredentials) SetCredential(ctx context.Context, name, value string, usable time.Duration) {
	if !s.store.Shared() || usable <= 0 {
		return
	}
	plain := binary.BigEndian.AppendUint64(nil, uint64(s.now().Add(usable).UnixMilli()))
	plain = append(plain, value...)
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	_ = s.store.Set(ctx, s.key(name), s.aead.Seal(nonce, nonce, plain, []byte(s.key(name))), usable)
}

// AllowForceRefresh lets one replica force-refresh per 30 s, and no more
// than forceRefreshPerDay a day (Beijing time) for all replicas together.
// Without a shared store (none configured, or unreachable) it never allows:
// a replica cannot know it is alone, and one forcing on its own would log
// the others out (docs/wechat.md §4); a normal refetch is all it does then.
func (s *sharedCredentials) AllowForceRefresh(ctx context.Context) (allowed, wait bool) {
	if !s.store.Shared() {
		return false, false
	}
	won, err := s.store.Claim(ctx, "force_refresh:"+s.appID, []byte{1}, forceRefreshEvery)
	if err != nil || !won {
		return false, err == nil // another replica is refreshing: wait for its token
	}
	day := s.now().In(beijing).Format("20060102")
	n, err := s.store.Incr(ctx, "force_refresh:"+s.appID+":"+day, 25*time.Hour)
	if err != nil {
		return false, false
	}
	if n > forceRefreshPerDay {
		if n == forceRefreshPerDay+1 {
			s.logger.Warn("WeChat keeps rejecting the basic access_token and today's force_refresh budget is spent: check that no other program fetches tokens with cgi-bin/token for this account (use stable_token), and that app_secret is current",
				zap.String("app_id", s.appID), zap.Int("budget", forceRefreshPerDay))
		}
		return false, false
	}
	s.logger.Info("WeChat rejected the basic access_token although stable_token still hands it out: force-refreshing it for every replica",
		zap.String("app_id", s.appID), zap.String("today", strconv.FormatInt(n, 10)+" of "+strconv.Itoa(forceRefreshPerDay)))
	return true, false
}

// Interface guard.
var _ wechat.SharedCredentials = (*sharedCredentials)(nil)
