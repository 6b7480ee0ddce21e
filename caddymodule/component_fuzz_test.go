package wechatauth

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat/msgcrypt"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// fuzzReceiver is a receiver with the test platform's settings on a
// memory store.
func fuzzReceiver(tb testing.TB) *ComponentEvents {
	tb.Helper()
	a := &App{logger: zap.NewNop(), Component: &ComponentConfig{AppID: wechattest.DefaultComponentAppID,
		AppSecret: wechattest.DefaultComponentSecret, Token: wechattest.DefaultComponentToken,
		EncodingAESKey: wechattest.DefaultComponentAESKey}}
	if err := a.provisionComponent(); err != nil {
		tb.Fatal(err)
	}
	a.component.store = newMemoryStore(nil, nil)
	return &ComponentEvents{c: a.component, logger: zap.NewNop()}
}

// FuzzComponentEvents feeds arbitrary queries and bodies, and arbitrary
// plaintexts sealed with the real Token and key, to the receiver: it never
// panics or answers 5xx, answers "success" only to what msgcrypt opens and
// ParseEvent accepts, and then only once per msg_signature.
func FuzzComponentEvents(f *testing.F) {
	now := time.Now().Unix()
	ticket := fmt.Sprintf("<xml><AppId>%s</AppId><CreateTime>%d</CreateTime><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>t@@@1</ComponentVerifyTicket></xml>", wechattest.DefaultComponentAppID, now)
	f.Add("", []byte(""), []byte(ticket), true)
	f.Add("timestamp=1&nonce=2&msg_signature=x", []byte("<xml><Encrypt>AAAA</Encrypt></xml>"), []byte("<xml><InfoType>unauthorized</InfoType><AuthorizerAppid>wx1</AuthorizerAppid></xml>"), true)
	f.Add("timestamp=1&nonce=2&msg_signature=x", []byte("<xml><Encrypt>AAAA</Encrypt></xml>"), []byte("<xml><InfoType>authorized</InfoType><AuthorizerAppid>wx|1:x</AuthorizerAppid></xml>"), true)
	f.Add("msg_signature=&timestamp=", []byte("<xml/>"), []byte("not xml"), false)

	f.Fuzz(func(t *testing.T, rawQuery string, body, plain []byte, seal bool) {
		e := fuzzReceiver(t)
		q, _ := url.ParseQuery(rawQuery)
		if seal {
			s, err := e.c.recv.Seal(plain, 0, strconv.FormatInt(time.Now().Unix(), 10), "42")
			if err != nil {
				t.Fatal(err)
			}
			q = url.Values{"timestamp": {s.Timestamp}, "nonce": {s.Nonce}, "msg_signature": {s.MsgSignature}}
			body = s.Body
		}
		opened := false
		if msg, _, err := e.c.recv.Open(msgcrypt.Query{MsgSignature: q.Get("msg_signature"), Timestamp: q.Get("timestamp"), Nonce: q.Get("nonce")}, bytes.NewReader(body)); err == nil {
			_, perr := msgcrypt.ParseEvent(msg)
			opened = perr == nil
		}
		for i := 0; i < 2; i++ {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/events?"+q.Encode(), bytes.NewReader(body))
			if err := e.ServeHTTP(w, r, nil); err != nil {
				t.Fatal(err)
			}
			success := w.Code == 200 && w.Body.String() == "success"
			switch {
			case w.Code >= 500:
				t.Fatalf("answered %d %q", w.Code, w.Body)
			case success && !opened:
				t.Fatalf("answered success to a push msgcrypt refuses: %q %q", q.Encode(), body)
			case success && i == 1:
				t.Fatal("answered success twice to one msg_signature")
			case i == 0 && opened && !success:
				t.Fatalf("refused a genuine push: %d %q", w.Code, w.Body)
			}
		}
	})
}
