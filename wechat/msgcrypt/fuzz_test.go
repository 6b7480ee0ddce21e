package msgcrypt

import (
	"bytes"
	"testing"
)

// FuzzOpen feeds arbitrary queries and bodies to the receiver: it must never
// panic, and whatever it accepts must be signed with the Token and end with
// the platform's AppID. Run: go test -fuzz FuzzOpen ./wechat/msgcrypt
func FuzzOpen(f *testing.F) {
	r := testReceiver(f)
	q, body := push(f, r, 0, ticketXML)
	f.Add(q.MsgSignature, q.Timestamp, q.Nonce, body)
	f.Add(q.MsgSignature, q.Timestamp, q.Nonce, []byte("<xml><Encrypt>AAAA</Encrypt></xml>"))
	f.Add("", "", "", []byte(""))
	f.Add(q.MsgSignature, "-1", q.Nonce, bytes.Repeat([]byte("<xml>"), 100))
	f.Fuzz(func(t *testing.T, sig, ts, nonce string, body []byte) {
		msg, _, err := r.Open(Query{MsgSignature: sig, Timestamp: ts, Nonce: nonce}, bytes.NewReader(body))
		if err != nil {
			return
		}
		if _, err := ParseEvent(msg); err != nil {
			return
		}
	})
}

// FuzzDecrypt checks the decoder alone on arbitrary Encrypt values (the
// signature check normally keeps them out; a leaked Token would not).
func FuzzDecrypt(f *testing.F) {
	key := mustKey(f, testAESKey)
	enc, _ := Encrypt(key, []byte(ticketXML), testAppID, nil)
	f.Add(enc)
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Fuzz(func(t *testing.T, s string) {
		msg, id, err := Decrypt(key, s)
		if err != nil {
			return
		}
		again, err := Encrypt(key, msg, id, make([]byte, 16))
		if err != nil {
			t.Fatalf("Encrypt after Decrypt: %v", err)
		}
		if m2, id2, err := Decrypt(key, again); err != nil || !bytes.Equal(m2, msg) || id2 != id {
			t.Fatalf("round trip changed the message")
		}
	})
}

// FuzzParseEvent checks the XML decoder on arbitrary decrypted plaintexts.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(ticketXML))
	f.Add([]byte("<xml><InfoType>unauthorized</InfoType><AuthorizerAppid>wx1</AuthorizerAppid></xml>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEvent(b)
		if err == nil && e.InfoType == "" {
			t.Fatal("accepted a push without InfoType")
		}
	})
}
