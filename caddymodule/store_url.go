package wechatauth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// newRedisClient parses the store URL into a client: a single server by
// default, Sentinel when the query names master_name, Cluster when it lists
// further nodes as addr=. Errors never echo the URL: it may hold a password.
func newRedisClient(rawURL string) (client redis.UniversalClient, where, secret string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, "", "", errors.New("store is not a URL: use redis://[user:password@]host:6379/0 (or rediss://, or a {env.NAME} placeholder holding one)")
	}
	switch u.Scheme {
	case "valkey":
		u.Scheme = "redis"
	case "valkeys":
		u.Scheme = "rediss"
	case "redis", "rediss", "unix":
	default:
		return nil, "", "", fmt.Errorf("store URL scheme %q is not supported: use redis://, rediss:// (TLS), valkey:// or unix://", u.Scheme)
	}
	secret, _ = u.User.Password()
	where = u.Redacted()
	q := u.Query()
	// Short timeouts: a login waits on Redis at most this long before the
	// store carries on from memory. The URL's own settings win.
	defaults := map[string]string{"dial_timeout": "2s", "read_timeout": "1s", "write_timeout": "1s", "max_retries": "1"}
	for k, v := range defaults {
		if !q.Has(k) {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	full := u.String()
	// go-redis's parse errors quote the URL; ours name the setting only.
	bad := func(err error) error {
		msg := err.Error()
		if secret != "" {
			msg = strings.ReplaceAll(msg, secret, "xxxxx")
		}
		msg = strings.ReplaceAll(msg, full, where)
		return fmt.Errorf("store %s: %s: see the store setting of the wechat global option", where, msg)
	}
	switch {
	case q.Has("master_name"):
		opts, err := redis.ParseFailoverURL(full)
		if err != nil {
			return nil, "", "", bad(err)
		}
		return redis.NewFailoverClient(opts), where, secret, nil
	case q.Has("addr"):
		opts, err := redis.ParseClusterURL(full)
		if err != nil {
			return nil, "", "", bad(err)
		}
		return redis.NewClusterClient(opts), where, secret, nil
	default:
		opts, err := redis.ParseURL(full)
		if err != nil {
			return nil, "", "", bad(err)
		}
		return redis.NewClient(opts), where, secret, nil
	}
}
