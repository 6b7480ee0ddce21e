package wechattest_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	wxutil "github.com/silenceper/wechat/v2/util"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/msgcrypt"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

const (
	compAppID  = wechattest.DefaultComponentAppID
	compSecret = wechattest.DefaultComponentSecret
	compToken  = wechattest.DefaultComponentToken
	compAESKey = wechattest.DefaultComponentAESKey
	merchantA  = "wxmerchanta000001"
	merchantB  = "wxmerchantb000001"
)

// receiver is a platform's 授权事件接收URL built on wechat/msgcrypt: it
// keeps every event it accepted and answers "success" only to those.
type receiver struct {
	mu     sync.Mutex
	events []*msgcrypt.Event
	rx     *msgcrypt.Receiver
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	key, err := msgcrypt.ParseKey(compAESKey)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{rx: &msgcrypt.Receiver{AppID: compAppID, Token: compToken, Key: key}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		msg, _, err := rc.rx.Open(msgcrypt.Query{MsgSignature: q.Get("msg_signature"), Timestamp: q.Get("timestamp"), Nonce: q.Get("nonce")}, r.Body)
		if err != nil {
			http.Error(w, "refused", http.StatusBadRequest)
			return
		}
		e, err := msgcrypt.ParseEvent(msg)
		if err != nil {
			http.Error(w, "refused", http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.events = append(rc.events, e)
		rc.mu.Unlock()
		io.WriteString(w, "success")
	}))
	t.Cleanup(srv.Close)
	return rc, srv
}

func (rc *receiver) all() []*msgcrypt.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*msgcrypt.Event(nil), rc.events...)
}

func newPlatform(t *testing.T, c wechattest.Component, opts ...wechattest.Option) (*wechattest.Server, *wechat.Client) {
	t.Helper()
	c.AppID, c.Secret, c.Token, c.EncodingAESKey = compAppID, compSecret, compToken, compAESKey
	if c.Authorizers == nil {
		c.Authorizers = []string{merchantA}
	}
	sim := wechattest.NewServer(append([]wechattest.Option{wechattest.WithComponent(c), wechattest.WithAnyBrowser(),
		wechattest.WithApp(merchantB, "merchantbsecret0000000000000000b")}, opts...)...)
	t.Cleanup(sim.Close)
	cl, err := wechat.New(wechat.Config{AppID: compAppID, AppSecret: compSecret, APIBase: sim.URL, OpenBase: sim.URL})
	if err != nil {
		t.Fatal(err)
	}
	return sim, cl
}

// authorizeOnce opens an authorize URL as user and returns the redirect
// (or the simulator's error code).
func authorizeOnce(t *testing.T, rawURL, user, consent string) (*url.URL, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", strings.Replace(rawURL, "#wechat_redirect", "", 1), nil)
	req.Header.Set(wechattest.UserHeader, user)
	if consent != "" {
		req.Header.Set(wechattest.ConsentHeader, consent)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if e := resp.Header.Get("X-WeChat-Mock-Error"); e != "" {
		return nil, e
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d, want a redirect", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u, ""
}

// The whole platform flow with the client and the receiver: ticket push →
// component token → authorize with component_appid (silent and consent) →
// component code exchange → sns/userinfo → component refresh.
func TestComponentFlow(t *testing.T) {
	rc, recv := newReceiver(t)
	sim, cl := newPlatform(t, wechattest.Component{PushURL: recv.URL, Domains: []string{"wx.vendor.example"}})
	ctx := context.Background()
	ticket, err := sim.PushTicket()
	if err != nil {
		t.Fatal(err)
	}
	ev := rc.all()
	if len(ev) != 1 || ev[0].InfoType != msgcrypt.InfoTicket || ev[0].ComponentVerifyTicket != ticket || ev[0].AppID != compAppID {
		t.Fatalf("receiver got %+v", ev)
	}
	ct, err := cl.ComponentAccessToken(ctx, ev[0].ComponentVerifyTicket)
	if err != nil || ct.ExpiresIn != 7200 {
		t.Fatalf("ComponentAccessToken = %+v, %v", ct, err)
	}
	cb := "https://" + merchantA + ".wx.vendor.example/_wechat/callback"
	au := cl.ComponentAuthorizeURL(merchantA, cb, wechat.ScopeUserInfo, "st")
	want := sim.URL + "/connect/oauth2/authorize?appid=" + merchantA + "&redirect_uri=" + url.QueryEscape(cb) +
		"&response_type=code&scope=snsapi_userinfo&state=st&component_appid=" + compAppID + "#wechat_redirect"
	if au != want {
		t.Fatalf("ComponentAuthorizeURL =\n%s\nwant\n%s", au, want)
	}
	loc, code := authorizeOnce(t, au, "alice", "allow")
	if code != "" || loc.Query().Get("appid") != merchantA || loc.Query().Get("state") != "st" {
		t.Fatalf("callback %v (error %s), want code, state and appid", loc, code)
	}
	// A code the platform asked for is not the account's own: plain
	// sns/oauth2/access_token with the account's secret does not know it.
	bCode := sim.IssueComponentCode(merchantB, compAppID, "alice", wechat.ScopeBase)
	if _, err := mustClient(t, sim, merchantB).ExchangeCode(ctx, bCode); wechat.Code(err) != 40029 {
		t.Fatalf("a platform's code redeemed through plain sns/oauth2/access_token: %v", err)
	}
	tok, err := cl.ComponentExchangeCode(ctx, merchantA, loc.Query().Get("code"), ct.AccessToken)
	if err != nil || tok.OpenID != sim.OpenID(merchantA, "alice") || tok.Scope != "snsapi_userinfo" {
		t.Fatalf("ComponentExchangeCode = %+v, %v", tok, err)
	}
	ui, err := cl.UserInfo(ctx, tok.AccessToken, tok.OpenID, "")
	if err != nil || ui.Nickname != "张三" {
		t.Fatalf("UserInfo with a component web token = %+v, %v", ui, err)
	}
	// A second redemption fails, and the error names neither the code nor the component token.
	_, err = cl.ComponentExchangeCode(ctx, merchantA, loc.Query().Get("code"), ct.AccessToken)
	if !wechat.IsCodeUsed(err) || strings.Contains(err.Error(), loc.Query().Get("code")) || strings.Contains(err.Error(), ct.AccessToken) {
		t.Fatalf("second redemption: %v", err)
	}
	rt, err := cl.ComponentRefreshToken(ctx, merchantA, tok.RefreshToken, ct.AccessToken)
	if err != nil || rt.OpenID != tok.OpenID || rt.AccessToken == tok.AccessToken {
		t.Fatalf("ComponentRefreshToken = %+v, %v", rt, err)
	}
	// Silent: base scope needs no consent.
	loc, code = authorizeOnce(t, cl.ComponentAuthorizeURL(merchantA, cb, wechat.ScopeBase, "s2"), "bob", "")
	if code != "" || loc.Query().Get("code") == "" {
		t.Fatalf("silent authorize: %v %s", loc, code)
	}
	if _, err := cl.ComponentExchangeCode(ctx, merchantA, loc.Query().Get("code"), "bogus"); wechat.Code(err) != 40001 {
		t.Fatalf("unknown component token: %v", err)
	}
}

func mustClient(t *testing.T, sim *wechattest.Server, appID string) *wechat.Client {
	c, err := wechat.New(wechat.Config{AppID: appID, AppSecret: "merchantbsecret0000000000000000b", APIBase: sim.URL, OpenBase: sim.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// redirect_uri must lie on the platform's 公众号开发域名 or on
// <authorizer AppID>.<that domain>; anything else is 10003.
func TestComponentDomainRule(t *testing.T) {
	sim, cl := newPlatform(t, wechattest.Component{Domains: []string{"wx.vendor.example"}})
	if sum := sim.Summary("http://sim"); !strings.Contains(sum, "Third-party platform "+compAppID) || !strings.Contains(sum, "wx.vendor.example and <authorizer AppID>.") {
		t.Errorf("Summary does not describe the platform:\n%s", sum)
	}
	for _, tc := range []struct {
		cb   string
		want string
	}{
		{"https://wx.vendor.example/cb", ""},
		{"https://" + merchantA + ".wx.vendor.example/cb", ""},
		{"https://" + merchantB + ".wx.vendor.example/cb", "10003"},
		{"https://other.wx.vendor.example/cb", "10003"},
		{"https://x." + merchantA + ".wx.vendor.example/cb", "10003"},
		{"https://wx.vendor.example:8443/cb", "10003"},
		{"https://localhost/cb", "10003"},
	} {
		_, code := authorizeOnce(t, cl.ComponentAuthorizeURL(merchantA, tc.cb, wechat.ScopeBase, "s"), "alice", "")
		if code != tc.want {
			t.Errorf("%s: error %q, want %q", tc.cb, code, tc.want)
		}
	}
}

// Authorization events reach the receiver; an account that has not (or no
// longer) authorized the platform gets 10015 on the authorize page and 61003
// from the code exchange.
func TestComponentAuthorizationEvents(t *testing.T) {
	rc, recv := newReceiver(t)
	sim, cl := newPlatform(t, wechattest.Component{PushURL: recv.URL})
	ctx := context.Background()
	cb := "http://127.0.0.1/cb"
	if _, code := authorizeOnce(t, cl.ComponentAuthorizeURL(merchantB, cb, wechat.ScopeBase, "s"), "alice", ""); code != "10015" {
		t.Fatalf("unauthorized account: error %q, want 10015", code)
	}
	if err := sim.AuthorizeAccount(merchantB); err != nil {
		t.Fatal(err)
	}
	if err := sim.AuthorizeAccount(merchantB); err != nil {
		t.Fatal(err)
	}
	if _, code := authorizeOnce(t, cl.ComponentAuthorizeURL(merchantB, cb, wechat.ScopeBase, "s"), "alice", ""); code != "" {
		t.Fatalf("authorized account: error %q", code)
	}
	code := sim.IssueComponentCode(merchantB, compAppID, "alice", wechat.ScopeBase)
	ticket, _ := sim.PushTicket()
	ct, err := cl.ComponentAccessToken(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.UnauthorizeAccount(merchantB); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ComponentExchangeCode(ctx, merchantB, code, ct.AccessToken); wechat.Code(err) != 61003 {
		t.Fatalf("exchange after unauthorized: %v, want 61003", err)
	}
	var kinds []string
	for _, e := range rc.all() {
		kinds = append(kinds, e.InfoType+":"+e.AuthorizerAppid)
		if e.InfoType == msgcrypt.InfoAuthorized && (e.AuthorizationCode == "" || e.AuthorizationCodeExpiredTime == 0 || e.PreAuthCode == "") {
			t.Errorf("authorized event lacks fields: %+v", e)
		}
	}
	want := "authorized:" + merchantB + " updateauthorized:" + merchantB + " component_verify_ticket: unauthorized:" + merchantB
	if strings.Join(kinds, " ") != want {
		t.Fatalf("events %q, want %q", strings.Join(kinds, " "), want)
	}
}

// api_component_token's errcodes, each with a hint that names the fix and
// an error text without the ticket or secret.
func TestComponentTokenErrors(t *testing.T) {
	sim, cl := newPlatform(t, wechattest.Component{})
	ctx := context.Background()
	_, err := cl.ComponentAccessToken(ctx, "ticket@@@forged")
	if wechat.Code(err) != 61006 || !wechat.IsTicketRejected(err) || strings.Contains(err.Error(), "forged") || !strings.Contains(err.Error(), "授权事件接收URL") {
		t.Fatalf("unknown ticket: %v", err)
	}
	ticket, _ := sim.PushTicket()
	sim.ExpireVerifyTickets()
	_, err = cl.ComponentAccessToken(ctx, ticket)
	if wechat.Code(err) != 61005 || strings.Contains(err.Error(), ticket) || strings.Contains(err.Error(), compSecret) {
		t.Fatalf("expired ticket: %v", err)
	}
	if _, err := cl.ComponentAccessToken(ctx, ""); err == nil || !strings.Contains(err.Error(), "授权事件接收URL") {
		t.Fatalf("no ticket: %v", err)
	}
	sim2, cl2 := newPlatform(t, wechattest.Component{AllowedIPs: []string{"203.0.113.9"}})
	ticket, _ = sim2.PushTicket()
	_, err = cl2.ComponentAccessToken(ctx, ticket)
	if wechat.Code(err) != 61004 || !wechat.IsConfig(err) || !strings.Contains(err.Error(), "第三方平台") {
		t.Fatalf("IP not whitelisted: %v", err)
	}
}

// Tickets also arrive on a period, as WeChat pushes every 10 minutes.
func TestComponentPeriodicPush(t *testing.T) {
	rc, recv := newReceiver(t)
	newPlatform(t, wechattest.Component{PushURL: recv.URL, PushEvery: 10 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.all()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d pushes arrived, want at least 2", len(rc.all()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Interop with an implementation nobody here wrote (silenceper/wechat's
// util): it decrypts the simulator's pushes and checks their msg_signature;
// a reply it encrypts opens with wechat/msgcrypt.
func TestComponentPushInterop(t *testing.T) {
	type envelope struct {
		AppID   string `xml:"AppId"`
		Encrypt string `xml:"Encrypt"`
	}
	var mu sync.Mutex
	var got []string
	var replies [][]byte
	var rq []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env envelope
		q := r.URL.Query()
		if xml.Unmarshal(body, &env) != nil || env.AppID != compAppID ||
			wxutil.Signature(compToken, q.Get("timestamp"), q.Get("nonce"), env.Encrypt) != q.Get("msg_signature") ||
			wxutil.Signature(compToken, q.Get("timestamp"), q.Get("nonce")) != q.Get("signature") || q.Get("encrypt_type") != "aes" {
			http.Error(w, "bad envelope or signature", 400)
			return
		}
		_, msg, err := wxutil.DecryptMsg(compAppID, env.Encrypt, compAESKey)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		reply, err := wxutil.EncryptMsg([]byte("0123456789abcdef"), []byte("<xml><Reply>ok</Reply></xml>"), compAppID, compAESKey)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		mu.Lock()
		got = append(got, string(msg))
		replies = append(replies, reply)
		rq = append(rq, q)
		mu.Unlock()
		io.WriteString(w, "success")
	}))
	defer srv.Close()
	sim, _ := newPlatform(t, wechattest.Component{PushURL: srv.URL})
	ticket, err := sim.PushTicket()
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.UnauthorizeAccount(merchantA); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !strings.Contains(got[0], "<ComponentVerifyTicket><![CDATA["+ticket+"]]>") ||
		!strings.Contains(got[1], "<InfoType><![CDATA[unauthorized]]></InfoType>") {
		t.Fatalf("silenceper decrypted %q", got)
	}
	// Their ciphertext, signed with their signature code, opens with ours.
	key, _ := msgcrypt.ParseKey(compAESKey)
	rx := &msgcrypt.Receiver{AppID: compAppID, Token: compToken, Key: key}
	ts, nonce := rq[0].Get("timestamp"), rq[0].Get("nonce")
	body := []byte("<xml><AppId><![CDATA[" + compAppID + "]]></AppId><Encrypt><![CDATA[" + string(replies[0]) + "]]></Encrypt></xml>")
	msg, _, err := rx.Open(msgcrypt.Query{MsgSignature: wxutil.Signature(compToken, ts, nonce, string(replies[0])), Timestamp: ts, Nonce: nonce}, bytes.NewReader(body))
	if err != nil || string(msg) != "<xml><Reply>ok</Reply></xml>" {
		t.Fatalf("msgcrypt opened silenceper's reply as %q, %v", msg, err)
	}
	if _, _, err := rx.Open(msgcrypt.Query{MsgSignature: strings.Repeat("a", 40), Timestamp: ts, Nonce: nonce}, bytes.NewReader(body)); !errors.Is(err, msgcrypt.ErrSignature) {
		t.Fatalf("tampered signature: %v", err)
	}
}
