//go:build linux

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crypto/hmac"
	"crypto/sha256"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/wxgate/caddy-wechat-auth/internal/redistest"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// examples/php/assertion.php under real PHP: php-fpm behind the example
// Caddyfile checks the gateway's assertion, a second server that reaches the
// same php-fpm around the gateway gets nothing by forging headers, and
// php-cli shows the verifier refusing every forged or misdirected token.

// TestPHPExampleRefusesAnIdentityThatDidNotComeThroughTheGateway: a signed-in
// visitor's page works through the gateway (assertion.php verified it); the
// same php-fpm reached around the gateway refuses a forged openid, with or
// without a real assertion of someone else beside it.
func TestPHPExampleRefusesAnIdentityThatDidNotComeThroughTheGateway(t *testing.T) {
	s := startPHPSite(t)
	alice := s.login(t, "alice") // the page answered 200: the assertion verified

	// alice's assertion, as the forward-auth answer gives it.
	saved := alice.Client.CheckRedirect
	alice.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := alice.Client.Get(s.URL + "/wechat_auth/auth")
	alice.Client.CheckRedirect = saved
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	token := resp.Header.Get("X-WeChat-Assertion")
	if resp.StatusCode != http.StatusOK || token == "" {
		t.Fatalf("/wechat_auth/auth: %d, assertion %q", resp.StatusCode, token)
	}

	// A server that reaches php-fpm without wechat_auth (a mis-set
	// NetworkPolicy, a port left open).
	around := startPHPAroundTheGateway(t, shortTempDir(t), s.Sock,
		"PHONE_DB "+s.DB, "WECHAT_ASSERTION_ISSUER "+s.URL, "WECHAT_ASSERTION_AUDIENCE phone-binding")

	openID, bobID := s.openID("alice"), s.openID("bob")
	for _, c := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"forged openid, no assertion", map[string]string{"X-WeChat-OpenID": bobID, "X-WeChat-Scope": "snsapi_base", "X-WeChat-Source": "mp"}, 403},
		{"forged openid beside alice's real assertion", map[string]string{"X-WeChat-OpenID": bobID, "X-WeChat-Scope": "snsapi_base", "X-WeChat-Source": "mp", "X-WeChat-Assertion": token}, 403},
		{"alice's assertion with a unionid added", map[string]string{"X-WeChat-OpenID": openID, "X-WeChat-UnionID": "oUforged", "X-WeChat-Scope": "snsapi_base", "X-WeChat-Source": "mp", "X-WeChat-Assertion": token}, 403},
		{"a forged assertion", map[string]string{"X-WeChat-OpenID": bobID, "X-WeChat-Scope": "snsapi_base", "X-WeChat-Source": "mp", "X-WeChat-Assertion": "eyJhbGciOiJub25lIn0.e30."}, 403},
	} {
		req, _ := http.NewRequest(http.MethodGet, around+"/index.php", nil)
		for k, v := range c.hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: PHP answered %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
}

// phpVerify runs assertion.php's verifier under php-cli on each token and
// returns "ok" or its refusal.
func phpVerify(t *testing.T, jwks []byte, issuer, audience string, tokens []string) []string {
	t.Helper()
	php := needTool(t, "php-cli", "php")
	dir := t.TempDir()
	script := writeFile(t, dir, "verify.php", fmt.Sprintf(`<?php
require %q;
$in = json_decode(stream_get_contents(STDIN), true);
$out = [];
foreach ($in['tokens'] as $tok) {
    try {
        wechat_assertion_verify($tok, $in['jwks'], $in['iss'], $in['aud'], time());
        $out[] = 'ok';
    } catch (WeChatAssertionRefused $e) {
        $out[] = $e->getMessage();
    }
}
echo json_encode($out);
`, filepath.Join(repoRoot, "examples", "php", "assertion.php")))
	in, _ := json.Marshal(map[string]any{"jwks": json.RawMessage(jwks), "iss": issuer, "aud": audience, "tokens": tokens})
	cmd := exec.Command(php, script)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("php: %v\n%s", err, out)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(tokens) {
		t.Fatalf("php said %s", out)
	}
	return got
}

// signES256 signs claims with key under kid, with go-jose.
func signES256(t *testing.T, key *ecdsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestPHPVerifierRefusesEveryForgedOrMisdirectedAssertion: each token
// docs/assertion.md lists is refused by assertion.php under php-cli, and
// the well-formed one passes.
func TestPHPVerifierRefusesEveryForgedOrMisdirectedAssertion(t *testing.T) {
	ours, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	theirs, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // another site's gateway
	const iss, aud, kid = "https://phone.example.com", "phone-binding", "k1"
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ours.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	now := time.Now().Unix()
	claims := func(change map[string]any) map[string]any {
		c := map[string]any{"iss": iss, "aud": aud, "sub": wechattest.DefaultAppID + ":oA", "openid": "oA", "appid": wechattest.DefaultAppID,
			"scope": "snsapi_base", "source": "mp", "iat": now, "nbf": now, "exp": now + 300}
		for k, v := range change {
			c[k] = v
		}
		return c
	}
	valid := signES256(t, ours, kid, claims(nil))
	parts := strings.Split(valid, ".")
	pubDER, _ := x509.MarshalPKIXPublicKey(&ours.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	mac := hmac.New(sha256.New, pubPEM) // HS256 "signed" with the public key
	hsInput := b64(map[string]string{"alg": "HS256", "kid": kid, "typ": "JWT"}) + "." + parts[1]
	mac.Write([]byte(hsInput))
	tampered := claims(map[string]any{"openid": "oB"})

	cases := []struct{ name, token, want string }{
		{"valid", valid, "ok"},
		{"alg none", b64(map[string]string{"alg": "none", "kid": kid}) + "." + parts[1] + ".", "alg must be ES256"},
		{"HS256 signed with the public key", hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), "alg must be ES256"},
		{"unknown kid", signES256(t, ours, "k9", claims(nil)), "unknown kid"},
		{"wrong aud", signES256(t, ours, kid, claims(map[string]any{"aud": "another-app"})), "wrong audience"},
		{"expired", signES256(t, ours, kid, claims(map[string]any{"iat": now - 600, "nbf": now - 600, "exp": now - 300})), "expired"},
		{"not yet valid", signES256(t, ours, kid, claims(map[string]any{"nbf": now + 300, "exp": now + 600})), "not yet valid"},
		{"another site's gateway (its key, our kid)", signES256(t, theirs, kid, claims(map[string]any{"iss": "https://other.example.com"})), "bad signature"},
		{"another site's gateway (its key and kid)", signES256(t, theirs, "other", claims(nil)), "unknown kid"},
		{"our key, another issuer", signES256(t, ours, kid, claims(map[string]any{"iss": "https://other.example.com"})), "wrong issuer"},
		{"payload swapped", parts[0] + "." + b64(tampered) + "." + parts[2], "bad signature"},
	}
	var tokens []string
	for _, c := range cases {
		tokens = append(tokens, c.token)
	}
	got := phpVerify(t, jwks, iss, aud, tokens)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s: PHP says %q, want %q", c.name, got[i], c.want)
		}
	}
}

// testAssertionPEM is a new P-256 private key in PEM, as the Secret's
// WECHAT_ASSERTION_KEY holds it.
func testAssertionPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// TestReplicaProcessesOnRedisSignWithOneGeneratedKeySet: two Caddy
// processes with assertion and no configured key, on one real redis-server,
// publish the same JWKS, and an assertion either one signs verifies (go-jose)
// with the key set fetched from the other.
func TestReplicaProcessesOnRedisSignWithOneGeneratedKeySet(t *testing.T) {
	redisSrv := redistest.Start(t)
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	rs := startReplicasOf(t, strings.Replace(replicaCaddyfile,
		"open_base {env.WECHAT_OPEN_BASE}", "open_base {env.WECHAT_OPEN_BASE}\n\t\tassertion {\n\t\t\tissuer https://gw.example\n\t\t\taudience app\n\t\t}", 1),
		2, sim, redisSrv.URL())
	urls := []string{rs[0].url, rs[1].url}
	cookie := login(t, sim, replica{url: urls[0]}, "alice")
	var sets []jose.JSONWebKeySet
	for _, u := range urls {
		resp, err := http.Get(u + "/wechat_auth/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		var set jose.JSONWebKeySet
		err = json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
		if err != nil || len(set.Keys) == 0 {
			t.Fatalf("%s JWKS: %v", u, err)
		}
		sets = append(sets, set)
	}
	kidsOf := func(s jose.JSONWebKeySet) (k []string) {
		for _, x := range s.Keys {
			k = append(k, x.KeyID)
		}
		return k
	}
	if fmt.Sprint(kidsOf(sets[0])) != fmt.Sprint(kidsOf(sets[1])) {
		t.Fatalf("the replicas publish different keys: %v / %v", kidsOf(sets[0]), kidsOf(sets[1]))
	}
	for i, u := range urls {
		req, _ := http.NewRequest(http.MethodGet, u+"/wechat_auth/auth", nil)
		req.Header.Set("User-Agent", wechatUA)
		req.Header.Set("Cookie", "wechat_session="+cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tok, err := jwt.ParseSigned(resp.Header.Get("X-WeChat-Assertion"), []jose.SignatureAlgorithm{jose.ES256})
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("replica %d /auth: %d, %v", i, resp.StatusCode, err)
		}
		other := sets[1-i].Key(tok.Headers[0].KeyID)
		var c struct {
			jwt.Claims
			OpenID string `json:"openid"`
		}
		if len(other) != 1 || tok.Claims(other[0].Key, &c) != nil ||
			c.Validate(jwt.Expected{Issuer: "https://gw.example", AnyAudience: jwt.Audience{"app"}, Time: time.Now()}) != nil ||
			c.OpenID != sim.OpenID(wechattest.DefaultAppID, "alice") {
			t.Errorf("replica %d's assertion does not verify with replica %d's key set (%d keys for its kid)", i, 1-i, len(other))
		}
	}
}
