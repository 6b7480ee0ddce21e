package cli

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/msgcrypt"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestWechatMockPlaysAThirdPartyPlatform: with the platform flags,
// wechat-mock pushes encrypted tickets to --push-url every --push-every, and
// api_component_token accepts the pushed ticket; the summary names the
// platform; platform flags without --component and bad specs are refused.
func TestWechatMockPlaysAThirdPartyPlatform(t *testing.T) {
	key, err := msgcrypt.ParseKey(wechattest.DefaultComponentAESKey)
	if err != nil {
		t.Fatal(err)
	}
	rx := msgcrypt.Receiver{AppID: wechattest.DefaultComponentAppID, Token: wechattest.DefaultComponentToken, Key: key}
	var mu sync.Mutex
	var tickets []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		msg, _, err := rx.Open(msgcrypt.Query{MsgSignature: q.Get("msg_signature"), Timestamp: q.Get("timestamp"), Nonce: q.Get("nonce")}, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		ev, err := msgcrypt.ParseEvent(msg)
		if err != nil || ev.InfoType != msgcrypt.InfoTicket {
			http.Error(w, "not a ticket", http.StatusBadRequest)
			return
		}
		mu.Lock()
		tickets = append(tickets, ev.ComponentVerifyTicket)
		mu.Unlock()
		io.WriteString(w, "success")
	}))
	defer recv.Close()

	spec := strings.Join([]string{wechattest.DefaultComponentAppID, wechattest.DefaultComponentSecret,
		wechattest.DefaultComponentToken, wechattest.DefaultComponentAESKey}, ":")
	base, out, stop := startMock(t, "--component", spec, "--authorizer", "wxmerchanta000001",
		"--component-domain", "wx.vendor.example", "--push-url", recv.URL, "--push-every", "50ms")
	defer stop()
	var ticket string
	for deadline := time.Now().Add(10 * time.Second); ticket == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no ticket pushed within 10 s")
		}
		mu.Lock()
		if len(tickets) > 0 {
			ticket = tickets[len(tickets)-1]
		}
		mu.Unlock()
	}
	cl, err := wechat.New(wechat.Config{AppID: wechattest.DefaultComponentAppID, AppSecret: wechattest.DefaultComponentSecret, APIBase: base})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := cl.ComponentAccessToken(context.Background(), ticket); err != nil || tok.AccessToken == "" {
		t.Fatalf("api_component_token with the pushed ticket: %v", err)
	}
	for _, want := range []string{wechattest.DefaultComponentAppID, "wxmerchanta000001", "wx.vendor.example", recv.URL} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--authorizer", "wx1"}, "add --component"},
		{[]string{"--component", "wx1:secret:token"}, "APPID:SECRET:TOKEN:ENCODINGAESKEY"},
		{[]string{"--component", "wx1:secret:token:short"}, "43 characters"},
		{[]string{"--component", spec, "--component-domain", "a.example", "--component-domain", "b.example",
			"--component-domain", "c.example", "--component-domain", "d.example"}, "at most 3"},
	} {
		err := runMock(context.Background(), append([]string{"--listen", "127.0.0.1:0"}, c.args...), io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
