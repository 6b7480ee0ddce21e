package wechatauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// webTokens is what the gateway keeps of one session's web authorization
// (docs/tokens.md): WeChat's web access_token and refresh_token, and when
// WeChat last vouched for them. It lives in the wechat app's store under a
// key derived from the session id, sealed with a key derived from the same
// id (webTokenSeal), and in each replica's memory while the session is
// active (webTokenKeeper). It never goes into a cookie, a log line, a metric
// label or a URL of ours.
//
// A record is immutable once published: a change makes a copy with Gen
// one higher, so a replica waiting for another one's refresh sees it land.
type webTokens struct {
	Access  string
	Refresh string
	OpenID  string
	// AccessExpires is when Access stops working, Unix seconds: the time
	// of the exchange or refresh plus WeChat's expires_in (7200 s).
	AccessExpires int64
	// Checked is when WeChat last vouched for the authorization (the code
	// exchange, a refresh, or sns/auth answering ok), Unix seconds.
	Checked int64
	// Profiled is when Nickname and Avatar were fetched, Unix seconds; 0
	// for a snsapi_base session, which has no profile to fetch.
	Profiled int64
	Nickname string
	Avatar   string
	// RetryAt holds back every call to WeChat until then (Unix seconds)
	// after WeChat could not be reached or said nothing about the tokens.
	RetryAt int64
	// Ended means WeChat refused the refresh_token or the user withdrew
	// the authorization: the session must sign in again.
	Ended bool
	// Gen counts the changes since the sign-in (1).
	Gen int64
	// Until is when the session ends (Unix seconds); the store keeps the
	// record until then.
	Until int64
}

// webTokensVersion is the first byte of a record's wire form.
const webTokensVersion byte = 1

func (w *webTokens) marshal() []byte {
	b := make([]byte, 0, 48+len(w.Access)+len(w.Refresh)+len(w.OpenID)+len(w.Nickname)+len(w.Avatar))
	b = append(b, webTokensVersion)
	for _, f := range [...]string{w.Access, w.Refresh, w.OpenID, w.Nickname, w.Avatar} {
		b = appendString(b, f)
	}
	for _, n := range [...]int64{w.AccessExpires, w.Checked, w.Profiled, w.RetryAt, w.Gen, w.Until} {
		b = binary.AppendVarint(b, n)
	}
	var flags byte
	if w.Ended {
		flags |= 1
	}
	return append(b, flags)
}

func (w *webTokens) unmarshal(b []byte) error {
	if len(b) == 0 || b[0] != webTokensVersion {
		return errMalformed
	}
	d := decoder{b: b[1:]}
	w.Access, w.Refresh, w.OpenID, w.Nickname, w.Avatar = d.str(), d.str(), d.str(), d.str(), d.str()
	w.AccessExpires, w.Checked, w.Profiled, w.RetryAt, w.Gen, w.Until = d.varint(), d.varint(), d.varint(), d.varint(), d.varint(), d.varint()
	w.Ended = d.byte()&1 != 0
	return d.done()
}

// webTokenSeal is one session's place in the store. Neither the key nor the
// value shows the session id or the tokens: the key is an HMAC of the app
// and session id, and the value is sealed (AES-GCM) with a key derived from
// the session id, which only the visitor's cookie carries. Someone reading
// the store (a Redis dump, a MONITOR) learns neither the tokens nor whose
// they are; a session id, once revoked at logout, is in the store, so a
// logout also deletes the record (webTokenKeeper.forget).
type webTokenSeal struct {
	key  string // the record's key
	lock string // the key of the claim one replica holds while it calls WeChat
	aead cipher.AEAD
}

func newWebTokenSeal(appID, sessionID string) webTokenSeal {
	id := hmac.New(sha256.New, []byte("wechat_auth web tokens"))
	id.Write([]byte(appID + "\x00" + sessionID))
	name := hex.EncodeToString(id.Sum(nil)[:16])
	k := hmac.New(sha256.New, []byte(sessionID))
	k.Write([]byte("wechat_auth web token seal\x00" + appID))
	block, _ := aes.NewCipher(k.Sum(nil)) // a 32-byte key never fails
	aead, _ := cipher.NewGCM(block)
	return webTokenSeal{key: "webtoken:" + name, lock: "webtoken_lock:" + name, aead: aead}
}

func (s webTokenSeal) seal(w *webTokens) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(w.Access)+len(w.Refresh)+128)
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, w.marshal(), []byte(s.key))
}

// open returns the record sealed in v, or nil when v is not one of this
// session's (tampered with, or another session's).
func (s webTokenSeal) open(v []byte) *webTokens {
	n := s.aead.NonceSize()
	if len(v) < n {
		return nil
	}
	payload, err := s.aead.Open(nil, v[:n], v[n:], []byte(s.key))
	if err != nil {
		return nil
	}
	w := new(webTokens)
	if w.unmarshal(payload) != nil {
		return nil
	}
	return w
}
