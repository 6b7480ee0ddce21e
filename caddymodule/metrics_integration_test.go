package wechatauth_test

import (
	"bufio"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// metricsSite serves Caddy's metrics handler at /metrics in front of the
// gateway, as an operator would (or the admin endpoint's /metrics).
const metricsSite = "route {\n\t\tmetrics /metrics\n\t\t%[1]s\n\t\treverse_proxy %[2]s\n\t}"

// scrape reads /metrics and returns the caddy_wechat_* series (counters and
// histogram counts) by their exposition text, e.g.
// caddy_wechat_logins_started_total{scope="snsapi_base",trigger="page"}.
func (g *gateway) scrape(t *testing.T) (map[string]float64, string) {
	t.Helper()
	resp, err := http.Get(g.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw strings.Builder
	series := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		raw.WriteString(line + "\n")
		if !strings.HasPrefix(line, "caddy_wechat_") || strings.Contains(line, "_bucket{") || strings.Contains(line, "_sum{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	if resp.StatusCode != 200 || len(series) == 0 {
		t.Fatalf("/metrics: %d with %d caddy_wechat_ series:\n%.2000s", resp.StatusCode, len(series), raw.String())
	}
	return series, raw.String()
}

func TestMetricsScrapeMovesByExactlyWhatHappenedAndLeaksNoSecret(t *testing.T) {
	g := startGateway(t, gatewayConfig{site: metricsSite, settings: "jssdk_domains .example.org"})
	before, _ := g.scrape(t)

	// alice signs in silently on a page, then opens two more.
	alice := newBrowser("alice")
	g.login(t, alice, "/a")
	alice.get(t, g.URL+"/b")
	alice.get(t, g.URL+"/c")
	// alice logs out (her session is revoked); her old cookie, replayed on an
	// API request, is refused as revoked.
	aliceCookie := alice.cookie(g.URL, "wechat_session")
	alice.StopAt = "/bye"
	if resp, _ := alice.get(t, g.URL+"/wechat_auth/logout?rd=/bye"); resp.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d, want 302", resp.StatusCode)
	}
	if resp, _ := newBrowser("").do(t, http.MethodGet, g.URL+"/f", http.Header{"Cookie": {"wechat_session=" + aliceCookie}, "Accept": {"application/json"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked cookie replayed: %d, want 401", resp.StatusCode)
	}
	// bob is asked for his profile and declines.
	bob := newBrowser("bob")
	bob.Consent = "deny"
	if resp, body := bob.get(t, g.URL+"/wechat_auth/login?rd=/x&scope=snsapi_userinfo"); !strings.Contains(body, "未完成授权") {
		t.Fatalf("bob's declined login ended %d: %.200s", resp.StatusCode, body)
	}
	// WeChat refuses carol's code exchange: the app secret is wrong.
	g.sim.Fail(exchangePath, 1, wechattest.Fault{ErrCode: 40125})
	carol := newBrowser("carol")
	if resp, _ := carol.get(t, g.URL+"/d"); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("carol's refused code exchange answered %d, want 502", resp.StatusCode)
	}
	// A forged cookie on an API request.
	forger := newBrowser("")
	if resp, _ := forger.do(t, http.MethodGet, g.URL+"/e", http.Header{"Cookie": {"wechat_session=Zm9yZ2VkLWNvb2tpZQ"}, "Accept": {"application/json"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged cookie: %d, want 401", resp.StatusCode)
	}
	// A callback this browser never started.
	state := strings.Repeat("AbC1", 8)
	if resp, _ := forger.get(t, g.URL+"/wechat_auth/callback?code=0a1B2c3D4e&state="+state); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("stray callback: %d, want 400", resp.StatusCode)
	}
	// Three JS-SDK signatures (one ticket fetch) and a foreign page.
	for range 3 {
		if status, _, body := g.sign(t, g.URL+"/share?id=1", nil); status != http.StatusOK {
			t.Fatalf("signature: %d %s", status, body)
		}
	}
	if status, _, _ := g.sign(t, "https://evil.example/", nil); status != http.StatusForbidden {
		t.Fatalf("foreign page signed: %d", status)
	}

	after, raw := g.scrape(t)
	delta := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			delta[k] = d
		}
	}
	want := map[string]float64{
		`caddy_wechat_policy_decisions_total{outcome="sign_in"}`:                                     2, // alice /a, carol /d
		`caddy_wechat_policy_decisions_total{outcome="admit"}`:                                       3, // alice /a after login, /b, /c
		`caddy_wechat_policy_decisions_total{outcome="sign_in_api"}`:                                 2, // the forged cookie, the revoked one
		`caddy_wechat_logins_started_total{scope="snsapi_base",trigger="page"}`:                      2,
		`caddy_wechat_logins_started_total{scope="snsapi_userinfo",trigger="login"}`:                 1,
		`caddy_wechat_logins_completed_total{result="success",scope="snsapi_base"}`:                  1,
		`caddy_wechat_logins_completed_total{result="declined",scope="snsapi_userinfo"}`:             1,
		`caddy_wechat_logins_completed_total{result="config_error",scope="snsapi_base"}`:             1,
		`caddy_wechat_logins_completed_total{result="flow_lost",scope="unknown"}`:                    1,
		`caddy_wechat_callback_failures_total{errcode="40125"}`:                                      1,
		`caddy_wechat_session_checks_total{outcome="verified",reason=""}`:                            1,
		`caddy_wechat_session_checks_total{outcome="memo_hit",reason=""}`:                            3, // /b, /c, and the logout finding the session it revokes
		`caddy_wechat_session_checks_total{outcome="rejected",reason="invalid"}`:                     1,
		`caddy_wechat_session_checks_total{outcome="rejected",reason="revoked"}`:                     1,
		`caddy_wechat_revocations_total{event="published"}`:                                          1,
		`caddy_wechat_api_requests_total{endpoint="/sns/oauth2/access_token",result="ok"}`:           1,
		`caddy_wechat_api_requests_total{endpoint="/sns/oauth2/access_token",result="wechat_error"}`: 1,
		`caddy_wechat_api_errcodes_total{endpoint="/sns/oauth2/access_token",errcode="40125"}`:       1,
		`caddy_wechat_api_request_duration_seconds_count{endpoint="/sns/oauth2/access_token"}`:       2,
		`caddy_wechat_api_requests_total{endpoint="/cgi-bin/stable_token",result="ok"}`:              1,
		`caddy_wechat_api_request_duration_seconds_count{endpoint="/cgi-bin/stable_token"}`:          1,
		`caddy_wechat_api_requests_total{endpoint="/cgi-bin/ticket/getticket",result="ok"}`:          1,
		`caddy_wechat_api_request_duration_seconds_count{endpoint="/cgi-bin/ticket/getticket"}`:      1,
		`caddy_wechat_jsapi_tickets_total{result="fetched"}`:                                         1,
		`caddy_wechat_jsapi_signatures_total{result="signed"}`:                                       3,
		`caddy_wechat_jsapi_signatures_total{result="refused_url"}`:                                  1,
	}
	var diffs []string
	for k, w := range want {
		if delta[k] != w {
			diffs = append(diffs, k+": moved "+strconv.FormatFloat(delta[k], 'f', -1, 64)+", want "+strconv.FormatFloat(w, 'f', -1, 64))
		}
	}
	for k, d := range delta {
		if k == "caddy_wechat_revocations_held" {
			continue // a gauge of everything earlier tests left in this process too
		}
		if _, ok := want[k]; !ok {
			diffs = append(diffs, k+": moved "+strconv.FormatFloat(d, 'f', -1, 64)+", want unchanged")
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("the scrape does not match what happened:\n  %s", strings.Join(diffs, "\n  "))
	}

	// Nothing secret or personal in the scrape.
	secrets := map[string]string{
		"app secret":      wechattest.DefaultAppSecret,
		"alice's openid":  g.sim.OpenID(testAppID, "alice"),
		"carol's openid":  g.sim.OpenID(testAppID, "carol"),
		"jsapi_ticket":    g.sim.JSAPITicket(testAppID),
		"alice's cookie":  aliceCookie,
		"the forged one":  "Zm9yZ2VkLWNvb2tpZQ",
		"a stray code":    "0a1B2c3D4e",
		"a stray state":   state,
		"the signed page": "/share?id=1",
	}
	for _, c := range g.sim.Calls() {
		for _, k := range []string{"code", "access_token", "secret"} {
			if v := c.Query.Get(k); v != "" {
				secrets[c.Path+" "+k] = v
			}
		}
	}
	for what, s := range secrets {
		if s == "" {
			t.Errorf("no value for %s: the leak check would be empty", what)
			continue
		}
		if strings.Contains(raw, s) || strings.Contains(raw, url.QueryEscape(s)) {
			t.Errorf("the scrape contains %s (%q)", what, s)
		}
	}
}
