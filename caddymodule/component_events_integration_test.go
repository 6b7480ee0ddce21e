package wechatauth_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	wechatauth "github.com/wxgate/caddy-wechat-auth/caddymodule"
	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"github.com/wxgate/caddy-wechat-auth/wechat/msgcrypt"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// The third-party platform's 授权事件接收URL in real Caddy, with the
// simulator pushing real encrypted pushes to it over loopback.

const (
	compAppID  = wechattest.DefaultComponentAppID
	compSecret = wechattest.DefaultComponentSecret
	compToken  = wechattest.DefaultComponentToken
	compAESKey = wechattest.DefaultComponentAESKey
	merchantA  = "wxmerchanta000001"
	merchantB  = "wxmerchantb000001"
)

func init() {
	os.Setenv("TEST_COMPONENT_SECRET", compSecret)
	os.Setenv("TEST_COMPONENT_TOKEN", compToken)
	os.Setenv("TEST_COMPONENT_AES_KEY", compAESKey)
}

// componentGlobal is the wechat global option naming the platform, its
// WeChat at apiBase, plus extra lines (store …).
func componentGlobal(apiBase, extra string) string {
	return fmt.Sprintf(`wechat {
		%s
		component {
			app_id %s
			app_secret {env.TEST_COMPONENT_SECRET}
			token {env.TEST_COMPONENT_TOKEN}
			encoding_aes_key {env.TEST_COMPONENT_AES_KEY}
			api_base %s
			open_base %s
		}
	}`, extra, compAppID, apiBase, apiBase)
}

// platformConfig is a Caddyfile of the test platform at apiBase, logging
// to logFile, with the given sites.
func platformConfig(logFile, apiBase, sites string) string {
	return fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	log {
		output file %s
		level DEBUG
	}
	%s
}
%s`, logFile, componentGlobal(apiBase, ""), sites)
}

// platformGateway is Caddy with the receiver at /wechat/component/events
// and the simulator playing the platform's WeChat, pushing there.
type platformGateway struct {
	URL     string
	events  string // the receiver's URL
	sim     *wechattest.Server
	logFile string
	config  string
}

func startPlatformGateway(t *testing.T, c wechattest.Component, opts ...wechattest.Option) *platformGateway {
	t.Helper()
	port := testnet.Port(t)
	g := &platformGateway{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	g.events = g.URL + "/wechat/component/events"
	c.AppID, c.Secret, c.Token, c.EncodingAESKey, c.PushURL = compAppID, compSecret, compToken, compAESKey, g.events
	g.sim = wechattest.NewServer(append([]wechattest.Option{wechattest.WithComponent(c),
		wechattest.WithApp(merchantA, ""), wechattest.WithApp(merchantB, "")}, opts...)...)
	t.Cleanup(g.sim.Close)
	g.logFile = t.TempDir() + "/caddy.log"
	g.config = platformConfig(g.logFile, g.sim.URL, fmt.Sprintf(`http://127.0.0.1:%d {
	wechat_component_events /wechat/component/events
	respond "platform site"
}
`, port))
	loadCaddyfile(t, g.config)
	waitListening(t, port)
	return g
}

// post sends body to the receiver with query q and returns status and answer.
func (g *platformGateway) post(t *testing.T, q url.Values, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(g.events+"?"+q.Encode(), "text/xml", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sealedPush is a push as WeChat makes it, sealed with token and aesKey.
func sealedPush(t *testing.T, token, aesKey, appID, xml string, at time.Time) (url.Values, []byte) {
	t.Helper()
	key, err := msgcrypt.ParseKey(aesKey)
	if err != nil {
		t.Fatal(err)
	}
	rx := msgcrypt.Receiver{AppID: appID, Token: token, Key: key}
	s, err := rx.Seal([]byte(xml), 0, strconv.FormatInt(at.Unix(), 10), strconv.FormatInt(at.UnixNano()%1e9, 10))
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"timestamp": {s.Timestamp}, "nonce": {s.Nonce}, "encrypt_type": {"aes"}, "msg_signature": {s.MsgSignature}}
	return q, s.Body
}

func ticketXML(ticket string, at time.Time) string {
	return fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%d</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[%s]]></ComponentVerifyTicket></xml>",
		compAppID, at.Unix(), ticket)
}

func storedTicket(t *testing.T) string {
	t.Helper()
	tk, err := wechatauth.ComponentTicketForTest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func authorizedNow(t *testing.T, appID string) bool {
	t.Helper()
	ok, err := wechatauth.ComponentAuthorizedForTest(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestComponentReceiverStoresTicketsAndAuthorizations: the simulator's
// ticket push is answered "success" and stored, a component_access_token is
// fetched with it, and authorized / updateauthorized / unauthorized pushes
// maintain the authorized set.
func TestComponentReceiverStoresTicketsAndAuthorizations(t *testing.T) {
	g := startPlatformGateway(t, wechattest.Component{})
	if tk := storedTicket(t); tk != "" {
		t.Fatalf("a ticket before any push: %q", tk)
	}
	if _, err := wechatauth.ComponentAccessTokenForTest(context.Background()); err == nil || !strings.Contains(err.Error(), "授权事件接收URL") {
		t.Fatalf("a token without a ticket: %v, want an error naming the 授权事件接收URL", err)
	}
	ticket, err := g.sim.PushTicket()
	if err != nil {
		t.Fatalf("ticket push: %v", err)
	}
	if got := storedTicket(t); got != ticket {
		t.Fatalf("stored ticket %q, want the pushed %q", got, ticket)
	}
	tok, err := wechatauth.ComponentAccessTokenForTest(context.Background())
	if err != nil || tok == "" {
		t.Fatalf("component_access_token after the push: %q, %v", tok, err)
	}
	if n := g.sim.CallCount("/cgi-bin/component/api_component_token"); n != 1 {
		t.Fatalf("api_component_token called %d times, want 1", n)
	}
	if again, _ := wechatauth.ComponentAccessTokenForTest(context.Background()); again != tok {
		t.Fatal("a second ask fetched another token")
	}

	for _, step := range []struct {
		do   func(string) error
		id   string
		want bool
	}{
		{g.sim.AuthorizeAccount, merchantA, true},
		{g.sim.AuthorizeAccount, merchantA, true}, // updateauthorized
		{g.sim.AuthorizeAccount, merchantB, true},
		{g.sim.UnauthorizeAccount, merchantA, false},
	} {
		if err := step.do(step.id); err != nil {
			t.Fatalf("push for %s: %v", step.id, err)
		}
		if got := authorizedNow(t, step.id); got != step.want {
			t.Fatalf("%s authorized = %v, want %v", step.id, got, step.want)
		}
	}
	if !authorizedNow(t, merchantB) || authorizedNow(t, "wxneverauthorized01") {
		t.Fatal("the authorized set is wrong for the other accounts")
	}
}

func authXML(info, appID string, at time.Time) string {
	return fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%d</CreateTime><InfoType><![CDATA[%s]]></InfoType><AuthorizerAppid><![CDATA[%s]]></AuthorizerAppid></xml>",
		compAppID, at.Unix(), info, appID)
}

// TestComponentReceiverRefusesBadPushesAndLosesNothing: each bad push gets
// its own clear answer and changes nothing stored; a replayed push is
// refused; an older ticket or authorization event arriving late does not
// replace a newer one; no secret reaches the log or the adapted config.
func TestComponentReceiverRefusesBadPushesAndLosesNothing(t *testing.T) {
	g := startPlatformGateway(t, wechattest.Component{})
	now := time.Now()
	good := "ticket@@@good"
	q, body := sealedPush(t, compToken, compAESKey, compAppID, ticketXML(good, now), now)
	if code, ans := g.post(t, q, body); code != 200 || ans != "success" {
		t.Fatalf("a good push: %d %q", code, ans)
	}

	tampered := url.Values{}
	for k, v := range q {
		tampered[k] = v
	}
	sig := []byte(q.Get("msg_signature"))
	sig[0] ^= 1
	tampered.Set("msg_signature", string(sig))
	newer := ticketXML("ticket@@@forged", now.Add(time.Second))
	wrongTokenQ, wrongTokenBody := sealedPush(t, "anothertoken", compAESKey, compAppID, newer, now)
	wrongKeyQ, wrongKeyBody := sealedPush(t, compToken, "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut", compAppID, newer, now)
	otherQ, otherBody := sealedPush(t, compToken, compAESKey, "wxanotherplatform1", newer, now)
	staleQ, staleBody := sealedPush(t, compToken, compAESKey, compAppID, newer, now.Add(-10*time.Minute))
	bigQ, _ := sealedPush(t, compToken, compAESKey, compAppID, newer, now)
	for _, c := range []struct {
		name   string
		q      url.Values
		body   []byte
		status int
		answer string
	}{
		{"tampered msg_signature", tampered, body, 403, "msg_signature does not match"},
		{"another Token", wrongTokenQ, wrongTokenBody, 403, "msg_signature does not match"},
		{"another EncodingAESKey", wrongKeyQ, wrongKeyBody, 403, "the push does not decrypt"},
		{"another platform's push", otherQ, otherBody, 403, "the push is for another platform"},
		{"timestamp 10 minutes old", staleQ, staleBody, 400, "timestamp missing or too old"},
		{"70 KiB body", bigQ, bytes.Repeat([]byte("x"), 70<<10), 413, "push too large"},
		{"not XML", bigQ, []byte("hello"), 400, "not an encrypted WeChat push"},
		{"no query", url.Values{}, body, 400, "timestamp missing or too old"},
		{"replay of the good push", q, body, 409, "push already received"},
	} {
		if code, ans := g.post(t, c.q, c.body); code != c.status || ans != c.answer {
			t.Errorf("%s: %d %q, want %d %q", c.name, code, ans, c.status, c.answer)
		}
		if got := storedTicket(t); got != good {
			t.Fatalf("after %s the stored ticket is %q, want %q", c.name, got, good)
		}
	}
	resp, err := http.Get(g.events)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d Allow %q, want 405 POST", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// Late arrivals: an older ticket, and an older authorized after a
	// newer unauthorized, are accepted (they are genuine) and change nothing.
	oq, ob := sealedPush(t, compToken, compAESKey, compAppID, ticketXML("ticket@@@older", now.Add(-time.Minute)), now)
	if code, ans := g.post(t, oq, ob); code != 200 || ans != "success" {
		t.Fatalf("an older genuine ticket push: %d %q", code, ans)
	}
	if got := storedTicket(t); got != good {
		t.Fatalf("an older ticket replaced the newer one: %q", got)
	}
	uq, ub := sealedPush(t, compToken, compAESKey, compAppID, authXML("unauthorized", merchantA, now), now)
	aq, ab := sealedPush(t, compToken, compAESKey, compAppID, authXML("authorized", merchantA, now.Add(-time.Minute)), now.Add(time.Second))
	for _, p := range []struct {
		q url.Values
		b []byte
	}{{uq, ub}, {aq, ab}} {
		if code, ans := g.post(t, p.q, p.b); code != 200 || ans != "success" {
			t.Fatalf("an authorization push: %d %q", code, ans)
		}
	}
	if authorizedNow(t, merchantA) {
		t.Fatal("an authorized event older than the unauthorized one re-authorized the account")
	}

	logs, _ := os.ReadFile(g.logFile)
	for _, want := range []string{"refused a push whose msg_signature does not match", "no configured key decrypts", "refused a push already received"} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(g.config), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{compSecret, compToken, compAESKey, good} {
		if strings.Contains(string(logs), secret) || strings.Contains(string(adapted), secret) {
			t.Errorf("a secret (%.6s…) reached the log or the adapted config", secret)
		}
	}
}
