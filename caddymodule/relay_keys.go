package wechatauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The relay's trust, kept apart from the session keys.
//
// The relay holds relay_secret. Each client site holds one key, derived
// from that secret and the client's origin (scheme://host[:port]) with
// HKDF-SHA256, and handed to the client's operator (caddy wechat-relay-key).
// The relay derives the key of the origin a message names whenever it needs
// it, so it keeps no list of keys, and a preview environment under
// relay_for *.preview.example.com gets a key for its own host only.
//
// Both messages (the client's request, the relay's hand-back) are sealed
// with AES-256-GCM under the client's key, the message's name and the
// client's origin bound in as associated data. So a client's key opens only
// the hand-backs made for that client, seals only requests that bring a
// login back to that client, and says nothing about any other client's key
// or anybody's session keys: each site signs its own sessions.

const (
	// relayKeyInfo separates these keys from anything else ever derived
	// from the same secret; the client origin follows it.
	relayKeyInfo = "caddy-wechat-auth relay client key v1 "
	// relayKeyLen is a client key's length: AES-256.
	relayKeyLen = 32
	// minRelaySecretLen is the shortest relay_secret accepted.
	minRelaySecretLen = 32
	// maxRelayMessage bounds what is decoded from a URL parameter.
	maxRelayMessage = 8192
)

// RelayKey is one relay_key line of a relay client: the key the relay
// derived for this site's origin.
type RelayKey struct {
	// Origin is this site's origin as visitors' browsers see it, e.g.
	// https://shop.example.com or http://shop.example.com:8080. The
	// hand-back URL is built from it, never from the request's Host.
	Origin string `json:"origin,omitempty"`

	// Key is the key the relay derived for Origin (caddy wechat-relay-key
	// prints it). Write it as {env.NAME} or {file./path}: it is expanded at
	// provision time and so never appears in adapted JSON.
	Key string `json:"key,omitempty"`
}

// RelayClientKey derives, from a relay's relay_secret (base64, at least 32
// bytes) and a client site's origin, the client's key and the origin in the
// form the client's relay_key line takes. It is the relay's own derivation,
// exported for caddy wechat-relay-key.
func RelayClientKey(secret, clientOrigin string) (canonicalOrigin, key string, err error) {
	s, err := decodeRelaySecret(secret, 1)
	if err != nil {
		return "", "", err
	}
	o, err := parseClientOrigin(clientOrigin)
	if err != nil {
		return "", "", err
	}
	k, err := deriveRelayKey(s, o)
	if err != nil {
		return "", "", err
	}
	return o.String(), base64.StdEncoding.EncodeToString(k), nil
}

func deriveRelayKey(secret []byte, o origin) ([]byte, error) {
	return hkdf.Key(sha256.New, secret, nil, relayKeyInfo+o.String(), relayKeyLen)
}

// decodeRelaySecret decodes the n-th relay_secret; errors never echo it.
func decodeRelaySecret(s string, n int) ([]byte, error) {
	b, err := decodeKey(s)
	if err != nil {
		return nil, fmt.Errorf("relay_secret #%d is %v: generate one with `head -c 32 /dev/urandom | base64`", n, err)
	}
	if len(b) < minRelaySecretLen {
		return nil, fmt.Errorf("relay_secret #%d is %d bytes, want at least %d: generate one with `head -c 32 /dev/urandom | base64`", n, len(b), minRelaySecretLen)
	}
	return b, nil
}

// parseClientOrigin reads a client origin: http(s)://host[:port], nothing
// after it but an optional "/".
func parseClientOrigin(raw string) (origin, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || strings.Contains(raw, "#") {
		return origin{}, fmt.Errorf("%q is not a site origin: write the client site's scheme and host as visitors' browsers see them, e.g. https://shop.example.com or http://shop.example.com:8080", raw)
	}
	o, err := makeOrigin(u.Scheme, u.Host)
	if err != nil {
		return origin{}, fmt.Errorf("%q: %q is not a host name", raw, u.Host)
	}
	return o, nil
}

func newRelayAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// relayKeyring finds the keys of a client origin: the first seals, every
// one opens (so keys rotate as session_keys do). nil: no key for it.
type relayKeyring func(origin) []cipher.AEAD

// relayRing derives, on the relay, the keys of any origin from the
// relay_secret list.
func relayRing(secrets [][]byte) relayKeyring {
	return func(o origin) []cipher.AEAD {
		keys := make([]cipher.AEAD, 0, len(secrets))
		for _, s := range secrets {
			k, err := deriveRelayKey(s, o)
			if err != nil {
				return nil
			}
			a, err := newRelayAEAD(k)
			if err != nil {
				return nil
			}
			keys = append(keys, a)
		}
		return keys
	}
}

// clientRing holds, on a client, the keys of its own origins only.
func clientRing(keys map[origin][]cipher.AEAD) relayKeyring {
	return func(o origin) []cipher.AEAD { return keys[o] }
}

var errNoRelayKey = errors.New("no relay key for this origin")

// sealFor encrypts payload for the client at o under name.
func sealFor(keys []cipher.AEAD, name string, o origin, payload []byte) (string, error) {
	if len(keys) == 0 {
		return "", errNoRelayKey
	}
	a := keys[0]
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(payload)+a.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails on supported platforms
	out := a.Seal(nonce, nonce, payload, relayAD(name, o))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// openFor decrypts a message sealed by sealFor for the client at o under
// name, with any of the keys.
func openFor(keys []cipher.AEAD, name string, o origin, v string) ([]byte, error) {
	if len(v) > maxRelayMessage {
		return nil, errRelayInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, errRelayInvalid
	}
	ad := relayAD(name, o)
	for _, a := range keys {
		if len(b) < a.NonceSize()+a.Overhead() {
			return nil, errRelayInvalid
		}
		if p, err := a.Open(nil, b[:a.NonceSize()], b[a.NonceSize():], ad); err == nil {
			return p, nil
		}
	}
	return nil, errRelayInvalid
}

// relayAD binds a message to its kind and to the client it is for: a
// request cannot pass for a hand-back, nor a message of one client for
// another's even under the same key.
func relayAD(name string, o origin) []byte {
	return []byte(name + "\x00" + o.String())
}
