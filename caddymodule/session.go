package wechatauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
)

// Session is what the session cookie holds about a visitor. It is bound to
// the app that issued it: a cookie of another app_id is refused.
type Session struct {
	AppID    string
	OpenID   string
	UnionID  string
	Scope    string
	Nickname string
	Avatar   string
	// Issued and Expires are Unix seconds. Expires is enforced from inside
	// the cookie, so a cookie replayed with a fresh Max-Age still ends.
	Issued  int64
	Expires int64
	// NoUpgradeUntil (Unix seconds) holds back a scope upgrade after a
	// snsapi_userinfo login fell back to snsapi_base because userinfo failed:
	// without it a persistently failing userinfo call would loop the visitor
	// between the page and WeChat.
	NoUpgradeUntil int64
	// ID names this one session, so a logout can revoke it on every replica
	// (the wechat app's store) without touching the person's other sessions.
	// Random, [A-Za-z0-9]; empty in cookies issued before sessions had ids.
	ID string
	// IssuedMilli is Issued in Unix milliseconds, so a revocation of every
	// session of an openid does not also refuse a sign-in in the same
	// second. Zero in cookies issued before; Issued then stands in.
	IssuedMilli int64
	// Extra is what the flow that issued the session keeps besides the
	// fields above, in that flow's own encoding (WeCom: the member's corp,
	// departments and name, wecom_session.go); "" for the others.
	Extra string
}

// sessionIDLen is the length of a session id: 131 bits from [A-Za-z0-9].
const sessionIDLen = 22

// issuedMs is when the session was issued, in Unix milliseconds; a cookie
// of version 1 counts from the end of its second, to be refused rather
// than spared by a revocation made in that second.
func (s *Session) issuedMs() int64 {
	if s.IssuedMilli != 0 {
		return s.IssuedMilli
	}
	return s.Issued*1000 + 999
}

// flowState is one login in progress, kept in a short-lived flow cookie of
// its own so several tabs can authorize at once without overwriting each
// other. The return URL cannot travel in WeChat's state parameter
// (alphanumeric, ≤128 bytes), so it lives here.
type flowState struct {
	State   string // the nonce sent as WeChat's state
	Return  string // validated return URL
	Scope   string // scope requested from WeChat
	Created int64  // Unix seconds
	// Kind is the flow that started the login (signin.go); the request
	// that ends it goes back to that flow.
	Kind flowKind
	// Retry marks a flow started by a silent restart after an invalid or used
	// code: a second failure shows an error page instead of looping.
	Retry bool
	// Done marks a flow whose callback already succeeded; a refresh or back
	// button on the callback URL then continues without redeeming again.
	Done bool
	// RelayBack and RelayState, on a relay, name the client a flow signs in
	// for: its hand-back URL and its own flow's state (flow_relayed.go).
	RelayBack  string
	RelayState string
	// legacyViaRelay is flag 4 of a version-2 flow cookie, which marked a
	// relay client's flow before flows had kinds (legacyAdopter).
	legacyViaRelay bool
}

// The wire format is deliberately tiny and allocation-light: a version byte
// then length-prefixed fields. securecookie's default gob costs ~57 µs per
// decode; this costs well under one. Session version 2 appends ID and
// IssuedMilli to version 1 and version 3 appends Extra; the older ones are
// still read, so existing sessions survive the upgrade.
const (
	sessionVersion   byte = 3
	sessionVersionV2 byte = 2
	sessionVersionV1 byte = 1
	// flowVersion 3 adds the flow's kind, version 2 added the relay
	// fields; versions 1 and 2 still decode (with no kind), so a login in
	// progress survives an upgrade (callback.go restarts it).
	flowVersion   byte = 3
	flowVersionV2 byte = 2
	// maxCookieLen bounds what we even try to verify (securecookie's default).
	maxCookieLen = 4096
)

var errMalformed = errors.New("malformed cookie payload")

func (s *Session) marshal() []byte {
	b := make([]byte, 0, 64+len(s.AppID)+len(s.OpenID)+len(s.UnionID)+len(s.Scope)+len(s.Nickname)+len(s.Avatar)+len(s.Extra))
	b = append(b, sessionVersion)
	for _, f := range [...]string{s.AppID, s.OpenID, s.UnionID, s.Scope, s.Nickname, s.Avatar} {
		b = appendString(b, f)
	}
	b = binary.AppendVarint(b, s.Issued)
	b = binary.AppendVarint(b, s.Expires)
	b = binary.AppendVarint(b, s.NoUpgradeUntil)
	b = appendString(b, s.ID)
	b = binary.AppendVarint(b, s.IssuedMilli)
	return appendString(b, s.Extra)
}

func (s *Session) unmarshal(b []byte) error {
	if len(b) == 0 || b[0] < sessionVersionV1 || b[0] > sessionVersion {
		return errMalformed
	}
	d := decoder{b: b[1:]}
	s.AppID, s.OpenID, s.UnionID = d.str(), d.str(), d.str()
	s.Scope, s.Nickname, s.Avatar = d.str(), d.str(), d.str()
	s.Issued, s.Expires, s.NoUpgradeUntil = d.varint(), d.varint(), d.varint()
	s.ID, s.IssuedMilli, s.Extra = "", 0, ""
	if b[0] >= sessionVersionV2 {
		s.ID, s.IssuedMilli = d.str(), d.varint()
	}
	if b[0] == sessionVersion {
		s.Extra = d.str()
	}
	return d.done()
}

func (f *flowState) marshal() []byte {
	b := make([]byte, 0, 32+len(f.State)+len(f.Return)+len(f.Scope)+len(f.RelayBack)+len(f.RelayState))
	b = append(b, flowVersion)
	b = appendString(b, f.State)
	b = appendString(b, f.Return)
	b = appendString(b, f.Scope)
	b = binary.AppendVarint(b, f.Created)
	var flags byte
	if f.Retry {
		flags |= 1
	}
	if f.Done {
		flags |= 2
	}
	b = append(b, flags)
	b = appendString(b, f.RelayBack)
	b = appendString(b, f.RelayState)
	return append(b, byte(f.Kind))
}

func (f *flowState) unmarshal(b []byte) error {
	if len(b) == 0 || b[0] < 1 || b[0] > flowVersion {
		return errMalformed
	}
	d := decoder{b: b[1:]}
	f.State, f.Return, f.Scope = d.str(), d.str(), d.str()
	f.Created = d.varint()
	flags := d.byte()
	f.Retry, f.Done, f.legacyViaRelay = flags&1 != 0, flags&2 != 0, flags&4 != 0
	f.RelayBack, f.RelayState, f.Kind = "", "", legacyFlowKind
	if b[0] >= flowVersionV2 {
		f.RelayBack, f.RelayState = d.str(), d.str()
	}
	if b[0] == flowVersion {
		f.Kind = flowKind(d.byte())
	}
	return d.done()
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the wire format; the first error sticks and every later read
// returns zero values, so callers check once with done.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) str() string {
	if d.err != nil {
		return ""
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.err = errMalformed
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.err = errMalformed
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errMalformed
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		return errMalformed
	}
	return d.err
}

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

// expand resolves {env.*} and {file.*} in a setting. It reports a placeholder
// that stays unexpanded by the setting's name only: the value may be secret.
func expand(repl *caddy.Replacer, setting, value string) (string, error) {
	out, err := repl.ReplaceOrErr(value, true, true)
	if err != nil {
		return "", fmt.Errorf("%s: a placeholder could not be expanded (%v): use {env.NAME} with NAME set, or {file./path} with a readable file", setting, err)
	}
	return strings.TrimSpace(out), nil
}

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
