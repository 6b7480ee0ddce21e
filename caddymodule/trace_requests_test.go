//go:build tracerequests

package wechatauth_test

import (
	"net/http"
	"testing"
)

// TestTraceFourRequests makes the four requests docs/architecture.md
// traces, each between two calls of traceMark, for scripts/trace-requests.sh
// (which runs it under dlv trace and counts the files each request crosses).
// It is built only with -tags tracerequests.
func TestTraceFourRequests(t *testing.T) {
	g := startGateway(t, gatewayConfig{})
	b := newBrowser("alice")
	cb := g.callbackURL(t, b, "/bind.php")
	b.StopAt = "/bind.php"
	traceMark("in-WeChat login callback")
	if resp, _ := b.get(t, cb); resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	traceMark("end")
	b.StopAt = ""
	traceMark("first-seen cookie")
	if resp, _ := b.get(t, g.URL+"/bind.php"); resp.StatusCode != http.StatusOK {
		t.Fatalf("first-seen cookie: %d", resp.StatusCode)
	}
	traceMark("end")
	traceMark("forward-auth check")
	if resp, _ := b.get(t, g.URL+"/wechat_auth/auth"); resp.StatusCode != http.StatusOK {
		t.Fatalf("forward-auth: %d", resp.StatusCode)
	}
	traceMark("end")

	e := startRelayEnv(t, relayOptions{})
	bob := e.browser("bob")
	traceMark("relay login")
	if resp, _ := bob.get(t, "http://"+shopHost+"/orders"); resp.StatusCode != http.StatusOK {
		t.Fatalf("relay login: %d", resp.StatusCode)
	}
	traceMark("end")
}

// traceMark is where the trace of one request starts or ends.
//
//go:noinline
func traceMark(name string) { _ = name }
