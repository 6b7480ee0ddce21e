package wechatauth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
)

// The keys that sign and encrypt our cookies: the session_keys setting,
// decoded with errors that name it and never echo a key, and the random
// pair of a process that was given none.

// SessionKey is one pair of session keys. The first pair configured signs
// new cookies; every pair verifies, so keys rotate without logging anyone out.
type SessionKey struct {
	// HashKey signs cookies with HMAC-SHA256: base64 (standard or URL-safe)
	// of 32 or 64 random bytes. Write it as {env.NAME} or {file.PATH} so it
	// never appears in the adapted JSON.
	HashKey string `json:"hash_key,omitempty"`
	// BlockKey, when set, encrypts cookies with AES: base64 of 16, 24 or 32
	// random bytes. Without it cookies are signed but readable by the visitor.
	BlockKey string `json:"block_key,omitempty"`
}

// decodeKey accepts the base64 alphabets operators are likely to paste.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not valid base64")
}

// hexHint explains a key that is hexadecimal (openssl rand -hex 32 makes
// 64 hex digits, which base64 reads as 48 bytes), without echoing it.
func hexHint(s string) string {
	s = strings.TrimSpace(s)
	if len(s) < 16 || strings.Trim(s, "0123456789abcdefABCDEF") != "" {
		return ""
	}
	return " (it looks like hex, e.g. from `openssl rand -hex 32`; session_keys are base64: use `openssl rand -base64 32`)"
}

// keyPairs decodes expanded key strings into securecookie key pairs. The
// errors name the setting and the position but never echo the key.
func keyPairs(keys []SessionKey) ([][]byte, error) {
	var pairs [][]byte
	for i, k := range keys {
		hash, err := decodeKey(k.HashKey)
		if err != nil {
			return nil, fmt.Errorf("session_keys #%d: hash key is %v%s: generate one with `head -c 32 /dev/urandom | base64`", i+1, err, hexHint(k.HashKey))
		}
		if len(hash) != 32 && len(hash) != 64 {
			return nil, fmt.Errorf("session_keys #%d: hash key is %d bytes, want 32 or 64%s: generate one with `head -c 32 /dev/urandom | base64`", i+1, len(hash), hexHint(k.HashKey))
		}
		var block []byte
		if k.BlockKey != "" {
			block, err = decodeKey(k.BlockKey)
			if err != nil {
				return nil, fmt.Errorf("session_keys #%d: block key is %v%s: generate one with `head -c 32 /dev/urandom | base64`", i+1, err, hexHint(k.BlockKey))
			}
			switch len(block) {
			case 16, 24, 32:
			default:
				return nil, fmt.Errorf("session_keys #%d: block key is %d bytes, want 16, 24 or 32%s: generate one with `head -c 32 /dev/urandom | base64`", i+1, len(block), hexHint(k.BlockKey))
			}
		}
		pairs = append(pairs, hash, block)
	}
	return pairs, nil
}

// processKeyPair is the hash and block key of every handler of this process
// that was given no session_keys. One pair for the process, not one per
// handler: several wechat_auth directives on a site must read each other's
// cookies (or a login by one would loop through another), and a config
// reload should not end every session.
var processKeyPair = sync.OnceValue(func() [][]byte {
	hash, block := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(hash) // crypto/rand.Read never fails on supported platforms
	_, _ = rand.Read(block)
	return [][]byte{hash, block}
})

func (h *Handler) expandKeys(repl *caddy.Replacer) ([][]byte, error) {
	if len(h.SessionKeys) == 0 {
		h.logger.Warn("no session_keys configured: generated random keys, so sessions end when Caddy restarts and are not shared between replicas; set session_keys {env.WECHAT_SESSION_HASH_KEY} {env.WECHAT_SESSION_BLOCK_KEY} for production")
		return processKeyPair(), nil
	}
	keys, pairs, err := expandSessionKeys(repl, h.SessionKeys)
	if err != nil {
		return nil, err
	}
	if keys[0].BlockKey == "" {
		h.logger.Warn("session_keys has no block key: cookies are signed but not encrypted, so visitors can read their own openid; add a second, 32-byte key to encrypt them (head -c 32 /dev/urandom | base64)")
	}
	return pairs, nil
}
