package wechatauth

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	whatwg "github.com/nlnwa/whatwg-url/url"
)

// newTestSeal is the relay's relaySeal (every client's key derived from
// secrets) on a fake clock that tests move through *now.
func newTestSeal(secrets [][]byte) (*relaySeal, *time.Time) {
	now := fixedNow
	return newRelaySeal(testAppID, relayRing(secrets), func() time.Time { return now }), &now
}

// testSecrets is one relay_secret of 32 bytes derived from seed.
func testSecrets(seed byte) [][]byte { return [][]byte{testKey(seed+50, 32)} }

// shop is the client origin of testRequest and testHandBack.
var shop = origin{Scheme: "https", Host: "shop.example.com"}

const testState = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"

// sameBase64 reports whether two spellings of a sealed value decode to the
// same bytes: a decoder ignores the unused low bits of the last character.
func sameBase64(a, b string) bool {
	x, err1 := base64.RawURLEncoding.DecodeString(a)
	y, err2 := base64.RawURLEncoding.DecodeString(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func testRequest() relayRequest {
	return relayRequest{Back: "https://shop.example.com/wechat_auth/handback", State: testState, Scope: "snsapi_base"}
}

func testHandBack() handBack {
	s := validSession()
	return handBack{Client: "https://shop.example.com", State: testState, Outcome: endSession, Identity: s}
}

func TestRelayRequestRoundTripsAndIsStampedWithAppAndTime(t *testing.T) {
	s, _ := newTestSeal(testSecrets(1))
	v, err := s.sealRequest(shop, testRequest())
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.openRequest(shop, v)
	if err != nil {
		t.Fatalf("openRequest: %v", err)
	}
	want := testRequest()
	want.AppID, want.Created = testAppID, fixedNow.Unix()
	if q != want {
		t.Fatalf("got %+v, want %+v", q, want)
	}
	if strings.Contains(v, "shop.example.com") || strings.Contains(v, testState) {
		t.Fatalf("the sealed request shows its contents: %s", v)
	}
}

func TestRelayRequestRefusesEveryTamperedByte(t *testing.T) {
	s, _ := newTestSeal(testSecrets(1))
	v, _ := s.sealRequest(shop, testRequest())
	for i := 0; i < len(v); i++ {
		for _, c := range []byte{'A', '_', '-', '0'} {
			if v[i] == c {
				continue
			}
			bad := v[:i] + string(c) + v[i+1:]
			if sameBase64(v, bad) {
				continue // only the unused low bits of the last character changed
			}
			if _, err := s.openRequest(shop, bad); err == nil {
				t.Fatalf("a request altered at byte %d opened", i)
			}
		}
	}
	for _, bad := range []string{"", "x", v + "A", v[:len(v)-1], strings.Repeat("A", 5000)} {
		if _, err := s.openRequest(shop, bad); err == nil {
			t.Fatalf("request %.40q opened", bad)
		}
	}
}

func TestRelayRequestRefusesOtherKeysOtherAppsAndBadFields(t *testing.T) {
	s, _ := newTestSeal(testSecrets(1))
	other, _ := newTestSeal(testSecrets(2))
	v, _ := other.sealRequest(shop, testRequest())
	if _, err := s.openRequest(shop, v); err != errRelayInvalid {
		t.Fatalf("a request sealed with other keys: %v", err)
	}
	otherApp := newRelaySeal("wx00000000000000ff", relayRing(testSecrets(1)), s.now)
	v, _ = otherApp.sealRequest(shop, testRequest())
	if _, err := s.openRequest(shop, v); err != errRelayInvalid {
		t.Fatalf("another app's request: %v", err)
	}
	for name, mutate := range map[string]func(*relayRequest){
		"short state": func(q *relayRequest) { q.State = "abc" },
		"bad state":   func(q *relayRequest) { q.State = strings.Repeat("-", stateLen) },
		"no scope":    func(q *relayRequest) { q.Scope = "" },
		"odd scope":   func(q *relayRequest) { q.Scope = "snsapi_login" },
	} {
		q := testRequest()
		mutate(&q)
		v, _ := s.sealRequest(shop, q)
		if _, err := s.openRequest(shop, v); err != errRelayInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRelayRequestAndHandBackCannotStandInForEachOtherOrForCookies(t *testing.T) {
	s, _ := newTestSeal(testSecrets(1))
	h, _ := newTestHandler(t, testPair(1))
	req, _ := s.sealRequest(shop, testRequest())
	hb, _ := s.sealHandBack(shop, testHandBack())
	sess := sealSession(t, h, validSession())
	if _, err := s.openHandBack(shop, req); err == nil {
		t.Error("a request opened as a hand-back")
	}
	if _, err := s.openRequest(shop, hb); err == nil {
		t.Error("a hand-back opened as a request")
	}
	if _, err := s.openHandBack(shop, sess); err == nil {
		t.Error("a session cookie opened as a hand-back")
	}
	if h.sessions.verify(hb) != nil {
		t.Error("a hand-back verified as a session cookie")
	}
}

func TestRelayRequestExpiresWithTheFlowAndRefusesTheFuture(t *testing.T) {
	s, now := newTestSeal(testSecrets(1))
	v, _ := s.sealRequest(shop, testRequest())
	*now = fixedNow.Add(relayRequestTTL)
	if _, err := s.openRequest(shop, v); err != nil {
		t.Fatalf("at exactly its TTL: %v", err)
	}
	*now = fixedNow.Add(relayRequestTTL + time.Second)
	if _, err := s.openRequest(shop, v); err != errRelayExpired {
		t.Fatalf("a second past its TTL: %v", err)
	}
	*now = fixedNow.Add(-handBackSkew - time.Second)
	if _, err := s.openRequest(shop, v); err != errRelayExpired {
		t.Fatalf("from the future: %v", err)
	}
}

func TestHandBackRoundTripsWithIdentityAndAFreshSingleUseID(t *testing.T) {
	s, _ := newTestSeal(testSecrets(1))
	ids := map[string]bool{}
	for i := 0; i < 50; i++ {
		v, err := s.sealHandBack(shop, testHandBack())
		if err != nil {
			t.Fatal(err)
		}
		hb, err := s.openHandBack(shop, v)
		if err != nil {
			t.Fatalf("openHandBack: %v", err)
		}
		if len(hb.ID) != handBackIDLen || ids[hb.ID] {
			t.Fatalf("id %q is not a fresh %d-character id", hb.ID, handBackIDLen)
		}
		ids[hb.ID] = true
		want := testHandBack()
		want.ID, want.AppID, want.Created = hb.ID, testAppID, fixedNow.Unix()
		if hb != want {
			t.Fatalf("got %+v, want %+v", hb, want)
		}
		if strings.Contains(v, want.Identity.OpenID) || strings.Contains(v, "shop.example.com") {
			t.Fatalf("the sealed hand-back shows its contents: %s", v)
		}
	}
}

func TestHandBackLivesSixtySecondsAtMost(t *testing.T) {
	s, now := newTestSeal(testSecrets(1))
	v, _ := s.sealHandBack(shop, testHandBack())
	*now = fixedNow.Add(handBackTTL)
	if _, err := s.openHandBack(shop, v); err != nil {
		t.Fatalf("at 60 s: %v", err)
	}
	*now = fixedNow.Add(handBackTTL + time.Second)
	if _, err := s.openHandBack(shop, v); err != errRelayExpired {
		t.Fatalf("at 61 s: %v", err)
	}
	*now = fixedNow.Add(-handBackSkew)
	if _, err := s.openHandBack(shop, v); err != nil {
		t.Fatalf("client clock %s behind: %v", handBackSkew, err)
	}
	*now = fixedNow.Add(-handBackSkew - time.Second)
	if _, err := s.openHandBack(shop, v); err != errRelayExpired {
		t.Fatalf("from further in the future: %v", err)
	}
	if handBackTTL > time.Minute {
		t.Fatalf("handBackTTL %s exceeds 60 s", handBackTTL)
	}
}

func TestHandBackRefusesTamperingOtherKeysOtherAppsAndEmptyIdentity(t *testing.T) {
	s, _ := newTestSeal(testSecrets(1))
	v, _ := s.sealHandBack(shop, testHandBack())
	for i := 0; i < len(v); i++ {
		c := byte('A')
		if v[i] == c {
			c = 'B'
		}
		if sameBase64(v, v[:i]+string(c)+v[i+1:]) {
			continue
		}
		if _, err := s.openHandBack(shop, v[:i]+string(c)+v[i+1:]); err == nil {
			t.Fatalf("a hand-back altered at byte %d opened", i)
		}
	}
	other, _ := newTestSeal(testSecrets(2))
	v, _ = other.sealHandBack(shop, testHandBack())
	if _, err := s.openHandBack(shop, v); err != errRelayInvalid {
		t.Fatalf("other keys: %v", err)
	}
	otherApp := newRelaySeal("wx00000000000000ff", relayRing(testSecrets(1)), s.now)
	v, _ = otherApp.sealHandBack(shop, testHandBack())
	if _, err := s.openHandBack(shop, v); err != errRelayInvalid {
		t.Fatalf("another app: %v", err)
	}
	for name, mutate := range map[string]func(*handBack){
		"session without openid":   func(hb *handBack) { hb.Identity.OpenID = "" },
		"session of another app":   func(hb *handBack) { hb.Identity.AppID = "wx00000000000000ff" },
		"openid that is not an id": func(hb *handBack) { hb.Identity.OpenID = "o\r\nX-Evil: 1" },
		"unknown outcome":          func(hb *handBack) { hb.Outcome = endCodeFailed + 1 },
		"zero outcome":             func(hb *handBack) { hb.Outcome = 0 },
		"bad state":                func(hb *handBack) { hb.State = "short" },
	} {
		hb := testHandBack()
		mutate(&hb)
		v, _ := s.sealHandBack(shop, hb)
		if _, err := s.openHandBack(shop, v); err != errRelayInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Outcomes without a session need no identity.
	for _, o := range []ending{endDeclined, endSnapshot, endUnavailable, endMisconfigured, endCodeFailed} {
		v, _ := s.sealHandBack(shop, handBack{State: testState, Outcome: o, Ref: "errcode 40029"})
		hb, err := s.openHandBack(shop, v)
		if err != nil || hb.Outcome != o || hb.Ref != "errcode 40029" {
			t.Errorf("outcome %d: %+v %v", o, hb, err)
		}
	}
}

func TestRelayMessagesRejectEveryTruncationAndTrailingBytes(t *testing.T) {
	q := testRequest()
	qb := q.marshal()
	hb := testHandBack()
	hbb := hb.marshal()
	for i := 0; i < len(qb); i++ {
		var x relayRequest
		if x.unmarshal(qb[:i]) == nil {
			t.Fatalf("request truncated to %d bytes decoded", i)
		}
	}
	for i := 0; i < len(hbb); i++ {
		var x handBack
		if x.unmarshal(hbb[:i]) == nil {
			t.Fatalf("hand-back truncated to %d bytes decoded", i)
		}
	}
	var x relayRequest
	if x.unmarshal(append(qb, 0)) == nil {
		t.Fatal("request with a trailing byte decoded")
	}
	var y handBack
	if y.unmarshal(append(hbb, 0)) == nil {
		t.Fatal("hand-back with a trailing byte decoded")
	}
}

func TestRelayTargetAdmitsOnlyRelayForHostsWithoutQueryOrFragment(t *testing.T) {
	rules := mustRules(t, "shop.example.com", "*.preview.example.com", "partner.example:8443")
	for _, c := range []struct {
		back, origin string
	}{
		{"https://shop.example.com/wechat_auth/handback", "https://shop.example.com"},
		{"http://shop.example.com/wechat_auth/handback", "http://shop.example.com"},
		{"https://SHOP.example.com:443/x/handback", "https://shop.example.com"},
		{"https://pr-7.preview.example.com/wechat_auth/handback", "https://pr-7.preview.example.com"},
		{"https://preview.example.com/wechat_auth/handback", "https://preview.example.com"},
		{"https://partner.example:8443/a/wechat_auth/handback", "https://partner.example:8443"},
	} {
		o, ok := relayTarget(c.back, rules)
		if !ok || o.String() != c.origin {
			t.Errorf("relayTarget(%q) = %v %v, want %s", c.back, o, ok, c.origin)
		}
	}
	for _, back := range []string{
		"https://evil.example/wechat_auth/handback",
		"https://shop.example.com:8443/wechat_auth/handback",
		"https://partner.example/wechat_auth/handback",
		"https://xpreview.example.com/h",
		"https://shop.example.com/h?x=1",
		"https://shop.example.com/h?",
		"https://shop.example.com/h#x",
		"https://shop.example.com/h#",
		"/wechat_auth/handback",
		"//shop.example.com/h",
		"https://shop.example.com@evil.example/h",
		"",
	} {
		if o, ok := relayTarget(back, rules); ok {
			t.Errorf("relayTarget(%q) admitted %s", back, o)
		}
	}
	if _, ok := relayTarget("https://shop.example.com/h", nil); ok {
		t.Error("a relay without relay_for admitted a target")
	}
}

func mustRules(t *testing.T, raw ...string) []domainRule {
	t.Helper()
	var rules []domainRule
	for _, r := range raw {
		rule, err := parseDomainRule(r)
		if err != nil {
			t.Fatalf("rule %q: %v", r, err)
		}
		rules = append(rules, rule)
	}
	return rules
}

// checkRelayTarget runs one return-URL case against relay_for: the relay has
// no site of its own, so a case is kept exactly when it is an absolute URL
// the rules admit, without query or fragment; every URL it keeps must also
// keep a browser, following it, on an origin the rules admit.
func checkRelayTarget(t *testing.T, rules []string, raw string, keep bool) {
	t.Helper()
	o, ok := relayTarget(raw, mustRules(t, rules...))
	if ok != keep {
		t.Errorf("relay_for %q: relayTarget(%q) = %v, want %v", rules, raw, ok, keep)
		return
	}
	if !ok {
		return
	}
	// The oracle's site is one no rule admits, so only a rule can pass it.
	loc, allowed := allowedByOracle(t, origin{Scheme: "https", Host: "oracle-site.invalid"}, rules, raw)
	if !allowed {
		t.Errorf("relay_for %q admitted %q, but a browser following Location %q leaves the relay_for hosts", rules, raw, loc)
	}
	// The origin the hand-back is bound to is the one the browser goes to.
	u, err := whatwg.Parse(loc)
	if err != nil {
		t.Fatalf("the oracle parsed %q, now it cannot: %v", loc, err)
	}
	if want, err := makeOrigin(strings.TrimSuffix(u.Protocol(), ":"), u.Host()); err != nil || o != want {
		t.Errorf("relay_for %q: %q is bound to %s, a browser goes to %s", rules, raw, o, want)
	}
}

// The return-URL suite (redirect_test.go's attack shapes, each spelling of
// the allowed host and each evil host, ~3,800 cases) runs against relay_for:
// a relay is never more lenient than a site's return URLs.
func TestRelayForRefusesEveryReturnURLAttackShape(t *testing.T) {
	// relay_for names the host the shapes attack, as a site names itself.
	cases := expandShapes(refusedShapes, sameHosts, evilHosts, false)
	if len(cases) < 1500 {
		t.Fatalf("only %d generated cases", len(cases))
	}
	for _, rules := range [][]string{{"allowed.com"}, {"allowed.com", "foo.bar", ".bar.foo", "*.star.foo", "port.foo:8080", "any.foo:*"}} {
		n := 0
		for _, c := range cases {
			// Another scheme on the same host is another origin for a site's
			// return URL; relay_for, like redirect_domains, admits both schemes
			// on the default port. These two shapes are the only ones affected.
			if c.raw == "http://allowed.com/" || c.raw == "http://ALLOWED.com/x" {
				checkRelayTarget(t, rules, c.raw, true)
				continue
			}
			checkRelayTarget(t, rules, c.raw, false)
			n++
		}
		if n < 1500 {
			t.Fatalf("only %d cases ran", n)
		}
	}
}

func TestRelayForKeepsTheRelayForHostInEverySpelling(t *testing.T) {
	n := 0
	for _, c := range expandShapes(keptShapes, sameHosts, nil, true) {
		keep := !strings.ContainsAny(c.raw, "?#")
		checkRelayTarget(t, []string{"allowed.com"}, c.raw, keep)
		n++
	}
	for _, raw := range keptRelative {
		checkRelayTarget(t, []string{"allowed.com"}, raw, false) // a relay has no paths of its own
		n++
	}
	if n < 60 {
		t.Fatalf("only %d cases", n)
	}
}

func TestRelayForAppliesEveryRedirectDomainsRuleCase(t *testing.T) {
	n := 0
	for _, rc := range ruleCases {
		for _, raw := range rc.keep {
			checkRelayTarget(t, []string{rc.rule}, raw, !strings.ContainsAny(raw, "?#"))
			n++
		}
		for _, raw := range rc.drop {
			checkRelayTarget(t, []string{rc.rule}, raw, false)
			n++
		}
	}
	for b := 0; b <= 0x20; b++ {
		for _, raw := range []string{
			fmt.Sprintf("https://allowed.com/a%cb", b), fmt.Sprintf("https://allowed.com%c/x", b),
			fmt.Sprintf("https://allowed.com/%%%02X/x", b), fmt.Sprintf("https://allowed.com/%%%02x/evil.com", b),
		} {
			checkRelayTarget(t, []string{"allowed.com"}, raw, false)
			n++
		}
	}
	if n < 150 {
		t.Fatalf("only %d cases", n)
	}
}
