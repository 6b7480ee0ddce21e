package wechatauth

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsRegisterOncePerRegistryAndSurviveAReload(t *testing.T) {
	first := prometheus.NewPedanticRegistry()
	for range 3 { // several handlers of one config
		if err := registerMetrics(first); err != nil {
			t.Fatalf("registering again in the same registry: %v", err)
		}
	}
	m := procMetrics
	before := testutil.ToFloat64(m.sessions[cookieVerified])
	m.sessionChecked(cookieVerified)

	// A reload gives a new registry: the same collectors, counts intact.
	second := prometheus.NewPedanticRegistry()
	if err := registerMetrics(second); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(second, "caddy_wechat_session_checks_total")
	if err != nil || n == 0 {
		t.Fatalf("the new registry does not report session checks: %d series, %v", n, err)
	}
	if got := testutil.ToFloat64(m.sessions[cookieVerified]); got != before+1 {
		t.Fatalf("verified count %v after one check, want %v", got, before+1)
	}
}

func TestMetricsRegistrationReportsAConflictingCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	// Same name, other labels: not "already registered" but a real conflict.
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "caddy_wechat_logins_started_total", Help: "x"}, []string{"other"}))
	if err := registerMetrics(reg); err == nil {
		t.Fatal("a conflicting collector was accepted silently")
	}
}

func TestMetricsCountingOnRequestPathsDoesNotAllocate(t *testing.T) {
	m := newMetricsSet()
	for name, f := range map[string]func(){
		"session memo hit":   func() { m.sessionChecked(cookieMemoHit) },
		"session rejected":   func() { m.sessionChecked(cookieRejectExpired) },
		"follower cache hit": func() { m.followerLookup(lookupCacheHit) },
		"login started":      func() { m.loginStarted("snsapi_userinfo", triggerPage) },
		"login completed":    func() { m.loginCompleted("snsapi_base", loginSuccess) },
		"signature":          func() { m.signature(signatureSigned) },
		"ticket":             func() { m.ticket(ticketFetched) },
	} {
		if allocs := testing.AllocsPerRun(1000, f); allocs != 0 {
			t.Errorf("%s: %v allocations per count, want 0", name, allocs)
		}
	}
}

func TestMetricsLabelsCarryNoIdentifiersQueriesOrUnboundedValues(t *testing.T) {
	m := newMetricsSet()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range m.collectors() {
		reg.MustRegister(c)
	}
	// Feed the free-form entry points hostile values.
	m.apiCall("/sns/oauth2/access_token?appid=wx1&secret=S3CRET&code=C0DE", 20*time.Millisecond, 40163, false)
	m.apiCall("/cgi-bin/user/info?access_token=T0KEN&openid=oOPENID", time.Second, 0, true)
	m.apiCall("https://api.weixin.qq.com/sns/userinfo", time.Millisecond, 0, false)
	m.apiCall("/cgi-bin/ticket/getticket", time.Millisecond, 123456789, false)
	m.callbackFailed(40029)
	m.callbackFailed(987654)
	m.callbackFailed(0)
	m.loginStarted("snsapi_evil", triggerLogin)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowedLabels := []string{"scope", "trigger", "result", "errcode", "endpoint", "outcome", "reason", "event", "store", "op", "le"}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "caddy_wechat_") {
			t.Errorf("metric %s is not under caddy_wechat_", f.GetName())
		}
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if !slices.Contains(allowedLabels, l.GetName()) {
					t.Errorf("%s has label %q", f.GetName(), l.GetName())
				}
				v := l.GetValue()
				for _, bad := range []string{"?", "=", "S3CRET", "C0DE", "T0KEN", "oOPENID", "://", "123456789", "987654", "evil"} {
					if strings.Contains(v, bad) {
						t.Errorf("%s{%s=%q} carries %q", f.GetName(), l.GetName(), v, bad)
					}
				}
			}
		}
	}
	if got := testutil.ToFloat64(m.apiErrcodes.WithLabelValues("/sns/oauth2/access_token", "40163")); got != 1 {
		t.Errorf("errcode 40163 on the code exchange counted %v times, want 1", got)
	}
	if got := testutil.ToFloat64(m.apiRequests.WithLabelValues("/cgi-bin/user/info", apiResultRequestError)); got != 1 {
		t.Errorf("the failed follower request counted %v times, want 1", got)
	}
	if got := testutil.ToFloat64(m.callbackFailures.WithLabelValues("other")); got != 1 {
		t.Errorf("an undocumented errcode counted %v times as other, want 1", got)
	}
	if got := testutil.ToFloat64(m.loginsStarted.WithLabelValues("unknown", "login")); got != 1 {
		t.Errorf("an unknown scope counted %v times as unknown, want 1", got)
	}
}

// The dashboard must not query metrics that do not exist.
func TestGrafanaDashboardQueriesOnlyOurMetrics(t *testing.T) {
	data, err := os.ReadFile("../examples/grafana/caddy-wechat-auth.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	known := map[string]bool{}
	descs := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range newMetricsSet().collectors() {
			c.Describe(descs)
		}
		close(descs)
	}()
	fq := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range descs {
		if mm := fq.FindStringSubmatch(d.String()); mm != nil {
			known[mm[1]] = true
		}
	}
	name := regexp.MustCompile(`caddy_wechat_[a-z_]+`)
	var titles []string
	for _, p := range dash.Panels {
		titles = append(titles, strings.ToLower(p.Title))
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				base := n
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if strings.HasSuffix(n, suffix) && known[strings.TrimSuffix(n, suffix)] {
						base = strings.TrimSuffix(n, suffix)
					}
				}
				if !known[base] {
					t.Errorf("panel %q queries %s, which the module does not export", p.Title, n)
				}
			}
		}
	}
	all := strings.Join(titles, "|")
	for _, want := range []string{"login rate", "errcode", "latency", "memo hit ratio"} {
		if !strings.Contains(all, want) {
			t.Errorf("the dashboard has no panel about %q (panels: %s)", want, all)
		}
	}
}

// TestMetricsLabelTables: every label table names each value of its enum
// with a non-empty label of its own, and each policy outcome counts under
// its own name (signInDesktop, inserted after the table was first written,
// once shifted every later outcome's label by one; a sign-in now counts
// under its flow's label).
func TestMetricsLabelTables(t *testing.T) {
	tables := map[string][]string{
		"scope":            scopeLabelNames[:],
		"trigger":          loginTriggerNames[:],
		"login result":     loginCompletionNames[:],
		"follower result":  lookupResultNames[:],
		"policy outcome":   verdictNames[:],
		"ticket result":    ticketResultNames[:],
		"signature result": signatureResultNames[:],
		"revocation event": revocationEventNames[:],
	}
	sessions := make([]string, 0, len(cookieCheckLabels))
	for o, l := range cookieCheckLabels {
		if l[0] == "" || (l[0] == "rejected") == (l[1] == "") {
			t.Errorf("session outcome %d is labelled %q", o, l)
		}
		sessions = append(sessions, l[0]+"/"+l[1])
	}
	tables["session outcome"] = sessions
	wantLen := map[string]int{"scope": int(numScopeLabels), "trigger": int(numLoginTriggers),
		"login result": int(numLoginCompletions), "follower result": int(numLookupResults), "policy outcome": int(numVerdicts),
		"ticket result": int(numTicketResults), "signature result": int(numSignatureResults),
		"revocation event": int(numRevocationEvents), "session outcome": int(numCookieChecks)}
	for name, labels := range tables {
		if len(labels) != wantLen[name] {
			t.Errorf("%s: %d labels for %d values", name, len(labels), wantLen[name])
		}
		seen := map[string]int{}
		for i, l := range labels {
			if l == "" || l == "/" {
				t.Errorf("%s %d has an empty label", name, i)
				continue
			}
			if j, dup := seen[l]; dup {
				t.Errorf("%s %d and %d share the label %q", name, j, i, l)
			}
			seen[l] = i
		}
	}
	for _, c := range []struct {
		v    verdict
		flow signInFlow
		want string
	}{{signIn, &desktopFlow{}, "sign_in_desktop"}, {signIn, &mpFlow{}, "sign_in"}, {notFollower, nil, "not_follower"}, {followerUnknown, nil, "follower_unknown"}} {
		before := testutil.ToFloat64(procMetrics.decisions.WithLabelValues(c.want))
		procMetrics.decided(c.v, c.flow)
		if got := testutil.ToFloat64(procMetrics.decisions.WithLabelValues(c.want)); got != before+1 {
			t.Errorf("verdict %d did not count under outcome=%q", c.v, c.want)
		}
	}
}
