package wechatauth

import (
	"github.com/prometheus/client_golang/prometheus"
)

// storeMetricsSet tells an operator, per replica, how its shared store is
// doing: up or down, what waits to be written, what was written late or
// lost, when it last synchronized, and how many revocations it holds.
type storeMetricsSet struct {
	up          prometheus.Gauge
	subscribed  prometheus.Gauge
	pending     prometheus.Gauge
	held        prometheus.Gauge
	lastSync    prometheus.Gauge
	unchecked   prometheus.Counter
	revocations [numStoreRevocationEvents]prometheus.Counter
	vec         *prometheus.CounterVec
}

type storeRevocationEvent uint8

const (
	revocationsQueued   storeRevocationEvent = iota // could not be written at once; waits in the queue
	revocationsWritten                              // written from the queue once the store answered
	revocationsLost                                 // the queue was full: never written (still applied here)
	revocationsRestored                             // written back to a store that had lost them
	revocationsOverflow                             // not held here: the in-memory set was full
	numStoreRevocationEvents
)

var storeRevocationEventNames = [numStoreRevocationEvents]string{
	revocationsQueued:   "queued",
	revocationsWritten:  "written",
	revocationsLost:     "lost",
	revocationsRestored: "restored",
	revocationsOverflow: "overflow",
}

var storeMetrics = newStoreMetrics()

func newStoreMetrics() *storeMetricsSet {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help})
	}
	m := &storeMetricsSet{
		up:         gauge("store_up", "1 while the shared store answers this replica's health check, 0 while it does not (or none is configured)."),
		subscribed: gauge("store_subscribed", "1 while this replica is subscribed to the store's revocation events."),
		pending:    gauge("store_revocations_pending", "Revocations made here and not yet written to the store (it was unreachable)."),
		held:       gauge("revocations_held", "Revocations held in this replica's memory (bounded; see revocation_events_total{event=\"overflow\"})."),
		lastSync: gauge("store_last_sync_timestamp_seconds",
			"Unix time of this replica's last successful health check of the store; time() minus it is how stale the replica may be."),
		unchecked: prometheus.NewCounter(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem,
			Name: "sessions_unchecked_total",
			Help: "Session cookies refused because this replica had not yet loaded the store's revocations (see the wechat unchecked_sessions setting)."}),
		vec: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem,
			Name: "revocation_events_total",
			Help: "What happened to revocations between this replica and the store: queued, written (late), lost (queue full), restored (to a store that lost them), overflow (in-memory set full)."},
			[]string{"event"}),
	}
	for e := range numStoreRevocationEvents {
		m.revocations[e] = m.vec.WithLabelValues(storeRevocationEventNames[e])
	}
	return m
}

func (m *storeMetricsSet) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.up, m.subscribed, m.pending, m.held, m.lastSync, m.unchecked, m.vec}
}
