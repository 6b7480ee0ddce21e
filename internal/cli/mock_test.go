package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startMock runs wechat-mock with args on a free loopback port and returns its base
// URL, its output and a stop function that reports runMock's result.
func startMock(t *testing.T, args ...string) (string, *syncBuffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- runMock(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), out, func(u string) { ready <- u })
	}()
	select {
	case u := <-ready:
		return u, out, func() error { cancel(); return <-errc }
	case err := <-errc:
		cancel()
		t.Fatalf("wechat-mock %v: %v", args, err)
	case <-time.After(5 * time.Second):
		t.Fatal("wechat-mock did not start")
	}
	return "", nil, nil
}

func TestWechatMockIsRegisteredAsCaddyCommand(t *testing.T) {
	cmd, ok := caddycmd.Commands()["wechat-mock"]
	if !ok || cmd.CobraFunc == nil || cmd.Short == "" {
		t.Fatalf("wechat-mock not registered: %+v", cmd)
	}
}

func TestWechatMockDefaultsServeTheDemoAppAndStopCleanly(t *testing.T) {
	base, out, stop := startMock(t)
	resp, err := http.Get(base + "/sns/oauth2/access_token?appid=" + wechattest.DefaultAppID + "&secret=" + wechattest.DefaultAppSecret + "&code=x&grant_type=authorization_code")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), `"errcode":40029`) {
		t.Errorf("unknown code on the mock: %s, want 40029", body.String())
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	s := out.String()
	for _, want := range []string{wechattest.DefaultAppID, wechattest.DefaultAppSecret, "alice", "张三", "localhost", base + "/connect/oauth2/authorize", "Listening on " + base, "stopped"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if _, err := http.Get(base + "/"); err == nil {
		t.Error("server still answers after stop")
	}
}

func TestWechatMockFlagsConfigureAppsUsersDomainsAndBrowser(t *testing.T) {
	base, out, stop := startMock(t, "--app", "wxA:secretA:op", "--app", "wxB:secretB", "--user", "zhao:赵六:follower",
		"--user", "ghost::snapshot", "--domain", "app.example.com", "--any-browser")
	defer stop()
	for _, want := range []string{"wxA", "secretA", "wxB", "赵六", "ghost", "app.example.com"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), wechattest.DefaultAppID) {
		t.Error("the demo app is served although --app was given")
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", base+"/connect/oauth2/authorize?appid=wxA&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&response_type=code&scope=snsapi_base&state=s", nil)
	req.Header.Set("User-Agent", "curl/8") // --any-browser
	req.Header.Set(wechattest.UserHeader, "zhao")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://app.example.com/cb?code=") {
		t.Errorf("authorize → %d %q", resp.StatusCode, loc)
	}
}

func TestWechatMockServesWebsiteAppsOnTheirQRPage(t *testing.T) {
	base, out, stop := startMock(t, "--app", "wxA:secretA:op", "--website-app", "wxW:secretW:op")
	defer stop()
	if !strings.Contains(out.String(), "wxW") || !strings.Contains(out.String(), "website app") {
		t.Errorf("output does not list the website app:\n%s", out)
	}
	desk := wechattest.NewDesktopBrowser()
	page := desk.Get(t, base+"/connect/qrconnect?appid=wxW&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fcb&response_type=code&scope=snsapi_login&state=s")
	if page.ScanURL() == "" {
		t.Fatalf("no QR code for the website app: %s", page.Body)
	}
	if p := desk.Get(t, base+"/connect/qrconnect?appid=wxA&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fcb&response_type=code&scope=snsapi_login&state=s"); p.ScanURL() != "" {
		t.Error("the Official Account got a QR code")
	}
}

func TestWechatMockRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--app", "wxonly"},
		{"--app", "wx:"},
		{"--website-app", "wxweb"},
		{"--website-app", "wxweb:s:op:extra"},
		{"--domain", "http://x"},
		{"--domain", "x:8080"},
		{"--domain", "app.example.com:443"},
		{"--domain", "ftp://app.example.com"},
		{"--domain", "203.0.113.7"},
		{"--user", ":nick"},
		{"--user", "a:b:admin"},
		{"--listen", "256.0.0.1:1"},
		{"--nope"},
	} {
		err := runMock(context.Background(), args, &syncBuffer{}, nil)
		if err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
}

func TestMockUserParsing(t *testing.T) {
	u, err := mockUser("li:李雷:snapshot,follower")
	if err != nil || u.Name != "li" || u.Nickname != "李雷" || !u.Snapshot || !u.Subscribed {
		t.Errorf("mockUser = %+v, %v", u, err)
	}
	u, _ = mockUser("plain")
	if u.Nickname != "plain" || u.Snapshot || u.Subscribed {
		t.Errorf("plain = %+v", u)
	}
}

func TestWechatMockDomainTakesSchemeAndPathAndIsStrict(t *testing.T) {
	base, out, stop := startMock(t, "--domain", "https://app.example.com/mp", "--any-browser")
	defer stop()
	if !strings.Contains(out.String(), "Callback domains: https://app.example.com/mp") {
		t.Errorf("output lacks the domain setting:\n%s", out.String())
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for redirect, want := range map[string]string{
		"https://app.example.com/mp/cb":     "",
		"https://app.example.com:443/mp/cb": "10003",
		"https://app.example.com/other":     "10003",
		"http://app.example.com/mp/cb":      "10039",
	} {
		req, _ := http.NewRequest("GET", base+"/connect/oauth2/authorize?appid="+wechattest.DefaultAppID+"&redirect_uri="+
			url.QueryEscape(redirect)+"&response_type=code&scope=snsapi_base&state=s", nil)
		req.Header.Set(wechattest.UserHeader, "alice")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-WeChat-Mock-Error"); got != want {
			t.Errorf("%s: error page %q, want %q", redirect, got, want)
		}
	}
}

func TestWechatMockPrintsTheRoutesItServes(t *testing.T) {
	base, out, stop := startMock(t)
	defer stop()
	paths := wechattest.New().Paths()
	if len(paths) < 12 {
		t.Fatalf("Paths() = %v", paths)
	}
	for _, p := range paths {
		if !strings.Contains(out.String(), base+p+"\n") {
			t.Errorf("output lacks %s%s", base, p)
		}
	}
}
