package wechatauth_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

func TestHostileInputsGetBoundedClearAnswers(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	b := newBrowser("alice")
	g.login(t, b, "/x")
	manyHeaders := http.Header{}
	for i := 0; i < 10000; i++ {
		manyHeaders[fmt.Sprintf("X-Filler-%d", i)] = []string{"v"}
	}
	cases := []struct {
		name   string
		path   string
		header http.Header
	}{
		{"huge query", "/x?q=" + strings.Repeat("a", 200000), nil},
		{"long path", "/" + strings.Repeat("p", 8000), nil},
		{"NUL in state", "/wechat_auth/callback?code=abc&state=" + strings.Repeat("a", 31) + "%00", nil},
		{"NUL in code", "/wechat_auth/callback?code=a%00b&state=abc", nil},
		{"huge code", "/wechat_auth/callback?code=" + strings.Repeat("c", 5000) + "&state=" + strings.Repeat("a", 32), nil},
		{"10,000 headers", "/x", manyHeaders},
		{"unknown endpoint", "/wechat_auth/%2e%2e/admin", nil},
		{"non-UTF-8 rd", "/wechat_auth/logout?rd=%ff%fe%00", nil}, // last: it ends the session
	}
	b.StopAt = "127.0.0.1" // answers only: follow no redirect
	for _, c := range cases {
		start := time.Now()
		resp, body := b.do(t, "GET", g.URL+c.path, c.header)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v", c.name, d)
		}
		if resp.StatusCode >= 500 || strings.Contains(body, "goroutine ") || strings.Contains(body, "panic") {
			t.Errorf("%s: %d %.200s", c.name, resp.StatusCode, body)
		}
	}
	if n := g.sim.CallCount(exchangePath); n != 1 {
		t.Errorf("hostile callbacks redeemed %d extra codes", n-1)
	}
}

func TestHangingWeChatGivesBoundedErrorPageAndLeaksNoGoroutine(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	b := newBrowser("alice")
	g.login(t, b, "/warm")  // warm connection pools before counting
	b = newBrowser("alice") // a visitor without a session
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()

	g.sim.Fail(exchangePath, 1, wechattest.FaultHang)
	start := time.Now()
	resp, body := b.get(t, g.URL+"/page")
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "重试") {
		t.Fatalf("hanging WeChat: %d %.300s", resp.StatusCode, body)
	}
	if elapsed > 16*time.Second {
		t.Fatalf("the visitor waited %v for a hanging WeChat", elapsed)
	}
	t.Logf("a hanging code exchange was cut off after %v", elapsed.Round(time.Millisecond))

	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+3 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// TestConcurrentLoginsBrowsingLogoutsAndKeyRotation runs hundreds of
// visitors logging in, browsing and logging out while the config is
// reloaded with rotated keys (new pair first, old pair kept), under -race:
// no data race, no failure, and nobody ever sees another visitor's identity.
func TestConcurrentLoginsBrowsingLogoutsAndKeyRotation(t *testing.T) {
	const visitors = 150
	opts := []wechattest.Option{wechattest.WithApp(testAppID, wechattest.DefaultAppSecret)}
	for i := 0; i < visitors; i++ {
		opts = append(opts, wechattest.WithUser(wechattest.User{Name: fmt.Sprintf("v%03d", i), Nickname: fmt.Sprintf("访客%d", i)}))
	}
	sim := wechattest.NewServer(opts...)
	t.Cleanup(sim.Close)
	os.Setenv("TEST_NEW_HASH_KEY", base64.StdEncoding.EncodeToString([]byte("NEWNEWNEWNEWNEWNEWNEWNEWNEWNEW32")))
	os.Setenv("TEST_NEW_BLOCK_KEY", base64.StdEncoding.EncodeToString([]byte("new-block-key-of-thirty-two-byte")))
	g := startGateway(t, gatewayConfig{sim: sim})
	port := strings.TrimPrefix(g.URL, "http://127.0.0.1:")
	rotated := func(first bool) string {
		keys := "session_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}\n\t\tsession_keys {env.TEST_NEW_HASH_KEY} {env.TEST_NEW_BLOCK_KEY}"
		if first {
			keys = "session_keys {env.TEST_NEW_HASH_KEY} {env.TEST_NEW_BLOCK_KEY}\n\t\tsession_keys {env.TEST_HASH_KEY} {env.TEST_BLOCK_KEY}"
		}
		return fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n}\nhttp://127.0.0.1:%s {\n\twechat_auth {\n\t\tapp_id %s\n\t\tapp_secret {env.TEST_WECHAT_SECRET}\n\t\t%s\n\t\tapi_base %s\n\t\topen_base %s\n\t}\n\treverse_proxy %s\n}\n",
			port, testAppID, keys, sim.URL, sim.URL, strings.TrimPrefix(g.up.URL, "http://"))
	}

	stop := make(chan struct{})
	var reloads atomic.Int64
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(400 * time.Millisecond):
			}
			loadCaddyfile(t, rotated(i%2 == 0))
			reloads.Add(1)
		}
	}()

	var failures, mixups, transportRetries atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < visitors; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("v%03d", i)
			want := "openid=" + sim.OpenID(testAppID, user)
			b := newBrowser(user)
			for round := 0; round < 3; round++ {
				for page := 0; page < 3; page++ {
					// A reload swaps Caddy's servers and closes their
					// connections; a browser retries such a GET, so do we,
					// for up to 60 s (a loaded 2-core machine under -race
					// can take seconds to finish a reload). HTTP-level
					// errors are never retried.
					var resp *http.Response
					var err error
					for try, giveUp := 0, time.Now().Add(60*time.Second); ; try++ {
						if resp, err = b.Client.Get(fmt.Sprintf("%s/p/%s/%d", g.URL, user, page)); err == nil || time.Now().After(giveUp) {
							break
						}
						transportRetries.Add(1)
						time.Sleep(time.Duration(20*min(try+1, 10)) * time.Millisecond)
					}
					if err != nil {
						failures.Add(1)
						t.Logf("%s: %v", user, err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failures.Add(1)
						t.Logf("%s: %d %.200s", user, resp.StatusCode, body)
						return
					}
					if !strings.HasSuffix(string(body), want) {
						mixups.Add(1)
						t.Logf("%s saw %q", user, body)
					}
				}
				if resp, err := b.Client.Get(g.URL + "/wechat_auth/logout"); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-reloaded
	t.Logf("%d visitors × 3 logins × 3 pages during %d config reloads: %d failures, %d mix-ups, %d transport retries", visitors, reloads.Load(), failures.Load(), mixups.Load(), transportRetries.Load())
	if mixups.Load() != 0 || failures.Load() != 0 {
		t.Fatalf("%d failures, %d identity mix-ups", failures.Load(), mixups.Load())
	}
	if reloads.Load() == 0 {
		t.Fatal("no reload happened during the run")
	}
}
