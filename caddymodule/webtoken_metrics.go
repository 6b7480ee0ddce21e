package wechatauth

import "github.com/prometheus/client_golang/prometheus"

// caddy_wechat_web_token_events_total{event}: what the token keepers
// (docs/tokens.md) did with WeChat's answers. The calls themselves, with
// their errcodes, are in api_requests_total and api_errcodes_total under
// /sns/oauth2/refresh_token, /sns/auth and /sns/userinfo.

type webTokenEvent uint8

const (
	webTokenRefreshed  webTokenEvent = iota // a new access_token from the refresh_token
	webTokenChecked                         // sns/auth said the authorization stands
	webTokenProfiled                        // nickname and avatar fetched again
	webTokenSessionEnd                      // WeChat refused the refresh_token: the session signs in again
	webTokenRetryLater                      // no answer from WeChat: the session keeps working, asked again later
	numWebTokenEvents
)

var webTokenEventNames = [...]string{
	webTokenRefreshed:  "refreshed",
	webTokenChecked:    "checked",
	webTokenProfiled:   "profiled",
	webTokenSessionEnd: "session_ended",
	webTokenRetryLater: "retry_later",
}

// webTokenMetrics is the process's counter, resolved per event once.
var webTokenMetrics = newWebTokenMetrics()

type webTokenMetricsSet struct {
	vec    *prometheus.CounterVec
	events [numWebTokenEvents]prometheus.Counter
}

func newWebTokenMetrics() *webTokenMetricsSet {
	m := &webTokenMetricsSet{vec: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "web_token_events_total",
		Help: "What the keepers of visitors' web tokens (pass_access_token, verify_interval, profile_ttl) did: refreshed, checked, profiled, session_ended (WeChat refused the refresh_token or the authorization was withdrawn), retry_later (WeChat did not answer).",
	}, []string{"event"})}
	for e := range numWebTokenEvents {
		m.events[e] = m.vec.WithLabelValues(webTokenEventNames[e])
	}
	return m
}

func (m *webTokenMetricsSet) count(e webTokenEvent) { m.events[e].Inc() }
