package wechatauth_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// Directives after wechat_auth may edit the identity headers: Caddy's
// request_header and header directives replace a value in place
// (hdr[field][i] = …) and append to a field's slice. Each edit must stay in
// its own request or answer: not reach the next request of the session,
// another session, or a request running at the same time (go test -race).

// headerEditsSite edits every identity header a follower's snsapi_base
// session forwards, after wechat_auth in the Caddyfile's directive order.
const headerEditsSite = `%[1]s
	request_header X-WeChat-Scope "_" "__"
	request_header X-WeChat-Source "m" "mm"
	request_header X-WeChat-Subscribed "1" "11"
	request_header +X-WeChat-OpenID appended
	reverse_proxy %[2]s`

// editedOnce says what is wrong with the identity headers one upstream
// request got ("" if nothing): each must be edited exactly once.
// subscribed is the edited X-WeChat-Subscribed ("11" for a follower, "0"
// for anyone else).
func editedOnce(r *http.Request, openID, subscribed string) string {
	var wrong []string
	if got := r.Header.Values("X-WeChat-OpenID"); !reflect.DeepEqual(got, []string{openID, "appended"}) {
		wrong = append(wrong, fmt.Sprintf("X-WeChat-OpenID = %.80q, want [%s appended]", got, openID))
	}
	for _, name := range []string{"X-WeChat-Scope", "X-WeChat-Source", "X-WeChat-Subscribed"} {
		want := map[string]string{"X-WeChat-Scope": "snsapi__base", "X-WeChat-Source": "mmp", "X-WeChat-Subscribed": subscribed}[name]
		if got := r.Header.Values(name); !reflect.DeepEqual(got, []string{want}) {
			wrong = append(wrong, fmt.Sprintf("%s = %.80q, want [%s]", name, got, want))
		}
	}
	return strings.Join(wrong, "; ")
}

func checkEditedOnce(t *testing.T, what string, r *http.Request, openID, subscribed string) {
	t.Helper()
	if wrong := editedOnce(r, openID, subscribed); wrong != "" {
		t.Errorf("%s: %s", what, wrong)
	}
}

// TestRequestHeaderEditsStayInTheirRequest: request_header after
// wechat_auth edits the identity headers of one request only. Before the
// values were per request, they were the session's memoized slices (and
// package-wide ones for Source and Subscribed), so the scope grew an "_" on
// every request of the session and every later session's Source an "m".
func TestRequestHeaderEditsStayInTheirRequest(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "subscriber_info", site: headerEditsSite})
	alice, bob := newBrowser("alice"), newBrowser("bob") // alice follows the account, bob does not
	aliceID, bobID := g.sim.OpenID(testAppID, "alice"), g.sim.OpenID(testAppID, "bob")
	checkEditedOnce(t, "alice's login", g.login(t, alice, "/start"), aliceID, "11")
	for i := 1; i <= 5; i++ {
		if resp, body := alice.get(t, g.URL+"/page"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %.200s", i, resp.StatusCode, body)
		}
		checkEditedOnce(t, fmt.Sprintf("alice's request %d", i), g.up.last(t), aliceID, "11")
	}
	checkEditedOnce(t, "bob's login", g.login(t, bob, "/start"), bobID, "0")
	checkEditedOnce(t, "bob's next request", g.login(t, bob, "/next"), bobID, "0")
}

// TestConcurrentRequestsOfOneSessionEditTheirOwnHeaders: concurrent
// requests of one session, each edited by request_header, each see their own
// edit once; under go test -race, shared values were a data race (and the
// compounding edits soon made headers too large: 431).
func TestConcurrentRequestsOfOneSessionEditTheirOwnHeaders(t *testing.T) {
	g := startGateway(t, gatewayConfig{settings: "subscriber_info", site: headerEditsSite})
	alice := newBrowser("alice")
	aliceID := g.sim.OpenID(testAppID, "alice")
	checkEditedOnce(t, "alice's login", g.login(t, alice, "/start"), aliceID, "11")
	before := g.up.count()
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				resp, err := alice.Client.Get(g.URL + "/concurrent")
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("concurrent request: %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	g.up.mu.Lock()
	got := append([]*http.Request(nil), g.up.reqs[before:]...)
	g.up.mu.Unlock()
	if len(got) != workers*each {
		t.Errorf("the upstream got %d concurrent requests, want %d", len(got), workers*each)
	}
	bad, first := 0, ""
	for _, r := range got {
		if wrong := editedOnce(r, aliceID, "11"); wrong != "" {
			if bad++; first == "" {
				first = wrong
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d concurrent requests were not edited exactly once; the first: %s", bad, len(got), first)
	}
}

// TestHeaderEditsOfTheAuthAnswerStayInTheirAnswer: a header directive
// rewriting the forward-auth answer (empty values filled in) edits that
// answer only. Before, the empty values were one package-wide slice, so
// filling one header's emptiness filled every empty header of every later
// answer.
func TestHeaderEditsOfTheAuthAnswerStayInTheirAnswer(t *testing.T) {
	g := startGateway(t, gatewayConfig{global: trustLoopback, site: forwardAuthSite(
		`header >X-WeChat-UnionID "^$" "none"`,
		`header >X-WeChat-Scope "_" "__"`)})
	alice := newBrowser("alice")
	g.login(t, alice, "/x")
	for i := 0; i < 3; i++ {
		resp, _ := authRequest(t, g, alice, "/x", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/auth_request %d: %d", i, resp.StatusCode)
		}
		for name, want := range map[string]string{"X-WeChat-UnionID": "none", "X-WeChat-Scope": "snsapi__base", "X-WeChat-Nickname": "", "X-WeChat-Avatar": ""} {
			if got := resp.Header.Values(name); !reflect.DeepEqual(got, []string{want}) {
				t.Errorf("answer %d: %s = %q, want [%q]", i, name, got, want)
			}
		}
	}
}
