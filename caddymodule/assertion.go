package wechatauth

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// The signed identity (docs/assertion.md): besides the plain X-WeChat-*
// headers, the upstream gets a short-lived ES256 JWS over the verified
// identity that it can check against the keys at {path_prefix}/jwks.json.
// Plain headers are only as good as the network that keeps everyone but the
// gateway away from the upstream; the assertion holds even when that fails.
//
// Cost: an assertion is signed once per session and handler origin and kept
// on the session's memo entry (identity.assertion) until shortly before it
// expires, so a repeat request sets a cached header: no signature, no
// allocation.

// Assertion configures the signed identity header.
type Assertion struct {
	// Header names the request header (and forward-auth answer header) that
	// carries the assertion, default X-WeChat-Assertion. Client-sent copies
	// are removed in any spelling, like every identity header.
	Header string `json:"header,omitempty"`

	// Issuer is the assertion's iss claim. Default: the site's origin as the
	// browser sees it (https://shop.example.com). Set it when several sites
	// share one gateway and verifiers should name the gateway, not the site.
	Issuer string `json:"issuer,omitempty"`

	// Audience is the assertion's aud claim: whom this handler's assertions
	// are for. Default: the site's origin. Each upstream checks that aud is
	// its own, so an assertion minted for one app is refused by another.
	Audience string `json:"audience,omitempty"`

	// Keys are the signing keys: PEM-encoded ECDSA P-256 keys, written as
	// {file./run/secrets/assertion.pem} so the key never appears in adapted
	// JSON. The first must be a private key and signs; every key (a PEM
	// "PUBLIC KEY" too, for a key being retired or introduced) is published
	// at jwks.json. Without keys the gateway generates them and shares them
	// through the wechat app's store (assertion_keys.go).
	Keys []string `json:"keys,omitempty"`

	// TTL is how long an assertion is valid (exp - iat), default and at most
	// 5m. A cached assertion is renewed a minute (or a fifth of TTL) before
	// it expires, so the upstream never receives one about to lapse.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// WellKnown also serves the keys at /.well-known/jwks.json, for
	// verifiers that look there by default.
	WellKnown bool `json:"well_known,omitempty"`
}

const (
	defaultAssertionHeader = "X-WeChat-Assertion"
	maxAssertionTTL        = 5 * time.Minute
	// jwksPath is the well-known address of the key set (WellKnown).
	jwksPath = "/.well-known/jwks.json"
)

// validate checks what can be checked before keys are loaded; every message
// names the setting.
func (a *Assertion) validate() error {
	if a.Header != "" && !validHeaderName(a.Header) {
		return fmt.Errorf("assertion header %q is not a valid header name: use letters, digits and '-', e.g. X-WeChat-Assertion", a.Header)
	}
	if ttl := time.Duration(a.TTL); ttl < 0 || ttl > maxAssertionTTL || (ttl != 0 && ttl < 30*time.Second) {
		return fmt.Errorf("assertion ttl %s: use between 30s and 5m (default 5m): an assertion is a short-lived proof, not a session", ttl)
	}
	return nil
}

func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return s != ""
}

// assertionSigner mints assertions for one handler: its own clock, logger
// and keys, behind the small adapter (Handler.assertIdentity).
type assertionSigner struct {
	header    string // canonical
	issuer    string // "" = the site's origin
	audience  string // "" = the site's origin
	appID     string
	ttl       time.Duration
	renew     time.Duration // renew this long before exp
	wellKnown bool
	keys      keySource
	sites     *siteNames // whether the site's address names its host
	now       func() time.Time
	logger    *zap.Logger
	warned    atomic.Bool // the catch-all warning, once
}

// signedAssertion is one minted assertion and what it was minted for: the
// handler and the request's origin inputs (compared as raw strings, so a
// repeat request allocates nothing), and when to mint a new one.
type signedAssertion struct {
	by      *assertionSigner
	host    string // r.Host
	fwd     string // X-Forwarded-Host and -Proto when trusted, else ""
	tls     bool
	renewAt int64  // Unix seconds
	value   string // the header value
}

func (h *Handler) provisionAssertion(repl *caddy.Replacer) error {
	a := h.Assertion
	if a == nil {
		return nil
	}
	s := &assertionSigner{
		header: textproto.CanonicalMIMEHeaderKey(a.Header), appID: h.AppID,
		ttl: time.Duration(a.TTL), wellKnown: a.WellKnown, now: h.now, logger: h.logger,
	}
	if s.header == "" {
		s.header = textproto.CanonicalMIMEHeaderKey(defaultAssertionHeader)
	}
	if s.ttl == 0 {
		s.ttl = maxAssertionTTL
	}
	s.renew = min(time.Minute, s.ttl/5)
	var err error
	if s.issuer, err = expand(repl, "assertion issuer", a.Issuer); err != nil {
		return err
	}
	if s.audience, err = expand(repl, "assertion audience", a.Audience); err != nil {
		return err
	}
	if len(a.Keys) > 0 {
		pems := make([]string, len(a.Keys))
		for i, k := range a.Keys {
			// The value is not echoed: it is a private key.
			if pems[i], err = expand(repl, "assertion key", k); err != nil {
				return fmt.Errorf("assertion key #%d: a placeholder in it could not be expanded: use {file./path/key.pem} with a readable file, or {env.NAME} with NAME set", i+1)
			}
		}
		set, err := parseKeySet(pems)
		if err != nil {
			return err
		}
		s.keys = staticKeys{set}
	} else {
		if h.app.Store == "" {
			h.logger.Warn("assertion without keys and without a wechat store: this process signs with a key of its own, generated at start; replicas then publish different keys and a restart changes them. Configure assertion key {file.…} or the wechat store (docs/assertion.md)")
		}
		s.keys = newStoredKeys(h.app.store, h.now, h.logger)
		if _, err := s.keys.current(); err != nil {
			return fmt.Errorf("assertion: generating the signing key: %v", err)
		}
	}
	s.sites = h.hostGuard
	h.names.alsoStrip(s.header)
	h.assert = s
	return nil
}

// assertIdentity sets the assertion header for an admitted identity: the
// cached one while it is fresh and for this origin, else a new one.
func (s *assertionSigner) assertIdentity(r *http.Request, hdr http.Header, a *admitted) {
	id := a.id
	now := s.now().Unix()
	tls := r.TLS != nil
	fwd := ""
	if isTrustedProxy(r) {
		fwd = r.Header.Get("X-Forwarded-Host")
		if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
			fwd = p + "|" + fwd // only when trusted: rare
		}
	}
	if c := id.assertion.Load(); c != nil && c.by == s && c.renewAt > now && c.host == r.Host && c.tls == tls && c.fwd == fwd {
		a.set(hdr, s.header, slotAssertion, c.value)
		return
	}
	c, err := s.mint(r, id, now)
	if err != nil {
		// No header: a verifier refuses the request, which fails closed.
		if ce := s.logger.Check(zap.ErrorLevel, "no identity assertion for this request"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return
	}
	c.host, c.tls, c.fwd = r.Host, tls, fwd
	id.assertion.Store(c)
	a.set(hdr, s.header, slotAssertion, c.value)
}

var errCatchAllAssertion = errors.New("this site's address names no host (a catch-all takes any Host header), so the site origin cannot be the assertion's issuer or audience: set assertion issuer and audience")

// mint signs a new assertion for id at now.
func (s *assertionSigner) mint(r *http.Request, id *identity, now int64) (*signedAssertion, error) {
	sess := &id.sess
	unionID := sess.UnionID
	if id.unionID != "" {
		unionID = id.unionID // a follower's, from user/info (subscriber_info)
	}
	iss, aud := s.issuer, s.audience
	if iss == "" || aud == "" {
		if !s.sites.hostNamed(r) {
			if !s.warned.Swap(true) {
				s.logger.Error("assertion issuer/audience default to the site origin, but " + errCatchAllAssertion.Error())
			}
			return nil, errCatchAllAssertion
		}
		site, err := siteOrigin(r)
		if err != nil {
			return nil, err
		}
		if iss == "" {
			iss = site.String()
		}
		if aud == "" {
			aud = site.String()
		}
	}
	key, err := s.keys.current()
	if err != nil {
		return nil, err
	}
	claims := assertionClaims{
		Iss: iss, Aud: aud, Sub: subject(sess.AppID, sess.OpenID, unionID), OpenID: sess.OpenID, UnionID: unionID,
		AppID: sess.AppID, Scope: sess.Scope, Source: id.sourceName(),
		Iat: now, Nbf: now, Exp: now + int64(s.ttl/time.Second),
	}
	if id.wecom != nil {
		id.wecom.assertionClaims(&claims) // a WeCom member's ids (wecom_session.go)
	}
	// exp never outlives the session itself.
	if sess.Expires > 0 && claims.Exp > sess.Expires {
		claims.Exp = sess.Expires
	}
	tok, err := signJWS(key, claims)
	if err != nil {
		return nil, err
	}
	return &signedAssertion{by: s, renewAt: claims.Exp - int64(s.renew/time.Second), value: tok}, nil
}

// assertionClaims is the payload (docs/assertion.md lists each claim).
type assertionClaims struct {
	Iss     string `json:"iss"`
	Aud     string `json:"aud"`
	Sub     string `json:"sub"`
	OpenID  string `json:"openid"`
	UnionID string `json:"unionid,omitempty"`
	AppID   string `json:"appid"`
	Scope   string `json:"scope"`
	Source  string `json:"source"`
	// CorpID, UserID and ExternalUserID are a WeCom identity's (source
	// wecom): the member's corp and userid, or a customer's external_userid.
	CorpID         string `json:"corpid,omitempty"`
	UserID         string `json:"userid,omitempty"`
	ExternalUserID string `json:"external_userid,omitempty"`
	Iat            int64  `json:"iat"`
	Nbf            int64  `json:"nbf"`
	Exp            int64  `json:"exp"`
}

// subject is the stable subject: the unionid when WeChat gave one (the same
// person across every app of one Open Platform account, and the same for a
// desktop_login session, whose openid is the website app's), otherwise
// appid:openid (an openid is per app, so it is qualified by the app).
func subject(appID, openID, unionID string) string {
	if unionID != "" {
		return unionID
	}
	return appID + ":" + openID
}

// signJWS makes the compact ES256 JWS of claims with key: base64url header
// and payload, then the JOSE signature r||s (32 bytes each).
func signJWS(key *assertionKey, claims any) (string, error) {
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{"ES256", key.kid, "JWT"})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	var b strings.Builder
	b.Grow(enc.EncodedLen(len(hdr)) + enc.EncodedLen(len(payload)) + 90)
	b.WriteString(enc.EncodeToString(hdr))
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(payload))
	sum := sha256.Sum256([]byte(b.String()))
	r, sg, err := ecdsa.Sign(rand.Reader, key.priv, sum[:])
	if err != nil {
		return "", err
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	sg.FillBytes(sig[32:])
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(sig[:]))
	return b.String(), nil
}

// serveJWKS answers {path_prefix}/jwks.json (and /.well-known/jwks.json
// with well_known): the public keys, cacheable for five minutes, so a new
// key must be published (listed after the signing one) at least that long
// before it signs.
func (s *assertionSigner) serveJWKS(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET", "")
		return
	}
	body, err := s.keys.jwks()
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "jwks_unavailable", "the signing keys could not be loaded; retry in a moment", "")
		return
	}
	hdr.Set("Content-Type", "application/jwk-set+json")
	hdr.Set("Cache-Control", "public, max-age=300")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}
