package wechatauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// masked stands in for every secret part of a store URL in what we print.
const masked = "xxxxx"

// newRedisClient parses the store URL into a client: a single server by
// default, Sentinel when the query names master_name, Cluster when it lists
// further nodes as addr=. Errors never echo the URL: it may hold a password
// (in its userinfo, or in ?password= for Sentinel's data nodes). where is
// the URL with every secret masked, for log lines; secrets lists the
// secret values, to mask in error texts that quote them.
func newRedisClient(rawURL string) (client redis.UniversalClient, where string, secrets []string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, "", nil, errors.New("store is not a URL: use redis://[user:password@]host:6379/0 (or rediss://, or a {env.NAME} placeholder holding one)")
	}
	switch u.Scheme {
	case "valkey":
		u.Scheme = "redis"
	case "valkeys":
		u.Scheme = "rediss"
	case "redis", "rediss", "unix":
	default:
		return nil, "", nil, fmt.Errorf("store URL scheme %q is not supported: use redis://, rediss:// (TLS), valkey:// or unix://", u.Scheme)
	}
	where, secrets = maskStoreURL(u)
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
	// go-redis's parse errors quote the URL or a value; ours name the
	// setting only.
	bad := func(err error) error {
		msg := strings.ReplaceAll(err.Error(), full, where)
		return fmt.Errorf("store %s: %s: see the store setting of the wechat global option", where, redactAll(msg, secrets))
	}
	switch {
	case q.Has("master_name"):
		opts, err := redis.ParseFailoverURL(full)
		if err != nil {
			return nil, "", nil, bad(err)
		}
		return redis.NewFailoverClient(opts), where, secrets, nil
	case q.Has("addr"):
		opts, err := redis.ParseClusterURL(full)
		if err != nil {
			return nil, "", nil, bad(err)
		}
		return redis.NewClusterClient(opts), where, secrets, nil
	default:
		opts, err := redis.ParseURL(full)
		if err != nil {
			return nil, "", nil, bad(err)
		}
		return redis.NewClient(opts), where, secrets, nil
	}
}

// secretQueryParam reports whether a store URL's query parameter holds a
// secret: go-redis reads Sentinel's data-node password from ?password=,
// and any name with password, secret or token in it is treated alike.
func secretQueryParam(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "password") || strings.Contains(n, "secret") || strings.Contains(n, "token")
}

// maskStoreURL returns u as printable text, with the userinfo's password
// and every secret query value masked, and the secret values themselves.
func maskStoreURL(u *url.URL) (string, []string) {
	var secrets []string
	m := *u
	if p, ok := u.User.Password(); ok {
		if p != "" {
			secrets = append(secrets, p, url.QueryEscape(p), url.PathEscape(p))
		}
		m.User = url.UserPassword(u.User.Username(), masked)
	}
	q := u.Query()
	for k, vs := range q {
		if !secretQueryParam(k) {
			continue
		}
		for i, v := range vs {
			if v != "" {
				secrets = append(secrets, v, url.QueryEscape(v))
			}
			vs[i] = masked
		}
	}
	m.RawQuery = q.Encode()
	return m.String(), secrets
}

// MaskStoreURL returns a store URL fit to print: the password of its
// userinfo and every secret query parameter (?password=, Sentinel's) masked.
// Text that is not a URL is replaced whole, as it may be a bare secret.
func MaskStoreURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(not a URL)"
	}
	where, _ := maskStoreURL(u)
	return where
}

// StoreURLHoldsSecret reports whether a store URL holds a password
// literally: in its userinfo or in a secret query parameter.
func StoreURLHoldsSecret(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	_, secrets := maskStoreURL(u)
	_, hasPassword := u.User.Password()
	return hasPassword || len(secrets) > 0
}

// redactAll masks every secret in msg, longest first so a secret that
// contains another is masked whole.
func redactAll(msg string, secrets []string) string {
	ss := slices.Clone(secrets)
	slices.SortFunc(ss, func(a, b string) int { return len(b) - len(a) })
	for _, s := range ss {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, masked)
		}
	}
	return msg
}

// quietRedisLog drops go-redis's own log lines (pool dial failures,
// Sentinel lookups), which go to stderr in their own format before ours:
// every failure they describe reaches an operator through this module's
// log lines and errors, with the store URL's secrets masked.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietRedisLog{}) }
