package msgcrypt

import (
	"crypto/subtle"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Receiver opens the pushes WeChat sends to a platform's 授权事件接收URL and
// seals replies. Its fields are the platform's console settings plus the
// limits the caller chooses; it holds no state, so one value serves
// concurrent requests.
type Receiver struct {
	// AppID is the component AppID every push must name.
	AppID string
	// Token is the message Token (消息校验Token) msg_signature is computed with.
	Token string
	// Key is the AES key of the current EncodingAESKey (ParseKey).
	Key []byte
	// PreviousKey is the AES key of the previous EncodingAESKey, tried when Key
	// fails, as WeChat asks during a key change; nil when there is none.
	PreviousKey []byte
	// MaxBody caps the request body in bytes; a larger body is refused unread.
	// 0 means 64 KiB (a push is well under 2 KiB).
	MaxBody int64
	// MaxSkew is how far the query timestamp may lie from Now, either way;
	// older pushes are refused as stale or replayed. 0 means 5 minutes.
	MaxSkew time.Duration
	// Now tells the time; nil means time.Now.
	Now func() time.Time
}

// Errors Open returns besides ErrSignature, ErrDecrypt and ErrAppID.
var (
	// ErrTooLarge means the body exceeds MaxBody.
	ErrTooLarge = errors.New("msgcrypt: the push body is larger than the limit")
	// ErrStale means the timestamp is missing, malformed or outside MaxSkew.
	ErrStale = errors.New("msgcrypt: the push timestamp is missing or too far from now (stale or replayed push, or this server's clock is off)")
	// ErrMalformed means the body is not the <xml><Encrypt/></xml> envelope or the
	// decrypted XML is not a push.
	ErrMalformed = errors.New("msgcrypt: the push is not well-formed encrypted XML")
)

// envelope is the encrypted body: <xml><AppId/><Encrypt/></xml>.
type envelope struct {
	AppID   string `xml:"AppId"`
	Encrypt string `xml:"Encrypt"`
}

// Query holds the query parameters of a push that Open checks.
type Query struct {
	MsgSignature string
	Timestamp    string
	Nonce        string
}

// Open checks and decrypts one push: body size, timestamp, msg_signature (in
// constant time, before any decryption), then the current key and, failing
// that, the previous one. It returns the decrypted XML and which key worked
// (0 current, 1 previous): Seal the reply with the same key.
func (r *Receiver) Open(q Query, body io.Reader) (msg []byte, keyIndex int, err error) {
	max := r.MaxBody
	if max <= 0 {
		max = 64 << 10
	}
	raw, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, 0, fmt.Errorf("msgcrypt: reading the push: %w", err)
	}
	if int64(len(raw)) > max {
		return nil, 0, ErrTooLarge
	}
	if !r.fresh(q.Timestamp) {
		return nil, 0, ErrStale
	}
	var env envelope
	if err := xml.Unmarshal(raw, &env); err != nil || env.Encrypt == "" {
		return nil, 0, ErrMalformed
	}
	want := Signature(r.Token, q.Timestamp, q.Nonce, env.Encrypt)
	if subtle.ConstantTimeCompare([]byte(want), []byte(q.MsgSignature)) != 1 {
		return nil, 0, ErrSignature
	}
	for i, key := range [][]byte{r.Key, r.PreviousKey} {
		if key == nil {
			continue
		}
		m, appID, err := Decrypt(key, env.Encrypt)
		if err != nil {
			continue
		}
		if appID != r.AppID {
			return nil, 0, ErrAppID
		}
		return m, i, nil
	}
	return nil, 0, ErrDecrypt
}

// fresh reports whether ts (Unix seconds) is within MaxSkew of now.
func (r *Receiver) fresh(ts string) bool {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return false
	}
	skew := r.MaxSkew
	if skew <= 0 {
		skew = 5 * time.Minute
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	d := now().Sub(time.Unix(sec, 0))
	return d <= skew && d >= -skew
}

// Sealed is an encrypted reply or push: the XML body and the query values
// that go with it.
type Sealed struct {
	Body         []byte
	MsgSignature string
	Timestamp    string
	Nonce        string
}

// Seal encrypts msg with the key keyIndex names (what Open returned) into the
// <xml><AppId/><Encrypt/></xml> envelope WeChat sends, signed for timestamp
// and nonce. The simulator's pushes are built the same way, by its own copy.
func (r *Receiver) Seal(msg []byte, keyIndex int, timestamp, nonce string) (*Sealed, error) {
	key := r.Key
	if keyIndex == 1 {
		key = r.PreviousKey
	}
	enc, err := Encrypt(key, msg, r.AppID, nil)
	if err != nil {
		return nil, err
	}
	body, err := xml.Marshal(struct {
		XMLName xml.Name `xml:"xml"`
		envelope
	}{envelope: envelope{AppID: r.AppID, Encrypt: enc}})
	if err != nil {
		return nil, err
	}
	return &Sealed{Body: body, MsgSignature: Signature(r.Token, timestamp, nonce, enc), Timestamp: timestamp, Nonce: nonce}, nil
}
