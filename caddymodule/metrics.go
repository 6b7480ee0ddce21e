package wechatauth

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// Metrics, in Caddy's Prometheus registry (served by Caddy's metrics handler
// and the admin endpoint's /metrics), all named caddy_wechat_*:
//
//	logins_started_total{scope,trigger}          authorizations sent to WeChat
//	logins_completed_total{scope,result}         how each ended (one result per started login, bar abandoned ones)
//	callback_failures_total{errcode}             callback code exchange / userinfo failures by WeChat errcode
//	api_requests_total{endpoint,result}          WeChat API requests (each attempt) by API path
//	api_errcodes_total{endpoint,errcode}         WeChat errcodes by API path
//	api_request_duration_seconds{endpoint}       WeChat API latency histogram
//	session_checks_total{outcome,reason}         session cookies checked: memo_hit, verified, rejected (why)
//	policy_decisions_total{outcome}              what protected requests got (admit, sign_in, …), in-path and forward-auth
//	follower_lookups_total{result}               subscriber_info lookups: cache_hit, follower, not_follower, error
//	jsapi_tickets_total{result}                  jsapi_ticket fetches: fetched, failed, held_off
//	jsapi_signatures_total{result}               {path_prefix}/jssdk answers
//	revocations_total{event}                     session revocations: published here, received over the store's channel
//	store_errors_total{store,op}                 failed store operations
//	web_token_events_total{event}                the web-token keepers' refreshes, checks, profiles, ended sessions (webtoken_metrics.go)
//
// No label ever carries an openid, a code, a token, a cookie or a URL query:
// label values come from fixed sets in this file, API paths (constants of
// the wechat client), or errcodes mapped onto the documented set.
//
// The collectors are built once per process and registered with each
// config's registry (Caddy makes a new one on every reload), in the style of
// mholt/caddy-ratelimit, so counts survive reloads. Every counter a request
// path touches is resolved to its label values once, here: counting on the
// authenticated hot path is one atomic add, no allocation, no map lookup.

const metricsNamespace, metricsSubsystem = "caddy", "wechat"

// API results of api_requests_total.
const (
	apiResultOK           = "ok"
	apiResultWeChatError  = "wechat_error"  // WeChat answered with an errcode
	apiResultRequestError = "request_error" // timeout, connection, HTTP status, body
)

// apiLatencyBuckets span a fast loopback answer to the client's timeout.
var apiLatencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// metricsSet is the process's collectors and their pre-resolved counters.
type metricsSet struct {
	loginsStarted    *prometheus.CounterVec
	loginsCompleted  *prometheus.CounterVec
	callbackFailures *prometheus.CounterVec
	apiRequests      *prometheus.CounterVec
	apiErrcodes      *prometheus.CounterVec
	apiDuration      *prometheus.HistogramVec
	sessionChecks    *prometheus.CounterVec
	followerLookups  *prometheus.CounterVec
	decisions        *prometheus.CounterVec
	jsapiTickets     *prometheus.CounterVec
	jsapiSignatures  *prometheus.CounterVec
	revocations      *prometheus.CounterVec
	storeErrors      *prometheus.CounterVec

	started    [numScopeLabels][numLoginTriggers]prometheus.Counter
	completed  [numScopeLabels][numLoginCompletions]prometheus.Counter
	sessions   [numCookieChecks]prometheus.Counter
	followers  [numLookupResults]prometheus.Counter
	outcomes   [numVerdicts]prometheus.Counter // by verdict (policy.go)
	tickets    [numTicketResults]prometheus.Counter
	signatures [numSignatureResults]prometheus.Counter
	revoked    [numRevocationEvents]prometheus.Counter
}

// procMetrics is the process's collectors: built once, when the package
// loads, so every handler (configured, or built by hand in a test) counts
// into the same ones without a nil check on the hot path.
var procMetrics = newMetricsSet()

func newMetricsSet() *metricsSet {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help,
		}, labels)
	}
	m := &metricsSet{
		loginsStarted: counter("logins_started_total",
			"WeChat authorizations started (302 to the authorize page), by requested scope and what started them.", "scope", "trigger"),
		loginsCompleted: counter("logins_completed_total",
			"WeChat authorizations that came back to the callback, by requested scope and how they ended.", "scope", "result"),
		callbackFailures: counter("callback_failures_total",
			"Callback failures by WeChat errcode (code exchange and userinfo; \"none\" when no errcode came back, e.g. a timeout).", "errcode"),
		apiRequests: counter("api_requests_total",
			"WeChat API requests (each attempt), by API path and result: ok, wechat_error (an errcode), request_error (timeout, connection, HTTP status, body).", "endpoint", "result"),
		apiErrcodes: counter("api_errcodes_total",
			"WeChat API errcodes by API path.", "endpoint", "errcode"),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "api_request_duration_seconds",
			Help:    "WeChat API request latency (each attempt), by API path.",
			Buckets: apiLatencyBuckets,
		}, []string{"endpoint"}),
		sessionChecks: counter("session_checks_total",
			"Session cookies checked, by outcome (memo_hit, verified, rejected) and, for rejected ones, reason.", "outcome", "reason"),
		followerLookups: counter("follower_lookups_total",
			"Follower status lookups (subscriber_info, require_subscribe) by result.", "result"),
		decisions: counter("policy_decisions_total",
			"What requests to protected routes got, in-path and through forward-auth: admit, admit_anonymous, outside_wechat, sign_in, sign_in_desktop, sign_in_api, sign_in_form, not_follower, follower_unknown.", "outcome"),
		jsapiTickets: counter("jsapi_tickets_total",
			"jsapi_ticket fetches from WeChat by result (held_off: not asked because a recent fetch failed).", "result"),
		jsapiSignatures: counter("jsapi_signatures_total",
			"Answers of the JS-SDK signing endpoint ({path_prefix}/jssdk) by result.", "result"),
		revocations: counter("revocations_total",
			"Session revocations: published by this process (logout, caddy wechat-session revoke), received over the store's pub/sub channel (every replica's, this one's included).", "event"),
		storeErrors: counter("store_errors_total",
			"Failed operations of the shared store, by store kind and operation.", "store", "op"),
	}
	for s := range numScopeLabels {
		for t := range numLoginTriggers {
			m.started[s][t] = m.loginsStarted.WithLabelValues(scopeLabelNames[s], loginTriggerNames[t])
		}
		for r := range numLoginCompletions {
			m.completed[s][r] = m.loginsCompleted.WithLabelValues(scopeLabelNames[s], loginCompletionNames[r])
		}
	}
	for o := range numCookieChecks {
		m.sessions[o] = m.sessionChecks.WithLabelValues(cookieCheckLabels[o][0], cookieCheckLabels[o][1])
	}
	for r := range numLookupResults {
		m.followers[r] = m.followerLookups.WithLabelValues(lookupResultNames[r])
	}
	for v := range numVerdicts {
		m.outcomes[v] = m.decisions.WithLabelValues(verdictNames[v])
	}
	for r := range numTicketResults {
		m.tickets[r] = m.jsapiTickets.WithLabelValues(ticketResultNames[r])
	}
	for r := range numSignatureResults {
		m.signatures[r] = m.jsapiSignatures.WithLabelValues(signatureResultNames[r])
	}
	for e := range numRevocationEvents {
		m.revoked[e] = m.revocations.WithLabelValues(revocationEventNames[e])
	}
	return m
}

func (m *metricsSet) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.loginsStarted, m.loginsCompleted, m.callbackFailures, m.apiRequests,
		m.apiErrcodes, m.apiDuration, m.sessionChecks, m.followerLookups, m.decisions, m.jsapiTickets, m.jsapiSignatures,
		m.revocations, m.storeErrors}
}

// registerMetrics registers the process's collectors with a config's
// registry. Every handler of the config calls it; an AlreadyRegisteredError
// means another one already did, which is expected.
func registerMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range append(append(procMetrics.collectors(), storeMetrics.collectors()...), webTokenMetrics.vec) {
		var already prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &already) {
			return err
		}
	}
	return nil
}

// Counting. Each is an array index and an atomic add.

func (m *metricsSet) loginStarted(scope string, t loginTrigger) { m.started[scopeOf(scope)][t].Inc() }

func (m *metricsSet) loginCompleted(scope string, r loginCompletion) {
	m.completed[scopeOf(scope)][r].Inc()
}

func (m *metricsSet) sessionChecked(o cookieCheck) { m.sessions[o].Inc() }

func (m *metricsSet) followerLookup(r lookupResult) { m.followers[r].Inc() }

// decided counts a policy decision. A sign-in counts under its flow's label
// (sign_in, sign_in_desktop): sign-ins are redirects, off the hot path.
func (m *metricsSet) decided(v verdict, fl signInFlow) {
	if v == signIn && fl != nil {
		m.decisions.WithLabelValues(fl.label()).Inc()
		return
	}
	m.outcomes[v].Inc()
}

func (m *metricsSet) ticket(r ticketResult) { m.tickets[r].Inc() }

func (m *metricsSet) signature(r signatureResult) { m.signatures[r].Inc() }

func (m *metricsSet) revocation(e revocationEvent) { m.revoked[e].Inc() }

// storeError counts a failed store operation. store and op must be constants
// of the store's code (memory, redis; get, set, publish, …), never keys.
func (m *metricsSet) storeError(store, op string) { m.storeErrors.WithLabelValues(store, op).Inc() }

// callbackFailed counts a callback's WeChat failure by errcode (0: none came back).
func (m *metricsSet) callbackFailed(errcode int) {
	m.callbackFailures.WithLabelValues(errcodeLabel(errcode)).Inc()
}

// apiCall records one WeChat API request: endpoint is its API path (never
// with a query), errcode WeChat's errcode (0 for none) and failed whether
// the request failed below WeChat's JSON (no errcode).
func (m *metricsSet) apiCall(endpoint string, d time.Duration, errcode int, failed bool) {
	endpoint = endpointLabel(endpoint)
	m.apiDuration.WithLabelValues(endpoint).Observe(d.Seconds())
	result := apiResultOK
	switch {
	case errcode != 0:
		result = apiResultWeChatError
		m.apiErrcodes.WithLabelValues(endpoint, errcodeLabel(errcode)).Inc()
	case failed:
		result = apiResultRequestError
	}
	m.apiRequests.WithLabelValues(endpoint, result).Inc()
}

// getticketPath is the wechat client's jsapi_ticket API: its attempts are
// also the jsapi_tickets_total fetches.
const getticketPath = "/cgi-bin/ticket/getticket"

// observeAPI is the wechat client's Observe hook: every attempt of every
// WeChat API call, by API path, with its latency and outcome.
func observeAPI(op string, took time.Duration, err error) {
	code := 0
	if err != nil {
		code = wechat.Code(err)
	}
	procMetrics.apiCall(op, took, code, err != nil && code == 0)
	if op == getticketPath {
		if err == nil {
			procMetrics.ticket(ticketFetched)
		} else {
			procMetrics.ticket(ticketFailed)
		}
	}
}

// endpointLabel keeps an API path and nothing that could follow it.
func endpointLabel(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") || len(p) > 64 {
		return "other"
	}
	return p
}

// documentedErrcodes are the errcodes the project knows (WeChat's global
// return codes it reacts to). Any other value counts as "other", so a label
// never takes an unbounded set of values.
var documentedErrcodes = map[int]bool{
	-1: true, 40001: true, 40002: true, 40003: true, 40013: true, 40014: true, 40029: true, 40030: true,
	40125: true, 40163: true, 40164: true, 40243: true, 41001: true, 41002: true, 41003: true, 41004: true,
	41008: true, 41009: true, 42001: true, 42002: true, 42003: true, 42007: true, 43001: true, 43002: true,
	45009: true, 45011: true, 47001: true, 48001: true, 50001: true, 50002: true, 50005: true, 61004: true,
	89501: true, 89502: true, 89503: true, 89504: true, 89505: true, 89506: true, 89507: true,
}

func errcodeLabel(code int) string {
	switch {
	case code == 0:
		return "none"
	case documentedErrcodes[code]:
		return strconv.Itoa(code)
	}
	return "other"
}

// scopeOf is the scope label of a requested scope.
func scopeOf(scope string) scopeLabel {
	switch scope {
	case "snsapi_base":
		return scopeLabelBase
	case "snsapi_userinfo":
		return scopeLabelUserInfo
	case "snsapi_login":
		return scopeLabelLogin
	}
	return scopeLabelUnknown
}
