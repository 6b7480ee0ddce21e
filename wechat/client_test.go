package wechat_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

var epoch = time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)

// env is a simulator on loopback, a fake clock shared with it, and a client of the default app.
type env struct {
	srv   *wechattest.Server
	clock *wechattest.Clock
	c     *wechat.Client
}

func newEnv(t *testing.T, cfg wechat.Config, opts ...wechattest.Option) *env {
	t.Helper()
	clock := wechattest.NewClock(epoch)
	srv := wechattest.NewServer(append([]wechattest.Option{wechattest.WithClock(clock)}, opts...)...)
	t.Cleanup(srv.Close)
	if cfg.AppID == "" {
		cfg.AppID, cfg.AppSecret = wechattest.DefaultAppID, wechattest.DefaultAppSecret
	}
	cfg.APIBase, cfg.OpenBase, cfg.Now = srv.URL, srv.URL, clock.Now
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = time.Millisecond
	}
	c, err := wechat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, clock: clock, c: c}
}

// webToken runs code exchange for user with scope and returns the token.
func (e *env) webToken(t *testing.T, user, scope string) *wechat.Token {
	t.Helper()
	tok, err := e.c.ExchangeCode(context.Background(), e.srv.IssueCode(e.c.AppID(), user, scope))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// assertClean fails if err's text, or that of anything it wraps, contains a secret.
func assertClean(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got nil")
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		for _, s := range append(secrets, wechattest.DefaultAppSecret) {
			if s != "" && strings.Contains(msg, s) {
				t.Errorf("error text %q contains secret %q", msg, s)
			}
		}
		if strings.Contains(msg, "?") {
			t.Errorf("error text %q looks like it carries a URL query", msg)
		}
	}
}

func TestNewNamesTheFieldToFix(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  wechat.Config
		want string
	}{
		{"no AppID", wechat.Config{AppSecret: "s"}, "AppID is empty"},
		{"blank AppID", wechat.Config{AppID: "  ", AppSecret: "s"}, "AppID is empty"},
		{"no AppSecret", wechat.Config{AppID: "wx1"}, "AppSecret is empty"},
		{"bad APIBase", wechat.Config{AppID: "wx1", AppSecret: "s", APIBase: "api.weixin.qq.com"}, "APIBase"},
		{"bad OpenBase", wechat.Config{AppID: "wx1", AppSecret: "s", OpenBase: "ftp://x"}, "OpenBase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wechat.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New() error = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s\"") {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}
}

func TestNewToleratesTrailingSlashInBaseURLs(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	c, err := wechat.New(wechat.Config{AppID: wechattest.DefaultAppID, AppSecret: wechattest.DefaultAppSecret,
		APIBase: e.srv.URL + "/", OpenBase: e.srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if u := c.AuthorizeURL("http://localhost/cb", wechat.ScopeBase, "s", wechat.AuthorizeOptions{}); !strings.HasPrefix(u, e.srv.URL+"/connect/") {
		t.Errorf("AuthorizeURL = %q, want a single slash after the base", u)
	}
	if _, err := c.BasicToken(context.Background()); err != nil {
		t.Fatalf("BasicToken with a trailing-slash base: %v", err)
	}
	if got := e.srv.CallCount("/cgi-bin/stable_token"); got != 1 {
		t.Errorf("stable_token calls = %d, want 1 (path without a double slash)", got)
	}
}

func TestBusyThenSuccessGivesOneResultAfterTwoCalls(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	tok := e.webToken(t, "alice", wechat.ScopeUserInfo)
	e.srv.Fail("/sns/userinfo", 1, wechattest.FaultBusy)
	u, err := e.c.UserInfo(context.Background(), tok.AccessToken, tok.OpenID, "")
	if err != nil {
		t.Fatalf("UserInfo after one -1: %v", err)
	}
	if u.Nickname != "张三" {
		t.Errorf("nickname = %q", u.Nickname)
	}
	if got := e.srv.CallCount("/sns/userinfo"); got != 2 {
		t.Errorf("userinfo calls = %d, want 2", got)
	}
}

func TestRetriesStopAfterMaxRetries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxRetries int
		wantCalls  int
	}{
		{"default is 2 retries", 0, 3},
		{"explicit 1", 1, 2},
		{"negative disables", -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, wechat.Config{MaxRetries: tc.maxRetries})
			e.srv.Fail("/sns/auth", 10, wechattest.FaultBusy)
			err := e.c.CheckToken(context.Background(), "AT", "OID")
			if !wechat.IsBusy(err) {
				t.Fatalf("err = %v, want busy", err)
			}
			if got := e.srv.CallCount("/sns/auth"); got != tc.wantCalls {
				t.Errorf("calls = %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestServerErrorsAreRetriedForIdempotentCalls(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	e.srv.Fail("/cgi-bin/stable_token", 1, wechattest.Fault{Status: http.StatusBadGateway})
	if _, err := e.c.BasicToken(context.Background()); err != nil {
		t.Fatalf("BasicToken after one 502: %v", err)
	}
	if got := e.srv.CallCount("/cgi-bin/stable_token"); got != 2 {
		t.Errorf("stable_token calls = %d, want 2", got)
	}
}

func TestNonIdempotentCallsAreNeverRetried(t *testing.T) {
	faults := map[string]wechattest.Fault{
		"busy": wechattest.FaultBusy, "502": {Status: http.StatusBadGateway},
		"code used": {ErrCode: 40163}, "quota": wechattest.FaultQuota,
	}
	calls := map[string]struct {
		path string
		call func(*env) error
	}{
		"ExchangeCode": {"/sns/oauth2/access_token", func(e *env) error {
			_, err := e.c.ExchangeCode(context.Background(), "CODE123")
			return err
		}},
		"RefreshToken": {"/sns/oauth2/refresh_token", func(e *env) error {
			_, err := e.c.RefreshToken(context.Background(), "RT123")
			return err
		}},
		"CreateMenu": {"/cgi-bin/menu/create", func(e *env) error {
			return e.c.CreateMenu(context.Background(), &wechat.Menu{Button: []wechat.Button{{Type: "click", Name: "a", Key: "k"}}})
		}},
		"DeleteMenu": {"/cgi-bin/menu/delete", func(e *env) error { return e.c.DeleteMenu(context.Background()) }},
	}
	for cname, c := range calls {
		for fname, f := range faults {
			t.Run(cname+"/"+fname, func(t *testing.T) {
				e := newEnv(t, wechat.Config{MaxRetries: 5})
				e.srv.Fail(c.path, 1, f)
				if err := c.call(e); err == nil {
					t.Fatal("want the fault as error")
				}
				if got := e.srv.CallCount(c.path); got != 1 {
					t.Errorf("calls = %d, want exactly 1", got)
				}
			})
		}
	}
}

func TestOtherErrcodesAreNotRetriedEvenWhenIdempotent(t *testing.T) {
	for _, code := range []int{40163, 45009, 45011, 40014, 48001} {
		e := newEnv(t, wechat.Config{MaxRetries: 5})
		e.srv.Fail("/sns/auth", 1, wechattest.Fault{ErrCode: code})
		err := e.c.CheckToken(context.Background(), "AT", "OID")
		if wechat.Code(err) != code {
			t.Fatalf("err = %v, want errcode %d", err, code)
		}
		if got := e.srv.CallCount("/sns/auth"); got != 1 {
			t.Errorf("errcode %d: calls = %d, want 1", code, got)
		}
	}
}

func TestQuotaErrorIsReportedAsQuota(t *testing.T) {
	e := newEnv(t, wechat.Config{})
	e.srv.Fail("/cgi-bin/stable_token", 1, wechattest.FaultQuota)
	_, err := e.c.BasicToken(context.Background())
	if !wechat.IsQuota(err) || wechat.Code(err) != 45009 {
		t.Fatalf("err = %v, want quota 45009", err)
	}
	if !strings.Contains(err.Error(), "quota") {
		t.Errorf("error %q should say the quota is used up", err)
	}
	assertClean(t, err)
}

func TestResponseBodyOverCapIsAnErrorNotTruncatedJSON(t *testing.T) {
	e := newEnv(t, wechat.Config{MaxBodyBytes: 1024, MaxRetries: -1})
	huge := `{"access_token":"` + strings.Repeat("A", 4096) + `","expires_in":7200}`
	e.srv.Fail("/cgi-bin/stable_token", 1, wechattest.Fault{Body: huge})
	_, err := e.c.BasicToken(context.Background())
	var re *wechat.RequestError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "exceeds 1024 bytes") {
		t.Fatalf("err = %v, want a RequestError saying the body exceeds the cap", err)
	}
	// Default cap is 1 MiB: a 2 MiB body fails too.
	e2 := newEnv(t, wechat.Config{MaxRetries: -1})
	e2.srv.Fail("/cgi-bin/stable_token", 1, wechattest.Fault{Body: `{"x":"` + strings.Repeat("B", 2<<20) + `"}`})
	if _, err := e2.c.BasicToken(context.Background()); err == nil || !strings.Contains(err.Error(), "exceeds 1048576 bytes") {
		t.Fatalf("2 MiB body: err = %v, want the 1 MiB cap", err)
	}
}

func TestMalformedResponsesAreRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault wechattest.Fault
		want  string
	}{
		{"truncated JSON", wechattest.FaultMalformed, "not valid JSON"},
		{"HTML page", wechattest.Fault{Body: "<html>502 Bad Gateway</html>", ContentType: "text/html"}, "not valid JSON"},
		{"empty body", wechattest.Fault{Body: " "}, "not valid JSON"},
		{"wrong types", wechattest.Fault{Body: `{"access_token":42,"expires_in":"soon"}`}, "shape"},
		{"no token", wechattest.Fault{Body: `{}`}, "no access_token"},
		{"HTTP 500", wechattest.Fault{Status: 500}, "HTTP status 500"},
		{"HTTP 404", wechattest.Fault{Status: 404}, "HTTP status 404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, wechat.Config{MaxRetries: -1})
			e.srv.Fail("/cgi-bin/stable_token", 1, tc.fault)
			_, err := e.c.BasicToken(context.Background())
			var re *wechat.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *RequestError", err, err)
			}
			if re.Op != "/cgi-bin/stable_token" || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q (Op %q), want it to mention %q", err, re.Op, tc.want)
			}
			if tc.fault.Status != 0 && re.Status != tc.fault.Status {
				t.Errorf("Status = %d, want %d", re.Status, tc.fault.Status)
			}
			assertClean(t, err)
		})
	}
}

func TestDeadlineBoundsAHangingSimulatorWithoutLeakingGoroutines(t *testing.T) {
	e := newEnv(t, wechat.Config{Timeout: 150 * time.Millisecond, MaxRetries: 2})
	before := runtime.NumGoroutine()
	e.srv.Fail("/sns/auth", 3, wechattest.FaultHang)
	start := time.Now()
	err := e.c.CheckToken(context.Background(), "SECRET_AT", "OID")
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 150ms") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	// Three attempts of 150ms plus tiny backoffs; far below a hang.
	if elapsed > 2*time.Second {
		t.Errorf("took %v, want bounded by the per-attempt deadline", elapsed)
	}
	if got := e.srv.CallCount("/sns/auth"); got != 3 {
		t.Errorf("attempts = %d, want 3 (timeouts of idempotent calls are retried)", got)
	}
	assertClean(t, err, "SECRET_AT")
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("goroutines: %d before, %d after; a hanging call leaked", before, n)
	}
}

func TestExchangeCodeTimesOutOnceAndIsNotRetried(t *testing.T) {
	e := newEnv(t, wechat.Config{Timeout: 100 * time.Millisecond, MaxRetries: 3})
	e.srv.Fail("/sns/oauth2/access_token", 5, wechattest.FaultHang)
	_, err := e.c.ExchangeCode(context.Background(), "THECODE")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want timeout", err)
	}
	if got := e.srv.CallCount("/sns/oauth2/access_token"); got != 1 {
		t.Errorf("calls = %d, want 1", got)
	}
	assertClean(t, err, "THECODE")
}

func TestCallerCancellationStopsRetries(t *testing.T) {
	e := newEnv(t, wechat.Config{Timeout: 5 * time.Second, MaxRetries: 5})
	e.srv.Fail("/sns/auth", 10, wechattest.FaultHang)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := e.c.CheckToken(ctx, "AT", "OID")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v, want the caller's deadline quickly", err, time.Since(start))
	}
	if got := e.srv.CallCount("/sns/auth"); got != 1 {
		t.Errorf("calls = %d, want 1: no retry once the caller gave up", got)
	}
}

func TestDelayShorterThanTimeoutSucceeds(t *testing.T) {
	e := newEnv(t, wechat.Config{Timeout: 2 * time.Second})
	e.srv.Fail("/cgi-bin/stable_token", 1, wechattest.Fault{Delay: 50 * time.Millisecond})
	if _, err := e.c.BasicToken(context.Background()); err != nil {
		t.Fatalf("BasicToken with 50ms latency: %v", err)
	}
}

func TestNoSecretCodeOrTokenInAnyErrorText(t *testing.T) {
	const code, at, rt = "CODE_S3CRET_VALUE", "AT_S3CRET_VALUE", "RT_S3CRET_VALUE"
	e := newEnv(t, wechat.Config{MaxRetries: -1, Timeout: 200 * time.Millisecond})
	ctx := context.Background()
	var errs []error
	collect := func(_ any, err error) { errs = append(errs, err) }

	// WeChat errors, including ones whose errmsg echoes what we sent.
	collect(e.c.ExchangeCode(ctx, code))
	e.srv.Fail("/sns/oauth2/access_token", 1, wechattest.Fault{Body: `{"errcode":40029,"errmsg":"invalid code ` + code + ` secret ` + wechattest.DefaultAppSecret + `"}`})
	collect(e.c.ExchangeCode(ctx, code))
	collect(e.c.RefreshToken(ctx, rt))
	collect(e.c.UserInfo(ctx, at, "OID", ""))
	errs = append(errs, e.c.CheckToken(ctx, at, "OID"))
	// Transport failures: hang, 5xx, malformed.
	e.srv.Fail("/sns/oauth2/access_token", 1, wechattest.FaultHang)
	collect(e.c.ExchangeCode(ctx, code))
	e.srv.Fail("/sns/userinfo", 1, wechattest.Fault{Status: 503})
	collect(e.c.UserInfo(ctx, at, "OID", ""))
	e.srv.Fail("/sns/userinfo", 1, wechattest.FaultMalformed)
	collect(e.c.UserInfo(ctx, at, "OID", ""))
	// Wrong secret, then a closed server: *url.Error would print the whole URL.
	bad, _ := wechat.New(wechat.Config{AppID: wechattest.DefaultAppID, AppSecret: "WRONG_S3CRET", APIBase: e.srv.URL, MaxRetries: -1})
	collect(bad.ExchangeCode(ctx, code))
	collect(bad.BasicToken(ctx))
	dead := newEnv(t, wechat.Config{MaxRetries: -1})
	dead.srv.Close()
	collect(dead.c.ExchangeCode(ctx, code))
	collect(dead.c.UserInfo(ctx, at, "OID", "en"))
	collect(dead.c.BasicToken(ctx))
	errs = append(errs, dead.c.CheckToken(ctx, at, "OID"))

	for i, err := range errs {
		t.Logf("error %d: %v", i, err)
		assertClean(t, err, code, at, rt, "WRONG_S3CRET")
	}
	if !strings.Contains(errs[len(errs)-1].Error(), "cannot connect") {
		t.Errorf("refused connection reads %q, want it to say it cannot connect", errs[len(errs)-1])
	}
}
