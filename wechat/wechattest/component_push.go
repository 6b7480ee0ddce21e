package wechattest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The simulator's own copy of WeChat's message encryption (docs/wechat.md,
// "Third-party platform"); it shares no code with wechat/msgcrypt, so a
// mistake there cannot make both agree.

// aesKey decodes a 43-character EncodingAESKey (base64 of 32 bytes, "=" dropped).
func aesKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("EncodingAESKey must be 43 characters, got %d", len(encodingAESKey))
	}
	k, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(k) != 32 {
		return nil, errors.New("EncodingAESKey is not base64 of 32 bytes")
	}
	return k, nil
}

// sealMessage is Base64(AES-256-CBC(random16 ‖ len32be ‖ msg ‖ appID)),
// IV = key[:16], PKCS#7 padded to 32 bytes.
func sealMessage(key []byte, msg, appID string) string {
	var buf bytes.Buffer
	r := make([]byte, 16)
	_, _ = rand.Read(r)
	buf.Write(r)
	_ = binary.Write(&buf, binary.BigEndian, uint32(len(msg)))
	buf.WriteString(msg)
	buf.WriteString(appID)
	n := 32 - buf.Len()%32
	buf.Write(bytes.Repeat([]byte{byte(n)}, n))
	out := buf.Bytes()
	block, _ := aes.NewCipher(key)
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, out)
	return base64.StdEncoding.EncodeToString(out)
}

// openMessage reverses sealMessage and returns the message and trailing AppID.
func openMessage(key []byte, enc string) (msg, appID string, err error) {
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(raw) < 32 || len(raw)%32 != 0 {
		return "", "", errors.New("not an encrypted message")
	}
	block, _ := aes.NewCipher(key)
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(raw, raw)
	n := int(raw[len(raw)-1])
	if n < 1 || n > 32 {
		return "", "", errors.New("bad padding")
	}
	raw = raw[:len(raw)-n]
	if len(raw) < 20 {
		return "", "", errors.New("too short")
	}
	l := int(binary.BigEndian.Uint32(raw[16:20]))
	if l > len(raw)-20 {
		return "", "", errors.New("bad length")
	}
	return string(raw[20 : 20+l]), string(raw[20+l:]), nil
}

// msgSignature is sha1 of the sorted Token, timestamp, nonce and Encrypt, lowercase hex.
func msgSignature(parts ...string) string {
	p := append([]string(nil), parts...)
	sort.Strings(p)
	h := sha1.Sum([]byte(strings.Join(p, "")))
	return hex.EncodeToString(h[:])
}

// cdata wraps v for the push XML; WeChat's values (AppIDs, tickets, codes)
// never contain "]]>".
func cdata(name, v string) string { return "<" + name + "><![CDATA[" + v + "]]></" + name + ">" }

// PushTicket issues a new component_verify_ticket and pushes it to the
// platform's PushURL, encrypted as WeChat does. It returns the ticket; the
// error says what the receiver answered when it did not answer "success".
func (s *Simulator) PushTicket() (string, error) {
	cs := s.component
	if cs == nil {
		return "", errors.New("wechattest: no third-party platform configured (WithComponent)")
	}
	ticket := "ticket@@@" + randomID(86)
	now := s.now()
	s.mu.Lock()
	cs.tickets[ticket] = now
	cs.latest = ticket
	s.mu.Unlock()
	body := "<xml>" + cdata("AppId", cs.cfg.AppID) + "<CreateTime>" + strconv.FormatInt(now.Unix(), 10) + "</CreateTime>" +
		cdata("InfoType", "component_verify_ticket") + cdata("ComponentVerifyTicket", ticket) + "</xml>"
	return ticket, s.push(cs, body)
}

// VerifyTicket is the newest ticket pushed, "" before the first push.
func (s *Simulator) VerifyTicket() string {
	if s.component == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.component.latest
}

// ExpireVerifyTickets ages every ticket pushed so far past its 12 hours, so
// api_component_token answers 61005 for them.
func (s *Simulator) ExpireVerifyTickets() {
	if s.component == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.component.tickets {
		s.component.tickets[t] = time.Time{}
	}
}

// AuthorizeAccount authorizes appID to the platform and pushes the
// authorized event, or updateauthorized when it already was. appID must be an
// app of the simulator (Component.Authorizers, WithApp): apps are fixed at New.
func (s *Simulator) AuthorizeAccount(appID string) error {
	cs := s.component
	if cs == nil {
		return errors.New("wechattest: no third-party platform configured (WithComponent)")
	}
	if s.app(appID) == nil {
		return fmt.Errorf("wechattest: %s is not an app of the simulator; add it with WithApp", appID)
	}
	s.mu.Lock()
	info := "authorized"
	if cs.authorized[appID] {
		info = "updateauthorized"
	}
	cs.authorized[appID] = true
	s.mu.Unlock()
	now := s.now()
	body := "<xml>" + cdata("AppId", cs.cfg.AppID) + "<CreateTime>" + strconv.FormatInt(now.Unix(), 10) + "</CreateTime>" +
		cdata("InfoType", info) + cdata("AuthorizerAppid", appID) + cdata("AuthorizationCode", "queryauthcode@@@"+randomID(40)) +
		"<AuthorizationCodeExpiredTime>" + strconv.FormatInt(now.Add(time.Hour).Unix(), 10) + "</AuthorizationCodeExpiredTime>" +
		cdata("PreAuthCode", "preauthcode@@@"+randomID(40)) + "</xml>"
	return s.push(cs, body)
}

// UnauthorizeAccount withdraws appID's authorization and pushes the
// unauthorized event; the authorize page then refuses the account.
func (s *Simulator) UnauthorizeAccount(appID string) error {
	cs := s.component
	if cs == nil {
		return errors.New("wechattest: no third-party platform configured (WithComponent)")
	}
	s.mu.Lock()
	delete(cs.authorized, appID)
	s.mu.Unlock()
	body := "<xml>" + cdata("AppId", cs.cfg.AppID) + "<CreateTime>" + strconv.FormatInt(s.now().Unix(), 10) + "</CreateTime>" +
		cdata("InfoType", "unauthorized") + cdata("AuthorizerAppid", appID) + "</xml>"
	return s.push(cs, body)
}

// push encrypts body and POSTs it to PushURL as WeChat does: the envelope
// <xml><AppId/><Encrypt/></xml>, and signature, timestamp, nonce,
// encrypt_type=aes and msg_signature in the query. Nothing is sent without a
// PushURL. The receiver must answer "success".
func (s *Simulator) push(cs *componentState, body string) error {
	cs.pushMu.Lock()
	defer cs.pushMu.Unlock()
	if cs.cfg.PushURL == "" {
		return nil
	}
	enc := sealMessage(cs.key, body, cs.cfg.AppID)
	ts := strconv.FormatInt(s.now().Unix(), 10)
	nonce := strconv.FormatUint(uint64(randomUint32()), 10)
	q := url.Values{"signature": {msgSignature(cs.cfg.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce},
		"encrypt_type": {"aes"}, "msg_signature": {msgSignature(cs.cfg.Token, ts, nonce, enc)}}
	u := cs.cfg.PushURL
	if strings.Contains(u, "?") {
		u += "&" + q.Encode()
	} else {
		u += "?" + q.Encode()
	}
	envelope := "<xml>" + cdata("AppId", cs.cfg.AppID) + cdata("Encrypt", enc) + "</xml>"
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(u, "text/xml", strings.NewReader(envelope))
	if err != nil {
		return fmt.Errorf("wechattest: push to the 授权事件接收URL failed: %w", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK || string(got) != "success" {
		return fmt.Errorf("wechattest: the 授权事件接收URL answered %d %q, not \"success\"", resp.StatusCode, got)
	}
	return nil
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// pushTickets pushes a ticket every PushEvery until the simulator closes,
// as WeChat does every 10 minutes.
func (s *Simulator) pushTickets(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			_, _ = s.PushTicket()
		}
	}
}

// SetPushURL points the platform's pushes at u (its 授权事件接收URL), for a
// receiver whose address is known only once the simulator runs.
func (s *Simulator) SetPushURL(u string) error {
	cs := s.component
	if cs == nil {
		return errors.New("wechattest: no third-party platform configured (WithComponent)")
	}
	cs.pushMu.Lock()
	cs.cfg.PushURL = u
	cs.pushMu.Unlock()
	return nil
}
