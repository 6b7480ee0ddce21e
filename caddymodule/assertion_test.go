package wechatauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// assertionHandler is a provisioned handler with assertion on, on a clock
// the test moves.
func assertionHandler(t *testing.T, a *Assertion) (*Handler, *time.Time) {
	t.Helper()
	now := time.Now()
	h := provisionedHandler(t, func(h *Handler) {
		h.now = func() time.Time { return now }
		h.Assertion = a
	})
	return h, &now
}

func TestRepeatAssertionAddsNoSignatureAndNoAllocation(t *testing.T) {
	h, now := assertionHandler(t, &Assertion{Issuer: "https://gw.example", Audience: "https://app.example"})
	s := Session{AppID: h.AppID, OpenID: "oA", Scope: "snsapi_base", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()}
	id := newIdentity(s, sourceMP)
	r := httptest.NewRequest("GET", "https://wx.example.com/", nil)
	hdr := http.Header{}
	a := newAdmitted(id, nil) // the request's header values, allocated by the gate
	h.assert.assertIdentity(r, hdr, a)
	first := id.assertion.Load()
	if v := hdr[h.assert.header]; len(v) != 1 || v[0] == "" || first == nil || v[0] != first.value {
		t.Fatalf("no assertion: %v", hdr)
	}
	if allocs := testing.AllocsPerRun(100, func() { h.assert.assertIdentity(r, hdr, a) }); allocs != 0 {
		t.Errorf("a repeat request allocates %.0f times, want 0", allocs)
	}
	if id.assertion.Load() != first || hdr.Get(h.assert.header) != first.value {
		t.Error("a repeat request signed a new assertion instead of reusing the cached one")
	}
	// Past the renewal point (a minute before exp) a new one is signed,
	// so the upstream never receives one about to lapse.
	*now = now.Add(4*time.Minute + time.Second)
	h.assert.assertIdentity(r, hdr, a)
	if id.assertion.Load() == first || hdr.Get(h.assert.header) == first.value {
		t.Error("the assertion was not renewed a minute before it expires")
	}
}

func TestCatchAllSiteWithoutIssuerAndAudienceGetsNoAssertion(t *testing.T) {
	// A unit-test handler sees no site routes, so it counts as a catch-all:
	// a default iss/aud would come from whatever Host the request names.
	h, now := assertionHandler(t, &Assertion{})
	id := newIdentity(Session{AppID: h.AppID, OpenID: "oA", Scope: "snsapi_base", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()}, sourceMP)
	hdr := http.Header{}
	h.assert.assertIdentity(httptest.NewRequest("GET", "https://evil.example/", nil), hdr, newAdmitted(id, nil))
	if v, ok := hdr[h.assert.header]; ok {
		t.Fatalf("an assertion for a Host-chosen audience: %q", v)
	}
}

func TestAssertionSettingsAreChecked(t *testing.T) {
	for _, c := range []struct {
		a    Assertion
		want string
	}{
		{Assertion{TTL: caddy.Duration(10 * time.Minute)}, "assertion ttl"},
		{Assertion{Header: "X Bad"}, "assertion header"},
		{Assertion{Keys: []string{"not a key"}}, "assertion key #1: no PEM block"},
		{Assertion{Keys: []string{publicKeyPEM(t)}}, "must be the private key"},
	} {
		h := &Handler{AppID: "wx0123456789abcdef", AppSecret: "0123456789abcdef0123456789abcdef", Assertion: &c.a}
		err := provisionHandler(t, h)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.a, err, c.want)
		}
	}
}

func publicKeyPEM(t *testing.T) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestCaddyfileAssertionBlock(t *testing.T) {
	var h Handler
	d := caddyfile.NewTestDispenser("wechat_auth {\n app_id wx1\n assertion {\n  header X-Proof\n  issuer https://gw.example\n  audience app\n  key {file./a.pem}\n  key {file./b.pem}\n  ttl 2m\n  well_known\n }\n scope snsapi_base\n}")
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	a := h.Assertion
	if a == nil || a.Header != "X-Proof" || a.Issuer != "https://gw.example" || a.Audience != "app" || len(a.Keys) != 2 ||
		a.Keys[1] != "{file./b.pem}" || a.TTL != caddy.Duration(2*time.Minute) || !a.WellKnown || h.Scope != "snsapi_base" {
		t.Errorf("parsed %+v (scope %q)", a, h.Scope)
	}
	var bare Handler
	if err := bare.UnmarshalCaddyfile(caddyfile.NewTestDispenser("wechat_auth {\n assertion\n}")); err != nil || bare.Assertion == nil {
		t.Errorf("a bare assertion: %v, %+v", err, bare.Assertion)
	}
	for block, want := range map[string]string{
		"assertion x":                              "takes its settings in a block",
		"assertion {\n bogus 1\n}":                 `unknown assertion setting "bogus"`,
		"assertion {\n audience a\n audience b\n}": "assertion audience is set twice",
		"assertion {\n ttl 0\n}":                   "ttl 0 would mean the default",
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("wechat_auth {\n" + block + "\n}"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", block, err, want)
		}
	}
}
