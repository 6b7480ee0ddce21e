package wechat_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// forceRefresh calls stable_token with force_refresh as another process would.
func forceRefresh(t *testing.T, base string) string {
	t.Helper()
	body := `{"grant_type":"client_credential","appid":"` + wechattest.DefaultAppID + `","secret":"` + wechattest.DefaultAppSecret + `","force_refresh":true}`
	resp, err := http.Post(base+"/cgi-bin/stable_token", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || res.AccessToken == "" {
		t.Fatalf("force_refresh: %v %+v", err, res)
	}
	return res.AccessToken
}

func TestConcurrentBasicTokenCallersShareOneFetch(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	// Latency makes sure the callers really overlap the fetch.
	e.srv.Fail("/cgi-bin/stable_token", 1, wechattest.Fault{Delay: 100 * time.Millisecond})
	const n = 50
	var wg sync.WaitGroup
	tokens := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { tokens[i], errs[i] = e.c.BasicToken(context.Background()) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || tokens[i] != tokens[0] || tokens[0] == "" {
			t.Fatalf("caller %d: %q, %v; want the same token as caller 0 (%q)", i, tokens[i], errs[i], tokens[0])
		}
	}
	if got := e.srv.CallCount("/cgi-bin/stable_token"); got != 1 {
		t.Errorf("stable_token calls = %d, want exactly 1", got)
	}
	body := e.srv.Calls()[0].Body
	if !strings.Contains(body, `"force_refresh":false`) || e.srv.Calls()[0].Method != "POST" {
		t.Errorf("stable_token request = %s %s, want POST without force_refresh", e.srv.Calls()[0].Method, body)
	}
}

func TestBasicTokenCallerGivingUpDoesNotFailOthers(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	e.srv.Fail("/cgi-bin/stable_token", 1, wechattest.Fault{Delay: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var patientErr error
	wg.Go(func() { _, patientErr = e.c.BasicToken(context.Background()) })
	if _, err := e.c.BasicToken(ctx); err == nil {
		t.Error("impatient caller: want its deadline error")
	}
	wg.Wait()
	if patientErr != nil {
		t.Errorf("patient caller failed with %v because another caller gave up", patientErr)
	}
}

func TestBasicTokenIsCachedUntilFiveMinutesBeforeExpiry(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	ctx := context.Background()
	first, _ := e.c.BasicToken(ctx)
	e.clock.Advance(7200*time.Second - 5*time.Minute - time.Second)
	if tok, _ := e.c.BasicToken(ctx); tok != first || e.srv.CallCount("/cgi-bin/stable_token") != 1 {
		t.Fatalf("at 1h54m59s: token changed or refetched (%d calls)", e.srv.CallCount("/cgi-bin/stable_token"))
	}
	e.clock.Advance(time.Second)
	second, err := e.c.BasicToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.srv.CallCount("/cgi-bin/stable_token"); got != 2 {
		t.Errorf("at 1h55m: stable_token calls = %d, want 2", got)
	}
	// WeChat renews the stable token in its last 5 minutes, so a new one comes back.
	if second == first {
		t.Errorf("expected stable_token to renew in its last 5 minutes")
	}
}

func TestShortLivedBasicTokenUsesTenPercentMargin(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	e.srv.Fail("/cgi-bin/stable_token", 1, wechattest.Fault{Body: `{"access_token":"SHORT","expires_in":600}`})
	ctx := context.Background()
	if tok, _ := e.c.BasicToken(ctx); tok != "SHORT" {
		t.Fatal("want the injected token")
	}
	e.clock.Advance(539 * time.Second)
	if tok, _ := e.c.BasicToken(ctx); tok != "SHORT" {
		t.Errorf("at 539s of 600 the token should still be cached")
	}
	e.clock.Advance(time.Second)
	if tok, _ := e.c.BasicToken(ctx); tok == "SHORT" {
		t.Errorf("at 540s of 600 (10%% margin) the token should be refetched")
	}
}

func TestInvalidateBasicTokenDropsOnlyTheMatchingToken(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	ctx := context.Background()
	tok, _ := e.c.BasicToken(ctx)
	e.c.InvalidateBasicToken("some-older-token")
	if again, _ := e.c.BasicToken(ctx); again != tok || e.srv.CallCount("/cgi-bin/stable_token") != 1 {
		t.Fatal("a stale token's invalidation evicted the current one")
	}
	e.c.InvalidateBasicToken(tok)
	if _, err := e.c.BasicToken(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.CallCount("/cgi-bin/stable_token"); got != 2 {
		t.Errorf("after invalidation: stable_token calls = %d, want 2", got)
	}
}

func TestStableTokenIsTheSameForEveryCaller(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	other, _ := wechat.New(wechat.Config{AppID: wechattest.DefaultAppID, AppSecret: wechattest.DefaultAppSecret, APIBase: e.srv.URL})
	a, err1 := e.c.BasicToken(context.Background())
	b, err2 := other.BasicToken(context.Background())
	if err1 != nil || err2 != nil || a != b {
		t.Fatalf("replicas got %q and %q (%v %v), want the same token", a, b, err1, err2)
	}
	// force_refresh renews it and invalidates the old one.
	if nt := forceRefresh(t, e.srv.URL); nt == a {
		t.Errorf("force_refresh returned the old token")
	}
}

func TestBasicTokenWithWrongSecretIsAConfigError(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	c, _ := wechat.New(wechat.Config{AppID: wechattest.DefaultAppID, AppSecret: "WRONG", APIBase: e.srv.URL})
	_, err := c.BasicToken(context.Background())
	if wechat.Code(err) != 40125 || !wechat.IsConfig(err) {
		t.Fatalf("err = %v, want 40125 and IsConfig", err)
	}
	if !strings.Contains(err.Error(), "app_secret") {
		t.Errorf("error %q should tell the operator to check app_secret", err)
	}
	assertClean(t, err, "WRONG")
}
