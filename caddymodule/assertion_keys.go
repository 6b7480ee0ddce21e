package wechatauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The assertion's keys: ES256 (ECDSA P-256, SHA-256). Stock PHP 8
// (openssl_verify), Go's standard library and Node's crypto verify it with
// nothing added; its keys and signatures are small (a 64-byte signature
// against RS256's 256), and signing costs far less than RSA. EdDSA would need
// PHP's sodium and is still missing from some JOSE libraries.
//
// A key's kid is its RFC 7638 thumbprint, so every replica names one key
// alike without agreeing on anything but the key.

// assertionKey is one key: a private key signs, every key is published.
type assertionKey struct {
	kid  string
	priv *ecdsa.PrivateKey // nil for a published-only key
	pub  *ecdsa.PublicKey
}

// keySource hands out the signing key and the published key set.
type keySource interface {
	current() (*assertionKey, error)
	jwks() ([]byte, error)
}

// keySet is a fixed list of keys: the first signs, all are published.
type keySet struct {
	keys []*assertionKey
	body []byte // the JWKS document
}

func newKeySet(keys []*assertionKey) *keySet {
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	for _, k := range keys {
		x, y := coords(k.pub)
		doc.Keys = append(doc.Keys, jwk{"EC", "P-256", x, y, k.kid, "sig", "ES256"})
	}
	body, _ := json.Marshal(doc) // plain strings: cannot fail
	return &keySet{keys: keys, body: body}
}

// coords are the base64url public coordinates, 32 bytes each.
func coords(pub *ecdsa.PublicKey) (x, y string) {
	raw, _ := pub.Bytes() // 0x04 || X || Y for a P-256 key
	return base64.RawURLEncoding.EncodeToString(raw[1:33]), base64.RawURLEncoding.EncodeToString(raw[33:65])
}

// thumbprint is the RFC 7638 JWK thumbprint: SHA-256 over the required
// members in lexical order, base64url.
func thumbprint(pub *ecdsa.PublicKey) string {
	x, y := coords(pub)
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func newAssertionKey(priv *ecdsa.PrivateKey, pub *ecdsa.PublicKey) *assertionKey {
	if priv != nil {
		pub = &priv.PublicKey
	}
	return &assertionKey{kid: thumbprint(pub), priv: priv, pub: pub}
}

// parseKeySet reads the configured PEM keys. Errors name the setting and
// the key's position, never its content.
func parseKeySet(pems []string) (*keySet, error) {
	var keys []*assertionKey
	seen := map[string]bool{}
	for i, p := range pems {
		k, err := parseKeyPEM([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("assertion key #%d: %v", i+1, err)
		}
		if i == 0 && k.priv == nil {
			return nil, errors.New("assertion key #1 is a public key: the first key signs, so it must be the private key (PEM \"EC PRIVATE KEY\" or \"PRIVATE KEY\"); list public keys after it")
		}
		if seen[k.kid] {
			return nil, fmt.Errorf("assertion key #%d is listed twice: remove one", i+1)
		}
		seen[k.kid] = true
		keys = append(keys, k)
	}
	return newKeySet(keys), nil
}

const keyFormatHint = "use an ECDSA P-256 key in PEM (openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt), written as {file./path/key.pem}"

func parseKeyPEM(b []byte) (*assertionKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block: " + keyFormatHint)
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a PEM %q block is not a key this module reads: %s", block.Type, keyFormatHint)
	}
	if err != nil {
		return nil, errors.New("the key does not parse: " + keyFormatHint)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return newAssertionKey(k, nil), nil
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return newAssertionKey(nil, k), nil
		}
	}
	return nil, errors.New("not a P-256 (prime256v1) ECDSA key: " + keyFormatHint)
}

// staticKeys are configured keys.
type staticKeys struct{ set *keySet }

func (s staticKeys) current() (*assertionKey, error) { return s.set.keys[0], nil }
func (s staticKeys) jwks() ([]byte, error)           { return s.set.body, nil }

// generatedKeyPeriod is how long one generated key signs. Keys are made per
// period and stored in the wechat app's store under assertion_key:<n>
// (first writer wins, every replica reads the winner), so every replica
// signs with the same key. The next period's key is made and published a
// whole period before it signs, and the last one stays published a period
// after, so a verifier caching the JWKS (max-age 300) never meets an
// unknown kid at the switch. A variable so tests can rotate quickly.
var generatedKeyPeriod = 24 * time.Hour

// storedKeysRefresh is how often a replica reads the store's keys again: a
// replica that signed with a key of its own while the store was unreachable
// adopts the store's within this time.
const storedKeysRefresh = time.Minute

// storedKeys are generated keys shared through the store.
type storedKeys struct {
	store  Store
	now    func() time.Time
	logger *zap.Logger

	mu      sync.Mutex
	period  int64 // the period signing and set were loaded for
	loaded  time.Time
	signing *assertionKey
	set     *keySet
}

func newStoredKeys(store Store, now func() time.Time, logger *zap.Logger) *storedKeys {
	return &storedKeys{store: store, now: now, logger: logger, period: -1}
}

func (s *storedKeys) current() (*assertionKey, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signing, nil
}

func (s *storedKeys) jwks() ([]byte, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set.body, nil
}

// load reads (and where missing, makes) the keys of the previous, current
// and next period, at most once per storedKeysRefresh and on each new
// period.
func (s *storedKeys) load() error {
	now := s.now()
	p := now.UnixNano() / int64(generatedKeyPeriod)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.period == p && now.Sub(s.loaded) < storedKeysRefresh {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cur, err := s.periodKey(ctx, p, true)
	if err != nil {
		return err
	}
	keys := []*assertionKey{cur}
	if next, err := s.periodKey(ctx, p+1, true); err == nil {
		keys = append(keys, next)
	}
	if prev, err := s.periodKey(ctx, p-1, false); err == nil && prev != nil {
		keys = append(keys, prev)
	}
	s.period, s.loaded, s.signing, s.set = p, now, cur, newKeySet(keys)
	return nil
}

// periodKey returns period n's key from the store; with create, a missing
// one is generated and offered (the first offer wins on every replica).
func (s *storedKeys) periodKey(ctx context.Context, n int64, create bool) (*assertionKey, error) {
	name := "assertion_key:" + strconv.FormatInt(n, 10)
	if b, err := s.store.Get(ctx, name); err == nil && b != nil {
		if k, err := parseStoredKey(b); err == nil {
			return k, nil
		}
		s.logger.Warn("a generated assertion key in the store does not parse; making a new one", zap.String("key", name))
	}
	if !create {
		return nil, nil
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	ttl := 3*generatedKeyPeriod + time.Hour
	won, err := s.store.Claim(ctx, name, der, ttl)
	if err != nil {
		return nil, err
	}
	if !won {
		// Another replica offered first: take its key.
		if b, err := s.store.Get(ctx, name); err == nil && b != nil {
			if k, err := parseStoredKey(b); err == nil {
				return k, nil
			}
		}
		if err := s.store.Set(ctx, name, der, ttl); err != nil {
			return nil, err
		}
	}
	return newAssertionKey(priv, nil), nil
}

func parseStoredKey(der []byte) (*assertionKey, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, errors.New("not a P-256 key")
	}
	return newAssertionKey(priv, nil), nil
}
