package wechatauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The signed identity checked the way an upstream would, with go-jose (a
// JOSE library nobody here wrote): the JWKS the gateway serves verifies the
// assertion the upstream received, with the claims docs/assertion.md lists.

// assertionClaims are the claims beyond the registered ones.
type assertionClaims struct {
	jwt.Claims
	OpenID  string `json:"openid"`
	UnionID string `json:"unionid"`
	AppID   string `json:"appid"`
	Scope   string `json:"scope"`
	Source  string `json:"source"`
}

// fetchJWKS reads the key set at u and checks its caching header.
func fetchJWKS(t *testing.T, u string) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("GET %s: %d, Cache-Control %q", u, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("GET %s: not a JWKS: %v", u, err)
	}
	return set
}

// verifyAssertion verifies tok with set as go-jose does and returns its claims.
func verifyAssertion(tok string, set jose.JSONWebKeySet, iss, aud string, at time.Time) (assertionClaims, error) {
	var c assertionClaims
	return c, verifyAssertionInto(tok, set, iss, aud, at, &c)
}

// verifyAssertionInto verifies tok as an upstream would (the JWKS key its
// kid names, ES256, issuer and audience, valid at at) and decodes its
// claims into c, whatever claims c adds.
func verifyAssertionInto[C interface {
	ValidateWithLeeway(jwt.Expected, time.Duration) error
}](tok string, set jose.JSONWebKeySet, iss, aud string, at time.Time, c C) error {
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return err
	}
	if len(parsed.Headers) != 1 || parsed.Headers[0].KeyID == "" {
		return fmt.Errorf("no kid in the header")
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		return fmt.Errorf("kid %q is not in the JWKS", parsed.Headers[0].KeyID)
	}
	if err := parsed.Claims(keys[0].Key, c); err != nil {
		return err
	}
	return c.ValidateWithLeeway(jwt.Expected{Issuer: iss, AnyAudience: jwt.Audience{aud}, Time: at}, 0)
}

func TestUpstreamReceivesAnAssertionAJOSELibraryVerifies(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "assertion {\n\twell_known\n}"})
	b := newBrowser("alice")
	got := g.login(t, b, "/start")
	tok := got.Header.Get("X-WeChat-Assertion")
	if tok == "" {
		t.Fatal("the upstream received no X-WeChat-Assertion")
	}
	set := fetchJWKS(t, g.URL+"/wechat_auth/jwks.json")
	if well := fetchJWKS(t, g.URL+"/.well-known/jwks.json"); len(well.Keys) != len(set.Keys) || well.Keys[0].KeyID != set.Keys[0].KeyID {
		t.Errorf("/.well-known/jwks.json differs from jwks.json")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Algorithm != "ES256" || k.Use != "sig" {
			t.Errorf("JWKS key %s: public %v alg %q use %q", k.KeyID, k.IsPublic(), k.Algorithm, k.Use)
		}
	}
	c, err := verifyAssertion(tok, set, g.URL, g.URL, time.Now())
	if err != nil {
		t.Fatalf("go-jose refuses the assertion: %v", err)
	}
	openID := got.Header.Get("X-WeChat-OpenID")
	if c.OpenID != openID || c.Subject != testAppID+":"+openID || c.AppID != testAppID || c.Scope != "snsapi_base" || c.Source != "mp" || c.UnionID != "" {
		t.Errorf("claims %+v, want openid %s, sub appid:openid, scope snsapi_base, source mp", c, openID)
	}
	if life := c.Expiry.Time().Sub(c.IssuedAt.Time()); life <= 0 || life > 5*time.Minute || *c.NotBefore != *c.IssuedAt {
		t.Errorf("iat %v nbf %v exp %v: want nbf = iat and a life of at most 5m", c.IssuedAt, c.NotBefore, c.Expiry)
	}

	// A repeat request reuses the cached assertion; forged copies in every
	// spelling are gone.
	forged := http.Header{"X-Wechat-Assertion": {"forged"}, "X.Wechat.Assertion": {"forged"}, "X_WECHAT_ASSERTION": {"forged"}, "x-wEchat-assertion": {"forged"}}
	if resp, body := b.do(t, http.MethodGet, g.URL+"/again", forged); resp.StatusCode != http.StatusOK {
		t.Fatalf("repeat: %d %.200s", resp.StatusCode, body)
	}
	again := g.up.last(t)
	if v := again.Header.Values("X-WeChat-Assertion"); len(v) != 1 || v[0] != tok {
		t.Errorf("repeat request: upstream got %q, want the cached assertion", v)
	}
	if through := forgedThrough(again); len(through) != 0 {
		t.Errorf("forged assertion headers reached the upstream: %v", through)
	}
}

func TestAnAssertionHeaderOutsideThePrefixIsStrippedInEverySpelling(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "non_wechat allow\n\tassertion {\n\theader X-Gateway-Proof\n\taudience https://app.example\n\tissuer https://gw.example\n}"})
	forged := http.Header{"X-Gateway-Proof": {"forged"}, "X.Gateway.Proof": {"forged"}, "X_GATEWAY_PROOF": {"forged"}}
	anon := newBrowser("alice")
	anon.UserAgent = desktopUA
	if resp, _ := anon.do(t, http.MethodGet, g.URL+"/anon", forged); resp.StatusCode != http.StatusOK {
		t.Fatalf("anonymous request: %d", resp.StatusCode)
	}
	if through := forgedThrough(g.up.last(t)); len(through) != 0 {
		t.Errorf("anonymous request: forged headers reached the upstream: %v", through)
	}
	b := newBrowser("bob")
	g.login(t, b, "/start")
	b.do(t, http.MethodGet, g.URL+"/page", forged)
	got := g.up.last(t)
	if through := forgedThrough(got); len(through) != 0 {
		t.Errorf("forged headers reached the upstream: %v", through)
	}
	c, err := verifyAssertion(got.Header.Get("X-Gateway-Proof"), fetchJWKS(t, g.URL+"/wechat_auth/jwks.json"), "https://gw.example", "https://app.example", time.Now())
	if err != nil {
		t.Fatalf("assertion in X-Gateway-Proof: %v", err)
	}
	if c.OpenID != got.Header.Get("X-WeChat-OpenID") {
		t.Errorf("openid claim %q, header %q", c.OpenID, got.Header.Get("X-WeChat-OpenID"))
	}
}

func TestForwardAuthAnswerCarriesTheAssertion(t *testing.T) {
	g := startGateway(t, gatewayConfig{global: trustLoopback, settings: "assertion {\n\taudience https://app.example\n}", site: `handle /wechat_auth/* {
		%[1]s
		respond 404
	}
	handle {
		forward_auth %[3]s {
			uri /wechat_auth/auth
			copy_headers X-WeChat-OpenID X-WeChat-Assertion
		}
		reverse_proxy %[2]s
	}`})
	b := newBrowser("alice")
	got := g.login(t, b, "/start")
	if _, err := verifyAssertion(got.Header.Get("X-WeChat-Assertion"), fetchJWKS(t, g.URL+"/wechat_auth/jwks.json"), g.URL, "https://app.example", time.Now()); err != nil {
		t.Fatalf("the assertion copied from the forward-auth answer: %v", err)
	}
	// The answer itself, asked directly.
	resp, _ := b.get(t, g.URL+"/wechat_auth/auth")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-WeChat-Assertion") == "" {
		t.Errorf("/auth answered %d with assertion %q", resp.StatusCode, resp.Header.Get("X-WeChat-Assertion"))
	}
}

// writeKeyPEM writes a new P-256 private key as PKCS#8 PEM and returns its path.
func writeKeyPEM(t *testing.T, dir, name string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfiguredKeysNeverReachLogsOrAdaptedJSON(t *testing.T) {
	dir := t.TempDir()
	k1 := writeKeyPEM(t, dir, "k1.pem")
	pemText, _ := os.ReadFile(k1)
	g := startGateway(t, gatewayConfig{settings: fmt.Sprintf("assertion {\n\tkey {file.%s}\n}", k1), site: metricsSite})
	b := newBrowser("alice")
	got := g.login(t, b, "/start")
	set := fetchJWKS(t, g.URL+"/wechat_auth/jwks.json")
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want the configured one", len(set.Keys))
	}
	if _, err := verifyAssertion(got.Header.Get("X-WeChat-Assertion"), set, g.URL, g.URL, time.Now()); err != nil {
		t.Fatal(err)
	}
	body := string(pemText)
	secret := strings.Split(body, "\n")[1] // a line of the key's base64
	logs, _ := os.ReadFile(g.logFile)
	access, _ := os.ReadFile(g.logFile + ".access")
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(fmt.Sprintf(`:8080 {
	wechat_auth {
		app_id wx0
		app_secret x
		assertion {
			key {file.%s}
		}
	}
}`, k1)), nil)
	if err != nil || !strings.Contains(string(adapted), "{file."+k1+"}") {
		t.Fatalf("adapt: %v %s", err, adapted)
	}
	jwks, _ := json.Marshal(set)
	_, metrics := g.scrape(t)
	for what, text := range map[string]string{"log": string(logs), "access log": string(access), "adapted JSON": string(adapted), "jwks": string(jwks), "metrics": metrics} {
		if strings.Contains(text, secret) || strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("the private key appears in the %s", what)
		}
	}
}

// writePublicPEM writes the public half of the private key PEM at priv.
func writePublicPEM(t *testing.T, priv, dst string) {
	t.Helper()
	b, _ := os.ReadFile(priv)
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.(*ecdsa.PrivateKey).PublicKey)
	if err := os.WriteFile(dst, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestKeyRotationDuringTrafficFailsNoVerification rotates configured keys
// the documented way (publish the new key second, then let it sign with
// the old one second, then drop the old one) by config reloads while
// visitors keep asking for assertions, and a verifier that fetched the
// JWKS once, at the start, verifies every one of them: a new key is
// published before it signs.
func TestKeyRotationDuringTrafficFailsNoVerification(t *testing.T) {
	dir := t.TempDir()
	k1, k2, k3 := writeKeyPEM(t, dir, "k1.pem"), writeKeyPEM(t, dir, "k2.pem"), writeKeyPEM(t, dir, "k3.pem")
	first, second := filepath.Join(dir, "first.pem"), filepath.Join(dir, "second.pem")
	copyFile := func(src, dst string) {
		b, _ := os.ReadFile(src)
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(k1, first)
	writePublicPEM(t, k2, second) // step 0: k1 signs, k2 is published
	g := startGateway(t, gatewayConfig{settings: fmt.Sprintf("assertion {\n\tkey {file.%s}\n\tkey {file.%s}\n}", first, second)})
	cached := fetchJWKS(t, g.URL+"/wechat_auth/jwks.json") // never fetched again

	var browsers []*browser
	for _, u := range []string{"alice", "bob", "carol"} {
		b := newBrowser(u)
		g.login(t, b, "/start")
		browsers = append(browsers, b)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var verified, failed atomic.Int64
	kidsSeen := sync.Map{}
	for _, b := range browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, g.URL+"/wechat_auth/auth", nil)
				resp, err := b.Client.Do(req)
				if err != nil {
					continue // a connection cut by the reload: not a verification
				}
				resp.Body.Close()
				tok := resp.Header.Get("X-WeChat-Assertion")
				if resp.StatusCode != http.StatusOK || tok == "" {
					continue
				}
				if _, err := verifyAssertion(tok, cached, g.URL, g.URL, time.Now()); err != nil {
					failed.Add(1)
					t.Errorf("verification failed during rotation: %v", err)
					continue
				}
				if parts := strings.SplitN(tok, ".", 2); len(parts) == 2 {
					kidsSeen.Store(parts[0], true)
				}
				verified.Add(1)
			}
		}()
	}
	step := func(a, b string, bPublic bool) {
		time.Sleep(300 * time.Millisecond) // traffic under the current config
		copyFile(a, first)
		if bPublic {
			writePublicPEM(t, b, second)
		} else {
			copyFile(b, second)
		}
		loadCaddyfile(t, g.config) // the same Caddyfile, the files read anew
	}
	step(k2, k1, true) // step 1: k2 signs, k1 still published
	step(k2, k3, true) // step 2: k1 dropped, k3 published next
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	n := 0
	kidsSeen.Range(func(any, any) bool { n++; return true })
	t.Logf("%d assertions verified with the JWKS fetched before the rotation, %d failed, %d signing keys seen", verified.Load(), failed.Load(), n)
	if n < 2 || verified.Load() == 0 {
		t.Fatalf("the rotation was not exercised: %d signing keys seen, %d verified", n, verified.Load())
	}
}
