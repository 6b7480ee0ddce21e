package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"time"
)

const (
	// wechatUA is the User-Agent of WeChat's in-app browser on an iPhone.
	wechatUA   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323b) NetType/WIFI Language/zh_CN"
	mockUser   = "alice"
	cookieName = "wechat_session"
)

// login signs in as mockUser through Caddy B and the simulator, as a browser
// in WeChat would (B → the simulator's authorize page → B's callback → the
// page), and returns the session cookie every load run sends.
func (l *lab) login(ctx context.Context, via target) (string, error) {
	logf("logging in as %s through Caddy B and the simulator", mockUser)
	jar, _ := cookiejar.New(nil)
	redirects := 0
	client := &http.Client{Jar: jar, Timeout: noRedirects.Timeout,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			redirects = len(via)
			if redirects > 10 {
				return fmt.Errorf("more than 10 redirects")
			}
			return nil
		}}
	page := l.url(via) + "bench/landing?from=menu"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, page, nil)
	req.Header.Set("User-Agent", wechatUA)
	req.Header.Set("X-WeChat-Mock-User", mockUser)
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	resp.Body.Close()
	if final := resp.Request.URL.String(); resp.StatusCode != 200 || string(body) != "ok" || final != page {
		return "", fmt.Errorf("login did not end at the upstream: status %d after %d redirects at %s, body: %s",
			resp.StatusCode, redirects, final, body)
	}
	if redirects < 2 {
		return "", fmt.Errorf("login ended at the upstream without going through WeChat (%d redirects)", redirects)
	}
	for _, c := range jar.Cookies(resp.Request.URL) {
		if c.Name == cookieName {
			logf("logged in after %d redirects; %s is %d bytes", redirects, cookieName, len(c.Value))
			return c.Value, nil
		}
	}
	return "", fmt.Errorf("no %s cookie after login", cookieName)
}

// checkTargets proves that every target answers 200 with the cookie, and that
// every wechat_auth target refuses without it: wrk counts a 302 as a success,
// so without this check it could be measuring redirects to WeChat.
func (l *lab) checkTargets(ctx context.Context, targets []target, cookie string) error {
	for _, t := range targets {
		if got := l.status(ctx, t, cookie); got != 200 {
			return fmt.Errorf("%s (%s) with the session answered %d, want 200", t.label, l.url(t), got)
		}
		if t.caddyfile != protected.caddyfile {
			continue
		}
		if got := l.status(ctx, t, ""); got == 0 || got/100 == 2 {
			return fmt.Errorf("%s (%s) without a session answered %d, want a redirect or a refusal", t.label, l.url(t), got)
		}
	}
	if l.redis != nil {
		// The store's Caddy holds a connection (its revocation subscription);
		// without it the store row would measure a Caddy that ignores Redis.
		if n, err := l.redisClients(); err != nil || n < 2 {
			return fmt.Errorf("no Caddy is connected to redis-server on %s (%d clients besides this check, %v): is the wechat store option applied?", l.redis.addr, n-1, err)
		}
	}
	return nil
}

// redisClients asks the lab's redis-server how many clients are connected,
// this query's own connection included.
func (l *lab) redisClients() (int, error) {
	c, err := net.DialTimeout("tcp", l.redis.addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("INFO clients\r\n")); err != nil {
		return 0, err
	}
	lines := bufio.NewScanner(c)
	for lines.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(lines.Text()), "connected_clients:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("no connected_clients in INFO clients: %v", lines.Err())
}

// status is the status of one request as wrk sends it (without our cookie
// when cookie is ""); 0 when it failed.
func (l *lab) status(ctx context.Context, t target, cookie string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.url(t), nil)
	for _, h := range browserHeaders(cookie) {
		req.Header.Set(h[0], h[1])
	}
	if cookie == "" {
		req.Header.Set("Cookie", siteCookie)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// loginTarget is a Caddy B of the run, at its root, to log in through: every
// Caddy B has the same session keys, so its cookie serves them all. COMPARE
// may leave out the plain protected one (COMPARE=prot+redis).
func loginTarget(ts []target) target {
	for _, t := range ts {
		if t.caddyfile == protected.caddyfile {
			t.path = "/"
			return t
		}
	}
	return protected
}

// siteCookie stands for the protected site's own cookie (its app's session):
// browsers send it after ours, which was set first, at login.
const siteCookie = "sid=8f14e45fceea167a5a36dedd4bea2543"

// browserHeaders are a page request of WeChat's in-app browser on an iPhone:
// what a visitor sends, the same to every target. wechat_auth strips its own
// cookie before the request goes upstream; plain forwards it.
func browserHeaders(cookie string) [][2]string {
	return [][2]string{
		{"User-Agent", wechatUA},
		{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		{"Accept-Language", "zh-CN,zh-Hans;q=0.9"},
		{"Accept-Encoding", "gzip, deflate, br"},
		{"Cookie", cookieName + "=" + cookie + "; " + siteCookie},
	}
}

// wrkHeaders are browserHeaders as wrk's arguments.
func wrkHeaders(cookie string) []string {
	var args []string
	for _, h := range browserHeaders(cookie) {
		args = append(args, "-H", h[0]+": "+h[1])
	}
	return args
}
