package wechatauth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// sessionTTLKey holds, per app_id, the longest session_ttl any gateway
// configured, so an operator's revocation is kept as long as the sessions
// it names can live.
func sessionTTLKey(appID string) string { return "session_ttl:" + appID }

// RevokeOpenID ends every session of openID at appID issued until now, on
// every gateway that shares the store at storeURL (a Redis/Valkey URL, as
// in the wechat global option). The person can sign in again afterwards.
// The revocation is kept for sessionTTL, or for the longest session_ttl a
// gateway announced for the app if that is longer. Unlike a gateway, it
// fails when the store is unreachable: nothing would have been revoked.
// On Cluster, when the announced session_ttl cannot be read (its key may
// sit on a shard that is down while the revocations' shard is up), the
// revocation is still written, kept for sessionTTL, and note says so.
func RevokeOpenID(ctx context.Context, storeURL, keyPrefix, appID, openID string, sessionTTL time.Duration) (r Revocation, note string, err error) {
	if !validWeChatID(appID) {
		return Revocation{}, "", fmt.Errorf("app %q is not an AppID: use the app_id of the wechat_auth handler, e.g. wx0123456789abcdef", appID)
	}
	if !validWeChatID(openID) {
		return Revocation{}, "", fmt.Errorf("openid %q is not a WeChat openid: copy it from the X-WeChat-OpenID header or the access log's user_id", openID)
	}
	if storeURL == "" {
		return Revocation{}, "", errors.New("the store URL is empty: give the Redis URL of the gateways' wechat { store } setting")
	}
	if keyPrefix == "" {
		keyPrefix = defaultKeyPrefix
	}
	s, err := newRedisStore(storeURL, keyPrefix, nil, zap.NewNop())
	if err != nil {
		return Revocation{}, "", err
	}
	defer s.Close()

	keep := sessionTTL
	switch v, err := s.client.Get(ctx, s.key(sessionTTLKey(appID))).Result(); {
	case err == nil:
		if secs, perr := strconv.ParseInt(v, 10, 64); perr == nil {
			keep = max(keep, time.Duration(secs)*time.Second)
		}
	case !isRedisNil(err) && !s.cluster:
		return Revocation{}, "", fmt.Errorf("cannot reach the store %s: %s: check the URL and that Redis/Valkey is running; nothing was revoked", s.where, s.redact(err))
	case !isRedisNil(err):
		note = fmt.Sprintf("could not read the session_ttl the gateways announced (%s); the revocation is kept for --session-ttl %s", s.redact(err), sessionTTL)
	}
	now := s.now()
	r = Revocation{AppID: appID, OpenID: openID, IssuedBefore: now.UnixMilli(), Until: now.Add(keep).Unix() + 1}
	if err := s.publish(ctx, r); err != nil {
		return Revocation{}, "", fmt.Errorf("cannot reach the store %s: %s: check the URL and that Redis/Valkey is running; nothing was revoked", s.where, s.redact(err))
	}
	return r, note, nil
}
