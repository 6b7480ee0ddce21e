package wechatauth

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"
)

// testAppID is the AppID every hand-built test handler serves.
const testAppID = "wx0123456789abcdef"

// fixedNow is the fake clock's time: far enough from the epoch that
// "expired" and "issued in the future" are both easy to write.
var fixedNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// testKey returns n deterministic key bytes derived from seed.
func testKey(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)*7
	}
	return b
}

func testPair(seed byte) [][]byte {
	return [][]byte{testKey(seed, 32), testKey(seed+100, 32)}
}

// validSession is a session the test handler accepts at fixedNow.
func validSession() Session {
	return Session{
		AppID:    testAppID,
		OpenID:   "oABCDEFG_openid-1",
		UnionID:  "uABCDEFG_unionid",
		Scope:    "snsapi_userinfo",
		Nickname: "张三😀",
		Avatar:   "https://thirdwx.qlogo.cn/mmopen/abc/132",
		Issued:   fixedNow.Add(-time.Hour).Unix(),
		Expires:  fixedNow.Add(time.Hour).Unix(),
	}
}

func sealSession(t testing.TB, h *Handler, s Session) string {
	t.Helper()
	v, err := h.sessions.codec.encode(h.CookieName, s.marshal())
	if err != nil {
		t.Fatalf("encoding a session: %v", err)
	}
	return v
}

func TestSessionMarshalRoundTripsEveryField(t *testing.T) {
	cases := map[string]Session{
		"full":            validSession(),
		"empty":           {},
		"negative times":  {AppID: "a", OpenID: "o", Issued: -1, Expires: -1 << 40, NoUpgradeUntil: -5},
		"extreme times":   {Issued: math.MinInt64, Expires: math.MaxInt64, NoUpgradeUntil: math.MaxInt64},
		"utf8 and emoji":  {Nickname: "小明🐼👨‍👩‍👧\u200d", Avatar: "https://x/头像.png"},
		"separator bytes": {OpenID: "a|b", Nickname: "\x00\x01\xff|;=\"", Scope: strings.Repeat("s", 300)},
		"long nickname":   {Nickname: strings.Repeat("长", 1000)},
		"no upgrade":      {AppID: testAppID, OpenID: "o", Scope: "snsapi_base", NoUpgradeUntil: 1700000000},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			var out Session
			if err := out.unmarshal(in.marshal()); err != nil {
				t.Fatalf("unmarshal(marshal(s)): %v", err)
			}
			if out != in {
				t.Fatalf("round trip changed the session:\n in  %+v\n out %+v", in, out)
			}
		})
	}
}

func TestFlowStateMarshalRoundTripsEveryField(t *testing.T) {
	cases := map[string]flowState{
		"fresh":      {State: strings.Repeat("A", stateLen), Return: "/a?b=c#d", Scope: "snsapi_base", Created: fixedNow.Unix()},
		"retry":      {State: "x", Return: "https://allowed.com/", Scope: "snsapi_userinfo", Created: 1, Retry: true},
		"done":       {State: "y", Done: true, Created: -1},
		"both flags": {Retry: true, Done: true, Created: math.MaxInt64},
		"empty":      {},
		"utf8":       {Return: "/路径?q=😀", Created: math.MinInt64},
		"via relay":  {State: "z", Return: "/x#y", Scope: "snsapi_base", Created: 5, Kind: kindRelayClient},
		"relay side": {State: "r", Return: "/", Created: 6, RelayBack: "https://shop.example.com/wechat_auth/handback", RelayState: strings.Repeat("S", stateLen), Done: true},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			var out flowState
			if err := out.unmarshal(in.marshal()); err != nil {
				t.Fatalf("unmarshal(marshal(f)): %v", err)
			}
			if out != in {
				t.Fatalf("round trip changed the flow:\n in  %+v\n out %+v", in, out)
			}
		})
	}
}

// A flow cookie of version 1 (before the relay fields) still decodes, so a
// login in progress survives the upgrade.
func TestFlowStateDecodesVersionOne(t *testing.T) {
	v1 := []byte{1}
	for _, s := range []string{"state", "/back", "snsapi_userinfo"} {
		v1 = appendString(v1, s)
	}
	v1 = binary.AppendVarint(v1, 42)
	v1 = append(v1, 1|2)
	var f flowState
	if err := f.unmarshal(v1); err != nil {
		t.Fatal(err)
	}
	want := flowState{State: "state", Return: "/back", Scope: "snsapi_userinfo", Created: 42, Retry: true, Done: true}
	if f != want {
		t.Fatalf("got %+v, want %+v", f, want)
	}
}

func TestSessionUnmarshalRejectsEveryTruncation(t *testing.T) {
	for _, s := range []Session{validSession(), {}, {Issued: math.MaxInt64, Expires: math.MinInt64}} {
		b := s.marshal()
		for n := 0; n < len(b); n++ {
			var out Session
			if err := out.unmarshal(b[:n]); err == nil {
				t.Errorf("a session truncated to %d of %d bytes was accepted: %+v", n, len(b), out)
			}
		}
	}
}

func TestFlowStateUnmarshalRejectsEveryTruncation(t *testing.T) {
	for _, f := range []flowState{{State: "abc", Return: "/x", Scope: "snsapi_base", Created: 12345, Done: true}, {}, {State: "r", RelayBack: "https://a/h", RelayState: "s"}} {
		b := f.marshal()
		for n := 0; n < len(b); n++ {
			var out flowState
			if err := out.unmarshal(b[:n]); err == nil {
				t.Errorf("a flow truncated to %d of %d bytes was accepted: %+v", n, len(b), out)
			}
		}
	}
}

func TestSessionUnmarshalRejectsTrailingBytesAndWrongVersion(t *testing.T) {
	good := marshalSession(validSession())
	bad := map[string][]byte{
		"trailing zero":   append(bytes.Clone(good), 0),
		"trailing bytes":  append(bytes.Clone(good), "extra"...),
		"version 0":       append([]byte{0}, good[1:]...),
		"next version":    append([]byte{sessionVersion + 1}, good[1:]...),
		"version 255":     append([]byte{255}, good[1:]...),
		"nil":             nil,
		"huge length":     {sessionVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"varint overflow": append(append([]byte{sessionVersion}, bytes.Repeat([]byte{0}, 6)...), bytes.Repeat([]byte{0xff}, 11)...),
	}
	for name, b := range bad {
		var out Session
		if err := out.unmarshal(b); err == nil {
			t.Errorf("%s: accepted: %+v", name, out)
		}
	}
}

// TestSessionReadsVersion1Cookies: cookies issued before sessions had ids
// still verify after the upgrade; they carry no id, and count as issued at
// the end of their second.
func TestSessionReadsVersion1Cookies(t *testing.T) {
	s := validSession()
	s.ID, s.IssuedMilli = "", 0
	v3 := s.marshal()
	// Version 1 is version 3 without the three trailing fields (an empty id,
	// a zero varint and an empty Extra: one byte each).
	v1 := append([]byte{sessionVersionV1}, v3[1:len(v3)-3]...)
	var out Session
	if err := out.unmarshal(v1); err != nil {
		t.Fatalf("version 1 cookie refused: %v", err)
	}
	if out != s {
		t.Fatalf("version 1 read as %+v, want %+v", out, s)
	}
	if out.issuedMs() != s.Issued*1000+999 {
		t.Fatalf("issuedMs %d", out.issuedMs())
	}
	s.ID, s.IssuedMilli = "AbCdEfGhIjKlMnOpQrStUv", s.Issued*1000+123
	// Version 2 is version 3 without Extra.
	v3 = s.marshal()
	var back Session
	if err := back.unmarshal(append([]byte{sessionVersionV2}, v3[1:len(v3)-1]...)); err != nil || back != s {
		t.Fatalf("version 2 cookie: %+v, %v", back, err)
	}
	s.Extra = "wecom:c=ww1&u=zhangsan"
	if err := back.unmarshal(s.marshal()); err != nil || back != s {
		t.Fatalf("version 3 round trip: %+v, %v", back, err)
	}
}

func TestFlowStateUnmarshalRejectsTrailingBytesAndWrongVersion(t *testing.T) {
	good := (&flowState{State: "s", Return: "/", Scope: "snsapi_base", Created: 1}).marshal()
	bad := map[string][]byte{
		"trailing byte":               append(bytes.Clone(good), 0),
		"version 0":                   append([]byte{0}, good[1:]...),
		"next version":                append([]byte{flowVersion + 1}, good[1:]...),
		"version 1 with relay fields": append([]byte{1}, good[1:]...),
		"nil":                         nil,
		"session bytes":               append([]byte{flowVersion}, marshalSession(validSession())[1:]...),
	}
	for name, b := range bad {
		var out flowState
		if err := out.unmarshal(b); err == nil {
			t.Errorf("%s: accepted: %+v", name, out)
		}
	}
}

func TestKeyPairsAcceptsEveryBase64AlphabetAndValidLength(t *testing.T) {
	for _, hashLen := range []int{32, 64} {
		for _, blockLen := range []int{0, 16, 24, 32} {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
				// 0xfb... bytes make '+' '/' or '-' '_' appear, so the alphabets differ.
				hash := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, hashLen)[:hashLen]
				k := SessionKey{HashKey: " " + enc.EncodeToString(hash) + "\n"}
				if blockLen > 0 {
					k.BlockKey = enc.EncodeToString(bytes.Repeat([]byte{0xfe}, blockLen))
				}
				pairs, err := keyPairs([]SessionKey{k})
				if err != nil {
					t.Fatalf("hash %d, block %d: %v", hashLen, blockLen, err)
				}
				if len(pairs) != 2 || !bytes.Equal(pairs[0], hash) || len(pairs[1]) != blockLen {
					t.Fatalf("hash %d, block %d: decoded to lengths %d/%d", hashLen, blockLen, len(pairs[0]), len(pairs[1]))
				}
			}
		}
	}
}

func TestKeyPairsErrorsNameTheSettingAndNeverEchoTheKey(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(testKey(0x41, n)) }
	good := b64(32)
	cases := []struct {
		name string
		keys []SessionKey
		want string // substring of the error besides "session_keys"
	}{
		{"bad base64 hash", []SessionKey{{HashKey: "not*base64!secretpart"}}, "#1: hash key is not valid base64"},
		{"bad base64 block", []SessionKey{{HashKey: good, BlockKey: "%%%secretblock%%%"}}, "#1: block key is not valid base64"},
		{"hash 31 bytes", []SessionKey{{HashKey: b64(31)}}, "hash key is 31 bytes, want 32 or 64"},
		{"hash 33 bytes", []SessionKey{{HashKey: b64(33)}}, "hash key is 33 bytes, want 32 or 64"},
		{"hash 0 bytes", []SessionKey{{HashKey: ""}}, "hash key is 0 bytes"},
		{"hash 63 bytes", []SessionKey{{HashKey: b64(63)}}, "hash key is 63 bytes"},
		{"block 15 bytes", []SessionKey{{HashKey: good, BlockKey: b64(15)}}, "block key is 15 bytes, want 16, 24 or 32"},
		{"block 17 bytes", []SessionKey{{HashKey: good, BlockKey: b64(17)}}, "block key is 17 bytes, want 16, 24 or 32"},
		{"block 64 bytes", []SessionKey{{HashKey: good, BlockKey: b64(64)}}, "block key is 64 bytes"},
		{"second pair bad", []SessionKey{{HashKey: good}, {HashKey: b64(31), BlockKey: b64(32)}}, "session_keys #2: hash key is 31 bytes"},
		{"second pair block bad", []SessionKey{{HashKey: good}, {HashKey: good, BlockKey: b64(17)}}, "session_keys #2: block key is 17 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := keyPairs(c.keys)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, "session_keys") || !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not name session_keys and %q", msg, c.want)
			}
			for _, k := range c.keys {
				for _, secret := range []string{k.HashKey, k.BlockKey} {
					if len(secret) >= 8 && strings.Contains(msg, secret) {
						t.Errorf("error %q echoes key text %q", msg, secret)
					}
				}
			}
			for _, frag := range []string{"secretpart", "secretblock"} {
				if strings.Contains(msg, frag) {
					t.Errorf("error %q echoes key text %q", msg, frag)
				}
			}
		})
	}
}

func TestCookieCodecRoundTripsSignedAndEncrypted(t *testing.T) {
	for name, pairs := range map[string][][]byte{
		"signed and encrypted": testPair(1),
		"signed only":          {testKey(1, 64), nil},
	} {
		t.Run(name, func(t *testing.T) {
			c := newCookieCodec(pairs, time.Hour)
			payload := marshalSession(validSession())
			v, err := c.encode("wechat_session", bytes.Clone(payload))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.decode("wechat_session", v)
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("decode = %q, %v; want the payload", got, err)
			}
			if name == "signed and encrypted" && bytes.Contains(mustB64(t, v), []byte("oABCDEFG")) {
				t.Error("encrypted cookie shows the openid in clear")
			}
		})
	}
}

func mustB64(t *testing.T, v string) []byte {
	t.Helper()
	b, err := base64.URLEncoding.DecodeString(v)
	if err != nil {
		t.Fatalf("cookie value is not base64: %v", err)
	}
	return b
}

func TestCookieCodecRefusesAnotherCookieName(t *testing.T) {
	c := newCookieCodec(testPair(1), time.Hour)
	flowName := defaultCookieName + "_flow_ABCDEFGHIJ"
	flow, err := c.encode(flowName, (&flowState{State: "ABCDEFGHIJ" + strings.Repeat("k", 22)}).marshal())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.decode(defaultCookieName, flow); err == nil {
		t.Error("a flow cookie decoded as the session cookie")
	}
	sess, _ := c.encode(defaultCookieName, marshalSession(validSession()))
	if _, err := c.decode(flowName, sess); err == nil {
		t.Error("a session cookie decoded as a flow cookie")
	}
	if _, err := c.decode("other_app_session", sess); err == nil {
		t.Error("a session cookie decoded under another cookie name")
	}
}

func TestCookieCodecRotationVerifiesOldPairsAndRefusesRemovedOnes(t *testing.T) {
	payload := marshalSession(validSession())
	old := newCookieCodec(testPair(1), time.Hour)
	oldValue, err := old.encode("s", bytes.Clone(payload))
	if err != nil {
		t.Fatal(err)
	}
	rotated := newCookieCodec(append(testPair(2), testPair(1)...), time.Hour)
	if got, err := rotated.decode("s", oldValue); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("a cookie of the old first pair no longer verifies once that pair is second: %v", err)
	}
	newValue, err := rotated.encode("s", bytes.Clone(payload))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.decode("s", newValue); err == nil {
		t.Error("after rotation, new cookies are still signed with the old pair")
	}
	dropped := newCookieCodec(testPair(2), time.Hour)
	if _, err := dropped.decode("s", oldValue); err == nil {
		t.Error("a cookie of a removed pair still verifies")
	}
	if got, err := dropped.decode("s", newValue); err != nil || !bytes.Equal(got, payload) {
		t.Errorf("a cookie of the remaining pair no longer verifies: %v", err)
	}
	// Same hash key, different block key: must not decrypt to the payload.
	sameHash := newCookieCodec([][]byte{testKey(1, 32), testKey(55, 32)}, time.Hour)
	if got, err := sameHash.decode("s", oldValue); err == nil && bytes.Equal(got, payload) {
		t.Error("a cookie decrypted under a different block key")
	}
}

func TestCookieCodecRefusesOversizeValues(t *testing.T) {
	c := newCookieCodec(testPair(1), time.Hour)
	if _, err := c.encode("s", bytes.Repeat([]byte("x"), 4*maxCookieLen)); err == nil {
		t.Error("encoded a cookie far longer than maxCookieLen")
	}
	good, _ := c.encode("s", []byte("ok"))
	for _, n := range []int{maxCookieLen + 1, 40 << 10} {
		huge := good + strings.Repeat("A", n-len(good))
		if _, err := c.decode("s", huge); err == nil {
			t.Errorf("decoded a %d-byte value", n)
		}
	}
}

func TestCookieCodecRefusesGarbage(t *testing.T) {
	c := newCookieCodec(testPair(1), time.Hour)
	for _, v := range []string{"", "=", "||", "a|b|c", "MTIzfGFiY3xkZWY=", "\x00", "🍪", strings.Repeat("|", 100)} {
		if _, err := c.decode("s", v); err == nil {
			t.Errorf("decoded %q", v)
		}
	}
}

func marshalSession(s Session) []byte { return s.marshal() }
