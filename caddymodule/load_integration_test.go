package wechatauth_test

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// TestConcurrentSilentLogins runs many complete silent logins at once
// (authorize → callback → session → protected page), each as its own user,
// and proves none fails and none ends with another visitor's identity.
// LOGIN_LOAD sets the number (make bench uses 1000); the default keeps
// make test quick under -race.
func TestConcurrentSilentLogins(t *testing.T) {
	n := 200
	if v, err := strconv.Atoi(os.Getenv("LOGIN_LOAD")); err == nil && v > 0 {
		n = v
	}
	opts := []wechattest.Option{wechattest.WithApp(testAppID, wechattest.DefaultAppSecret)}
	for i := 0; i < n; i++ {
		opts = append(opts, wechattest.WithUser(wechattest.User{Name: fmt.Sprintf("u%04d", i), Nickname: fmt.Sprintf("用户%d", i)}))
	}
	g := startGateway(t, gatewayConfig{simOpts: opts})

	var failures, mixups atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("u%04d", i)
			b := newBrowser(user)
			resp, err := b.Client.Get(g.URL + "/page/" + user)
			if err != nil {
				failures.Add(1)
				t.Logf("%s: %v", user, err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := "upstream /page/" + user + " openid=" + g.sim.OpenID(testAppID, user)
			switch {
			case resp.StatusCode != 200:
				failures.Add(1)
				t.Logf("%s: status %d: %.200s", user, resp.StatusCode, body)
			case string(body) != want:
				mixups.Add(1)
				t.Logf("%s: got %q, want %q", user, body, want)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d concurrent silent logins in %v: %.0f logins/s, %d failures, %d identity mix-ups",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), failures.Load(), mixups.Load())
	if failures.Load() != 0 || mixups.Load() != 0 {
		t.Fatalf("%d failures, %d mix-ups in %d logins", failures.Load(), mixups.Load(), n)
	}
	if c := g.sim.CallCount(exchangePath); c != n {
		t.Errorf("%d code exchanges for %d logins", c, n)
	}
}
