package msgcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	wxutil "github.com/silenceper/wechat/v2/util"
)

const (
	testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	testOldKey = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
	testAppID  = "wxcomponent0000001"
	testToken  = "platformtoken"
)

var testNow = time.Unix(1800000000, 0)

func mustKey(t testing.TB, s string) []byte {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testReceiver(t testing.TB) *Receiver {
	return &Receiver{AppID: testAppID, Token: testToken, Key: mustKey(t, testAESKey),
		Now: func() time.Time { return testNow }}
}

const ticketXML = "<xml><AppId><![CDATA[wxcomponent0000001]]></AppId><CreateTime>1800000000</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[ticket@@@abc]]></ComponentVerifyTicket></xml>"

func push(t testing.TB, r *Receiver, keyIndex int, msg string) (Query, []byte) {
	t.Helper()
	s, err := r.Seal([]byte(msg), keyIndex, strconv.FormatInt(testNow.Unix(), 10), "1320562132")
	if err != nil {
		t.Fatal(err)
	}
	return Query{MsgSignature: s.MsgSignature, Timestamp: s.Timestamp, Nonce: s.Nonce}, s.Body
}

func TestOpenRoundTripAndEvent(t *testing.T) {
	r := testReceiver(t)
	q, body := push(t, r, 0, ticketXML)
	msg, ki, err := r.Open(q, bytes.NewReader(body))
	if err != nil || ki != 0 || string(msg) != ticketXML {
		t.Fatalf("Open = %q, %d, %v", msg, ki, err)
	}
	e, err := ParseEvent(msg)
	if err != nil || e.InfoType != InfoTicket || e.ComponentVerifyTicket != "ticket@@@abc" || e.AppID != testAppID || !e.Created().Equal(testNow) {
		t.Fatalf("ParseEvent = %+v, %v", e, err)
	}
}

// The padding must fill to a multiple of 32 and never be empty: an aligned
// plaintext gets a whole block of 0x20, as the official table's last row says.
func TestEncryptPadsTo32ByteBlocks(t *testing.T) {
	key := mustKey(t, testAESKey)
	for n := 0; n <= 70; n++ {
		msg := strings.Repeat("x", n)
		enc, err := Encrypt(key, []byte(msg), testAppID, make([]byte, 16))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(enc)
		plain := make([]byte, len(raw))
		block, _ := aes.NewCipher(key)
		cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(plain, raw)
		pad := 32 - (20+n+len(testAppID))%32
		if len(raw)%32 != 0 || int(plain[len(plain)-1]) != pad {
			t.Fatalf("len %d: ciphertext %d bytes, pad byte %d, want multiple of 32 and %d", n, len(raw), plain[len(plain)-1], pad)
		}
		got, id, err := Decrypt(key, enc)
		if err != nil || string(got) != msg || id != testAppID {
			t.Fatalf("len %d: Decrypt = %q %q %v", n, got, id, err)
		}
	}
}

// sealRaw encrypts plain as is (the caller pads), to build bad paddings.
func sealRaw(key, plain []byte) string {
	block, _ := aes.NewCipher(key)
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out)
}

func TestDecryptRejectsBadPadding(t *testing.T) {
	key := mustKey(t, testAESKey)
	body := append(make([]byte, 16), 0, 0, 0, 3)
	body = append(body, "abc"+testAppID...)
	for _, tc := range []struct {
		name string
		tail []byte
	}{
		{"pad 0", nil},
		{"pad 33", []byte{33}},
		{"inconsistent", []byte{7, 3}},
	} {
		plain := append([]byte(nil), body...)
		for len(plain)%32 != (32-len(tc.tail))%32 {
			plain = append(plain, 0)
		}
		plain = append(plain, tc.tail...)
		if len(plain)%32 != 0 {
			plain = append(plain, make([]byte, 32-len(plain)%32)...)
		}
		if _, _, err := Decrypt(key, sealRaw(key, plain)); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", tc.name, err)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	r := testReceiver(t)
	q, body := push(t, r, 0, ticketXML)
	other := *r
	other.AppID = "wxsomeoneelse00001"
	oq, obody := push(t, &other, 0, ticketXML)
	tampered := q
	tampered.MsgSignature = strings.Repeat("0", 40)
	for _, tc := range []struct {
		name string
		r    *Receiver
		q    Query
		body []byte
		want error
	}{
		{"tampered signature", r, tampered, body, ErrSignature},
		{"wrong token", &Receiver{AppID: testAppID, Token: "other", Key: r.Key, Now: r.Now}, q, body, ErrSignature},
		{"stale", &Receiver{AppID: testAppID, Token: testToken, Key: r.Key, Now: func() time.Time { return testNow.Add(6 * time.Minute) }}, q, body, ErrStale},
		{"from the future", &Receiver{AppID: testAppID, Token: testToken, Key: r.Key, Now: func() time.Time { return testNow.Add(-6 * time.Minute) }}, q, body, ErrStale},
		{"no timestamp", r, Query{MsgSignature: q.MsgSignature, Nonce: q.Nonce}, body, ErrStale},
		{"oversized", &Receiver{AppID: testAppID, Token: testToken, Key: r.Key, Now: r.Now, MaxBody: int64(len(body) - 1)}, q, body, ErrTooLarge},
		{"not xml", r, q, []byte("hello"), ErrMalformed},
		{"other app", r, oq, obody, ErrAppID},
		{"wrong key", &Receiver{AppID: testAppID, Token: testToken, Key: mustKey(t, testOldKey), Now: r.Now}, q, body, ErrDecrypt},
	} {
		if _, _, err := tc.r.Open(tc.q, bytes.NewReader(tc.body)); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// During a key change WeChat may still encrypt with the previous key: Open
// falls back to it and says so, so the reply is sealed with the same key.
func TestOpenFallsBackToPreviousKey(t *testing.T) {
	old := &Receiver{AppID: testAppID, Token: testToken, Key: mustKey(t, testOldKey), Now: func() time.Time { return testNow }}
	q, body := push(t, old, 0, ticketXML)
	r := testReceiver(t)
	r.PreviousKey = mustKey(t, testOldKey)
	msg, ki, err := r.Open(q, bytes.NewReader(body))
	if err != nil || ki != 1 || string(msg) != ticketXML {
		t.Fatalf("Open = %q, %d, %v; want the message via the previous key", msg, ki, err)
	}
	reply, err := r.Seal([]byte("<xml/>"), ki, q.Timestamp, q.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := old.Open(Query{reply.MsgSignature, reply.Timestamp, reply.Nonce}, bytes.NewReader(reply.Body)); err != nil {
		t.Fatalf("the reply does not open with the previous key: %v", err)
	}
}

func TestParseKeyRefusesBadShapes(t *testing.T) {
	for _, k := range []string{"", "short", testAESKey + "A", testAESKey[:42] + "-"} {
		if _, err := ParseKey(k); err == nil {
			t.Errorf("ParseKey(%q) accepted", k)
		} else if strings.Contains(err.Error(), k) && k != "" {
			t.Errorf("error %q repeats the key", err)
		}
	}
}

func TestParseEventAuthorization(t *testing.T) {
	msg := `<xml><AppId>wxcomponent0000001</AppId><CreateTime>1413192760</CreateTime><InfoType>authorized</InfoType><AuthorizerAppid>wxauthorizer00001</AuthorizerAppid><AuthorizationCode>queryauthcode@@@x</AuthorizationCode><AuthorizationCodeExpiredTime>1413196360</AuthorizationCodeExpiredTime><PreAuthCode>preauthcode@@@y</PreAuthCode></xml>`
	e, err := ParseEvent([]byte(msg))
	if err != nil || e.InfoType != InfoAuthorized || e.AuthorizerAppid != "wxauthorizer00001" || e.AuthorizationCode != "queryauthcode@@@x" ||
		e.AuthorizationCodeExpiredTime != 1413196360 || e.PreAuthCode != "preauthcode@@@y" || e.CreateTime != 1413192760 {
		t.Fatalf("ParseEvent = %+v, %v", e, err)
	}
	for _, bad := range []string{"<xml><InfoType>unauthorized</InfoType></xml>", "<xml><InfoType>component_verify_ticket</InfoType></xml>", "<xml></xml>", "<xml"} {
		if _, err := ParseEvent([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseEvent(%q) err = %v", bad, err)
		}
	}
}

// An implementation nobody here wrote (silenceper/wechat's util) agrees both
// ways: it opens what Encrypt makes and Decrypt opens what it makes.
func TestInteropSilenceper(t *testing.T) {
	key := mustKey(t, testAESKey)
	enc, err := Encrypt(key, []byte(ticketXML), testAppID, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := wxutil.DecryptMsg(testAppID, enc, testAESKey)
	if err != nil || string(got) != ticketXML {
		t.Fatalf("silenceper DecryptMsg = %q, %v", got, err)
	}
	theirs, err := wxutil.EncryptMsg([]byte("0123456789abcdef"), []byte(ticketXML), testAppID, testAESKey)
	if err != nil {
		t.Fatal(err)
	}
	msg, id, err := Decrypt(key, string(theirs))
	if err != nil || string(msg) != ticketXML || id != testAppID {
		t.Fatalf("Decrypt(silenceper) = %q %q %v", msg, id, err)
	}
	if a, b := Signature(testToken, "1", "2", enc), wxutil.Signature(testToken, "1", "2", enc); a != b {
		t.Fatalf("Signature %s, silenceper %s", a, b)
	}
}
