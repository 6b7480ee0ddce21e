package wechatauth

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Tests of cookies.go: the Cookie header to a verified identity (finding,
// verifying, memoizing), stripping our cookies, the flow cookies.

func TestStripOurCookiesRemovesSessionAndFlowCookiesOnly(t *testing.T) {
	const name, flow = "wechat_session", "wechat_session_flow_"
	cases := []struct {
		name string
		in   []string
		want []string // nil: header dropped
	}{
		{"only session", []string{"wechat_session=abc"}, nil},
		{"only flows", []string{"wechat_session_flow_AAAAAAAAAA=x; wechat_session_flow_BBBBBBBBBB=y"}, nil},
		{"session among others keeps order", []string{"a=1; wechat_session=abc; b=2; c=3"}, []string{"a=1; b=2; c=3"}},
		{"flow among others", []string{"z=9; wechat_session_flow_ABCDEFGHIJ=v; y=8"}, []string{"z=9; y=8"}},
		{"several lines merged in order", []string{"a=1; wechat_session=x", "b=2", "wechat_session_flow_Q=1; c=3"}, []string{"a=1; b=2; c=3"}},
		{"several lines all ours", []string{"wechat_session=x", "wechat_session_flow_Q=1"}, nil},
		{"no ours: untouched", []string{"a=1;b=2", "c=3"}, []string{"a=1;b=2", "c=3"}},
		{"prefix confusion kept", []string{"wechat_sessionX=1; wechat_session=2; xwechat_session=3; wechat_session_other=4"}, []string{"wechat_sessionX=1; xwechat_session=3; wechat_session_other=4"}},
		{"spaces and empty parts", []string{" ;  wechat_session = v ;; a=1 ; "}, []string{"a=1"}},
		{"duplicates of ours", []string{"wechat_session=1; wechat_session=2; wechat_session=3; k=v"}, []string{"k=v"}},
		{"name without value", []string{"wechat_session; a=1"}, []string{"a=1"}},
		{"quoted value", []string{`wechat_session="abc"; a="b"`}, []string{`a="b"`}},
		{"ours leading: the rest as sent", []string{"wechat_session=x; wechat_session_flow_Q=1; a=1;b=2"}, []string{"a=1;b=2"}},
		{"ours trailing", []string{"a=1; b=2; wechat_session=x"}, []string{"a=1; b=2"}},
		{"ours at both ends", []string{"wechat_session=x; a=1; b=2 ;wechat_session_flow_Q=1;"}, []string{"a=1; b=2"}},
		{"ours at an end and between", []string{"wechat_session=x; a=1; wechat_session_flow_Q=1; b=2"}, []string{"a=1; b=2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{"Cookie": append([]string(nil), c.in...), "Other": {"x"}}
			stripOurCookies(h, name, flow)
			got, ok := h["Cookie"]
			if c.want == nil {
				if ok {
					t.Fatalf("Cookie header kept as %q, want it dropped", got)
				}
			} else if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Cookie = %q, want %q", got, c.want)
			}
			if h.Get("Other") != "x" {
				t.Error("another header was touched")
			}
		})
	}
	h := http.Header{}
	stripOurCookies(h, name, flow)
	if len(h) != 0 {
		t.Errorf("no Cookie header: got %v", h)
	}
}

// TestStripOurCookiesAllocatesNothingUsually: every request of a session
// runs the strip, so the usual headers (no cookie of ours, only ours, ours
// before or after the site's own) cost no allocation, and the request's value
// is changed in its own slice, never through one another request could hold.
func TestStripOurCookiesAllocatesNothingUsually(t *testing.T) {
	const name, flow = "wechat_session", "wechat_session_flow_"
	for _, line := range []string{
		"a=1; b=2",
		"wechat_session=abc; wechat_session_flow_QQQQQQQQQQ=x",
		"wechat_session=abc; a=1; b=2",
		"a=1; b=2; wechat_session=abc",
	} {
		lines := []string{line}
		h := http.Header{"Cookie": lines}
		allocs := testing.AllocsPerRun(100, func() {
			lines[0] = line
			h["Cookie"] = lines
			stripOurCookies(h, name, flow)
		})
		if allocs != 0 {
			t.Errorf("%q: %.0f allocations per strip, want 0", line, allocs)
		}
		if got, ok := h["Cookie"]; ok && &got[0] != &lines[0] {
			t.Errorf("%q: the Cookie value moved to another slice", line)
		}
	}
	// Ours between the site's cookies: the new header is the one allocation.
	line := "a=1; wechat_session=abc; b=2"
	lines := []string{line}
	h := http.Header{"Cookie": lines}
	if allocs := testing.AllocsPerRun(100, func() { lines[0] = line; stripOurCookies(h, name, flow) }); allocs != 1 {
		t.Errorf("%q: %.0f allocations per strip, want 1", line, allocs)
	}
	if got := h["Cookie"]; len(got) != 1 || &got[0] != &lines[0] || got[0] != "a=1; b=2" {
		t.Errorf("%q: Cookie = %q, not rebuilt in the request's own slice", line, got)
	}
}

// TestStripOurCookiesRebuildsInTheSizeOfWhatStays: with ours between the
// site's cookies, the one allocation holds the site's cookies only, not the
// whole line (our sealed session cookie is most of it: 300 bytes here).
func TestStripOurCookiesRebuildsInTheSizeOfWhatStays(t *testing.T) {
	const name, flow = "wechat_session", "wechat_session_flow_"
	line := "a=1; wechat_session=" + strings.Repeat("x", 300) + "; b=2"
	lines := []string{line}
	h := http.Header{"Cookie": lines}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	const runs = 100
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		lines[0] = line
		stripOurCookies(h, name, flow)
	}
	runtime.ReadMemStats(&after)
	if h.Get("Cookie") != "a=1; b=2" {
		t.Fatalf("Cookie = %q", h.Get("Cookie"))
	}
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 16 {
		t.Errorf("%d bytes allocated per strip, want the 8 of %q (16 at most)", per, "a=1; b=2")
	}
}

func TestStripOurCookiesFollowsTheCookieName(t *testing.T) {
	h := http.Header{"Cookie": {"wechat_session=keep; sid=drop; sid_flow_ABC=drop; sidx=keep"}}
	stripOurCookies(h, "sid", "sid_flow_")
	if got := h.Get("Cookie"); got != "wechat_session=keep; sidx=keep" {
		t.Errorf("Cookie = %q", got)
	}
}

func collectCookieValues(h http.Header, name string) []string {
	var got []string
	cookieValues(h, name, func(v string) bool { got = append(got, v); return false })
	return got
}

func TestCookieValuesFindsTheNamedCookieExactly(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"single", []string{"wechat_session=abc"}, []string{"abc"}},
		{"among others", []string{"a=1; wechat_session=abc; b=2"}, []string{"abc"}},
		{"prefix names are other cookies", []string{"wechat_sessionX=1; xwechat_session=2; wechat_session_flow_A=3; wechat_session=4"}, []string{"4"}},
		{"name without =", []string{"wechat_session; wechat_session"}, nil},
		{"empty value", []string{"wechat_session="}, []string{""}},
		{"quoted", []string{`wechat_session="abc"`}, []string{"abc"}},
		{"value with =", []string{"wechat_session=a=b=="}, []string{"a=b=="}},
		{"spaces", []string{"  wechat_session=abc  ;b=2"}, []string{"abc"}},
		{"space before =", []string{"wechat_session =abc"}, nil},
		{"case matters", []string{"WeChat_Session=abc; WECHAT_SESSION=def"}, nil},
		{"duplicates in order", []string{"wechat_session=1; wechat_session=2"}, []string{"1", "2"}},
		{"across lines", []string{"wechat_session=1", "a=b; wechat_session=2"}, []string{"1", "2"}},
		{"bounded", []string{"wechat_session=1; wechat_session=2; wechat_session=3; wechat_session=4; wechat_session=5"}, []string{"1", "2", "3"}},
		{"bounded across lines", []string{"wechat_session=1", "wechat_session=2", "wechat_session=3", "wechat_session=4"}, []string{"1", "2", "3"}},
		{"others do not count toward the bound", []string{"x=1; x=2; x=3; x=4; wechat_session=5"}, []string{"5"}},
		{"no cookie header", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range c.lines {
				h.Add("Cookie", l)
			}
			if got := collectCookieValues(h, defaultCookieName); !reflect.DeepEqual(got, c.want) {
				t.Errorf("values = %q, want %q", got, c.want)
			}
		})
	}
	if maxSameNameCookies != 3 {
		t.Errorf("maxSameNameCookies = %d: update the bounded cases", maxSameNameCookies)
	}
}

func TestCookieValuesStopsWhenTheCallbackSaysSo(t *testing.T) {
	h := http.Header{"Cookie": {"wechat_session=1; wechat_session=2; wechat_session=3"}}
	var seen []string
	cookieValues(h, defaultCookieName, func(v string) bool { seen = append(seen, v); return v == "2" })
	if !reflect.DeepEqual(seen, []string{"1", "2"}) {
		t.Errorf("seen %q, want [1 2]", seen)
	}
}

func TestIdentityFromTriesDuplicatesUpToTheBound(t *testing.T) {
	h, _ := newTestHandler(t, testPair(1))
	good := sealSession(t, h, validSession())
	garbage := "wechat_session=garbage"
	// A stale duplicate first (another path or domain) must not hide the good one.
	if h.sessions.identityFrom(requestWithCookies(garbage+"; wechat_session="+good)) == nil {
		t.Error("a valid cookie after a bad duplicate was ignored")
	}
	// Beyond the bound the good cookie is never tried: bounded work.
	h2, _ := newTestHandler(t, testPair(1))
	many := strings.Repeat(garbage+"; ", maxSameNameCookies) + "wechat_session=" + good
	if h2.sessions.identityFrom(requestWithCookies(many)) != nil {
		t.Error("verified more same-name cookies than maxSameNameCookies")
	}
}

func TestVerifyAcceptsAValidSession(t *testing.T) {
	h, _ := newTestHandler(t, testPair(1))
	want := validSession()
	id := h.sessions.verify(sealSession(t, h, want))
	if id == nil {
		t.Fatal("a valid session was refused")
	}
	if id.sess != want {
		t.Fatalf("verify returned %+v, want %+v", id.sess, want)
	}
}

func TestVerifyRefusesInvalidSessionsThatDecode(t *testing.T) {
	mod := func(f func(*Session)) Session { s := validSession(); f(&s); return s }
	cases := map[string]Session{
		"expired a second ago":    mod(func(s *Session) { s.Expires = fixedNow.Unix() - 1 }),
		"expires right now":       mod(func(s *Session) { s.Expires = fixedNow.Unix() }),
		"expired long ago":        mod(func(s *Session) { s.Issued, s.Expires = 1, 2 }),
		"foreign app":             mod(func(s *Session) { s.AppID = "wxffffffffffffffff" }),
		"app id prefix":           mod(func(s *Session) { s.AppID = testAppID[:len(testAppID)-1] }),
		"app id case":             mod(func(s *Session) { s.AppID = strings.ToUpper(testAppID) }),
		"empty app":               mod(func(s *Session) { s.AppID = "" }),
		"no openid":               mod(func(s *Session) { s.OpenID = "" }),
		"issued in the future":    mod(func(s *Session) { s.Issued = fixedNow.Unix() + 3600 }),
		"zero expiry":             mod(func(s *Session) { s.Expires = 0 }),
		"negative expiry":         mod(func(s *Session) { s.Expires = math.MinInt64 }),
		"issued far in future":    mod(func(s *Session) { s.Issued = math.MaxInt64 }),
		"issued 61s in future":    mod(func(s *Session) { s.Issued = fixedNow.Unix() + 61 }),
		"expired with fresh data": mod(func(s *Session) { s.Issued, s.Expires = fixedNow.Unix()-7200, fixedNow.Unix()-3600 }),
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			h, _ := newTestHandler(t, testPair(1))
			v := sealSession(t, h, s)
			if _, err := h.sessions.codec.decode(h.CookieName, v); err != nil {
				t.Fatalf("the cookie does not even decode: %v", err)
			}
			if id := h.sessions.verify(v); id != nil {
				t.Fatalf("verify accepted %+v", id.sess)
			}
			if h.sessions.memo.ItemCount() != 0 {
				t.Error("a refused cookie was memoized")
			}
		})
	}
}

func TestVerifyAllowsSmallClockSkewOnIssued(t *testing.T) {
	h, _ := newTestHandler(t, testPair(1))
	s := validSession()
	s.Issued = fixedNow.Unix() + 60
	if h.sessions.verify(sealSession(t, h, s)) == nil {
		t.Error("a session issued 60s ahead (replica clock skew) was refused")
	}
}

func TestVerifyRefusesASessionOnceTheClockPassesItsExpiry(t *testing.T) {
	h, now := newTestHandler(t, testPair(1))
	v := sealSession(t, h, validSession())
	*now = fixedNow.Add(time.Hour + time.Second)
	if id := h.sessions.verify(v); id != nil {
		t.Error("a session past its inner expiry was accepted")
	}
}

func TestVerifyRefusesAnotherAppsCookieWithTheSameKeys(t *testing.T) {
	other, _ := newTestHandlerWith(t, testPair(1), func(h *Handler) { h.AppID = "wxfedcba9876543210" })
	s := validSession()
	s.AppID = other.AppID
	v := sealSession(t, other, s)
	if other.sessions.verify(v) == nil {
		t.Fatal("the other app refuses its own cookie")
	}
	h, _ := newTestHandler(t, testPair(1))
	if h.sessions.verify(v) != nil {
		t.Error("a cookie issued for another app_id was accepted")
	}
}

func TestVerifyRefusesFlowCookieAndOtherNames(t *testing.T) {
	h, _ := newTestHandler(t, testPair(1))
	// A flow cookie value sealed around session bytes, under a flow name.
	flowName := h.logins.cookies.prefix + "ABCDEFGHIJ"
	v, err := h.logins.cookies.codec.encode(flowName, marshalSession(validSession()))
	if err != nil {
		t.Fatal(err)
	}
	if h.sessions.verify(v) != nil {
		t.Error("a flow cookie passed as the session cookie")
	}
	h2, _ := newTestHandlerWith(t, testPair(1), func(h *Handler) { h.CookieName = "other_session" })
	if h2.sessions.verify(sealSession(t, h, validSession())) != nil {
		t.Error("a cookie sealed under wechat_session verified as other_session")
	}
}

func TestVerifyRefusesEveryTamperedByte(t *testing.T) {
	for name, pairs := range map[string][][]byte{
		"encrypted":   testPair(1),
		"signed only": {testKey(9, 32), nil},
	} {
		t.Run(name, func(t *testing.T) {
			h, _ := newTestHandler(t, pairs)
			good := sealSession(t, h, validSession())
			raw := mustB64(t, good)
			refused := 0
			for i := range raw {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					b := bytes.Clone(raw)
					b[i] ^= mask
					v := base64.URLEncoding.EncodeToString(b)
					if id := h.sessions.verify(v); id != nil {
						t.Fatalf("byte %d ^ %#x of %d: tampered cookie accepted as %+v", i, mask, len(raw), id.sess)
					}
					refused++
				}
			}
			// Character-level edits of the cookie text as well: any change
			// that decodes to different bytes must be refused.
			alphabet := "AZaz09-_=.|"
			for i := 0; i < len(good); i++ {
				for _, c := range []byte(alphabet) {
					if good[i] == c {
						continue
					}
					v := good[:i] + string(c) + good[i+1:]
					if b, err := base64.URLEncoding.DecodeString(v); err == nil && bytes.Equal(b, raw) {
						continue // same bytes: base64's unused low bits, not a tamper
					}
					if h.sessions.verify(v) != nil {
						t.Fatalf("cookie text with %q at %d accepted", c, i)
					}
				}
			}
			// Truncations and extensions.
			for n := 0; n < len(good); n += 7 {
				if h.sessions.verify(good[:n]) != nil {
					t.Fatalf("cookie truncated to %d chars accepted", n)
				}
			}
			if h.sessions.verify(good+"AAAA") != nil {
				t.Error("cookie with appended data accepted")
			}
			if h.sessions.memo.ItemCount() != 0 {
				t.Errorf("%d tampered cookies memoized", h.sessions.memo.ItemCount())
			}
			if h.sessions.verify(good) == nil {
				t.Error("the untampered cookie is refused")
			}
			_ = refused
		})
	}
}

func TestVerifyRefusesACookieSignedWithUnknownKeys(t *testing.T) {
	attacker, _ := newTestHandler(t, testPair(77))
	v := sealSession(t, attacker, validSession())
	h, _ := newTestHandler(t, testPair(1))
	if h.sessions.verify(v) != nil {
		t.Error("a cookie sealed with other keys was accepted")
	}
}

func TestIdentityFromMemoHitReturnsTheSameIdentity(t *testing.T) {
	h, _ := newTestHandler(t, testPair(1))
	v := sealSession(t, h, validSession())
	r := requestWithCookies(defaultCookieName + "=" + v)
	first := h.sessions.identityFrom(r)
	if first == nil {
		t.Fatal("valid cookie refused")
	}
	if h.sessions.memo.ItemCount() != 1 {
		t.Fatalf("memo holds %d entries after one verify, want 1", h.sessions.memo.ItemCount())
	}
	// Break the codecs: a second request must be answered from the memo.
	h.sessions.codec = newCookieCodec(testPair(50), h.sessions.ttl)
	second := h.sessions.identityFrom(requestWithCookies(defaultCookieName + "=" + v))
	if second != first {
		t.Fatalf("memo hit returned %p, want the same identity %p", second, first)
	}
}

func TestRememberBoundsMemoTTLBySessionExpiry(t *testing.T) {
	h, _ := newTestHandler(t, testPair(1))
	s := validSession()
	s.Expires = fixedNow.Unix() + 2 // two seconds left on the fake clock
	v := sealSession(t, h, s)
	if h.sessions.verify(v) == nil {
		t.Fatal("refused")
	}
	_, exp, ok := h.sessions.memo.GetWithExpiration(v)
	if !ok {
		t.Fatal("not memoized")
	}
	if left := time.Until(exp); left > 3*time.Second {
		t.Errorf("memo entry lives %v, longer than the session's 2s", left)
	}
	long := validSession()
	long.Expires = fixedNow.Add(1000 * time.Hour).Unix()
	lv := sealSession(t, h, long)
	h.sessions.verify(lv)
	if _, exp, _ := h.sessions.memo.GetWithExpiration(lv); time.Until(exp) > memoTTL {
		t.Errorf("memo entry lives %v, longer than memoTTL", time.Until(exp))
	}
}

func TestRememberNeverGrowsMemoPastItsBound(t *testing.T) {
	h, _ := newTestHandler(t, testPair(1))
	for i := 0; i < memoMaxEntries; i++ {
		h.sessions.memo.Set(fmt.Sprintf("filler-%d", i), &identity{}, time.Hour)
	}
	v := sealSession(t, h, validSession())
	if h.sessions.verify(v) == nil {
		t.Fatal("a valid cookie was refused because the memo is full")
	}
	if n := h.sessions.memo.ItemCount(); n > memoMaxEntries {
		t.Fatalf("memo grew to %d entries, bound is %d", n, memoMaxEntries)
	}
	if _, ok := h.sessions.memo.Get(v); ok {
		t.Error("a full memo of live entries took one more")
	}
}

func TestRememberEvictsExpiredEntriesWhenFull(t *testing.T) {
	h, _ := newTestHandler(t, testPair(1))
	for i := 0; i < memoMaxEntries; i++ {
		h.sessions.memo.Set(fmt.Sprintf("filler-%d", i), &identity{}, time.Nanosecond)
	}
	time.Sleep(2 * time.Millisecond)
	v := sealSession(t, h, validSession())
	if h.sessions.verify(v) == nil {
		t.Fatal("refused")
	}
	if _, ok := h.sessions.memo.Get(v); !ok {
		t.Error("a memo full of expired entries did not make room")
	}
	if n := h.sessions.memo.ItemCount(); n != 1 {
		t.Errorf("memo holds %d entries, want 1 (expired ones dropped)", n)
	}
}

// requestWithCookies is a GET whose Cookie header has one line per argument.
func requestWithCookies(lines ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://allowed.com/", nil)
	for _, l := range lines {
		r.Header.Add("Cookie", l)
	}
	return r
}

func TestVerifyRefusesReorderedCookieParts(t *testing.T) {
	h, _ := newTestHandler(t, testPair(1))
	good := sealSession(t, h, validSession())
	parts := bytes.SplitN(mustB64(t, good), []byte("|"), 3)
	if len(parts) != 3 {
		t.Fatalf("cookie has %d parts, want date|value|mac", len(parts))
	}
	for _, order := range [][3]int{{1, 0, 2}, {0, 2, 1}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}} {
		b := bytes.Join([][]byte{parts[order[0]], parts[order[1]], parts[order[2]]}, []byte("|"))
		if h.sessions.verify(base64.URLEncoding.EncodeToString(b)) != nil {
			t.Errorf("cookie parts in order %v accepted", order)
		}
	}
	// A fresh timestamp spliced onto an old value and MAC.
	b := bytes.Join([][]byte{[]byte(fmt.Sprint(fixedNow.Unix() + 1000)), parts[1], parts[2]}, []byte("|"))
	if h.sessions.verify(base64.URLEncoding.EncodeToString(b)) != nil {
		t.Error("cookie with a replaced timestamp accepted")
	}
}

// flowRequest is a callback request carrying one flow cookie sealed for f
// under the cookie name the callback derives from state.
func flowRequest(t *testing.T, h *Handler, state string, f flowState) *http.Request {
	t.Helper()
	name := h.logins.cookies.name(state)
	v, err := h.logins.cookies.codec.encode(name, f.marshal())
	if err != nil {
		t.Fatal(err)
	}
	return requestWithCookies(name + "=" + v)
}

func TestReadFlowAcceptsOnlyThisBrowsersStateWhileFresh(t *testing.T) {
	const stateA = "AAAAAAAAAAaaaaaaaaaaaaaaaaaaaaaa"
	const stateB = "AAAAAAAAAAbbbbbbbbbbbbbbbbbbbbbb" // same cookie name as A
	h, _ := newTestHandler(t, testPair(1))
	fresh := flowState{State: stateA, Return: "/x", Scope: "snsapi_base", Created: fixedNow.Unix()}
	if f, ok := h.logins.cookies.read(flowRequest(t, h, stateA, fresh), stateA); !ok || f != fresh {
		t.Fatalf("readFlow refused its own fresh flow: %+v %v", f, ok)
	}
	if _, ok := h.logins.cookies.read(flowRequest(t, h, stateA, fresh), stateB); ok {
		t.Error("a flow sealed for state A accepted a callback with state B (swapped tabs / login CSRF)")
	}
	old := fresh
	old.Created = fixedNow.Add(-flowTTL).Unix()
	if _, ok := h.logins.cookies.read(flowRequest(t, h, stateA, old), stateA); ok {
		t.Error("a flow older than flowTTL was accepted")
	}
	// A session cookie under the flow cookie's name is not a flow.
	name := h.logins.cookies.name(stateA)
	sess, _ := h.sessions.codec.encode(h.CookieName, marshalSession(validSession()))
	if _, ok := h.logins.cookies.read(requestWithCookies(name+"="+sess), stateA); ok {
		t.Error("a session cookie passed as a flow cookie")
	}
	// A flow sealed under another name (another tab's cookie) is refused.
	other, _ := h.logins.cookies.codec.encode(h.logins.cookies.prefix+"ZZZZZZZZZZ", fresh.marshal())
	if _, ok := h.logins.cookies.read(requestWithCookies(name+"="+other), stateA); ok {
		t.Error("a flow cookie sealed under another name was accepted")
	}
	// Keys of another deployment cannot mint flows.
	attacker, _ := newTestHandler(t, testPair(77))
	if _, ok := h.logins.cookies.read(flowRequest(t, attacker, stateA, fresh), stateA); ok {
		t.Error("a flow sealed with other keys was accepted")
	}
}
