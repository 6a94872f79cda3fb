// Package metrics exposes palantir's Prometheus metrics: counters and
// histograms fed by telemetry events (from a worker's own recorder, or from
// the store for `palantir serve`, which sees every process's events), and
// gauges read at scrape time from the store and the broker.
//
// # Metrics
//
//	palantir_events_total{event}                 telemetry events seen
//	palantir_outcomes_total{outcome}             missions finished: success or failure
//	palantir_retries_total                       failed attempts that will be retried
//	palantir_dead_letters_total                  messages given up on
//	palantir_redeliveries_total                  copies taken again after a worker died
//	palantir_queue_wait_seconds                  broker accepted -> a worker started it
//	palantir_execution_seconds{outcome}          started -> completed, failed or retried
//	palantir_missions{type,status}               missions in the store by type and state
//	palantir_queue_messages{backend,queue,state} ready, in_flight, delayed, dead_letters
//	palantir_workers_live{backend,queue}         workers that beat within the live window
//	palantir_source_up{source}                   whether the store and the broker answered the scrape
package metrics

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/palantir-lab/palantir/telemetry"
)

// maxOpen bounds the attempts whose start time is kept to measure their
// execution: an attempt whose end is never seen (its worker died) must not
// be kept for ever.
const maxOpen = 20000

// Metrics holds one registry. Observe is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	events       *prometheus.CounterVec
	outcomes     *prometheus.CounterVec
	retries      prometheus.Counter
	deadLetters  prometheus.Counter
	redeliveries prometheus.Counter
	queueWait    prometheus.Histogram
	execution    *prometheus.HistogramVec

	mu   sync.Mutex
	open map[attemptKey]halfSeen
}

// halfSeen is one end of an attempt. Events reach a reader of the store
// in the order they were stored, not in the order they happened: a
// worker's outcome is stored with the outcome itself, before the batch
// that holds the attempt's start. Whichever end comes first waits here
// for the other.
type halfSeen struct {
	started bool
	at      time.Time
	outcome string // of an end
}

type attemptKey struct {
	mission string
	attempt int
}

// New returns metrics with Go's runtime and process collectors registered.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), open: map[attemptKey]halfSeen{}}
	buckets := prometheus.ExponentialBuckets(0.001, 2.5, 14) // 1 ms … ~2.5 min
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palantir_events_total",
		Help: "Telemetry events seen, by event name."}, []string{"event"})
	m.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palantir_outcomes_total",
		Help: "Missions whose outcome was persisted, by outcome (success, failure)."}, []string{"outcome"})
	m.retries = prometheus.NewCounter(prometheus.CounterOpts{Name: "palantir_retries_total",
		Help: "Failed attempts that will be tried again."})
	m.deadLetters = prometheus.NewCounter(prometheus.CounterOpts{Name: "palantir_dead_letters_total",
		Help: "Messages given up on and sent to the dead letters."})
	m.redeliveries = prometheus.NewCounter(prometheus.CounterOpts{Name: "palantir_redeliveries_total",
		Help: "Copies a worker took again because the worker that had them never settled them."})
	m.queueWait = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "palantir_queue_wait_seconds",
		Help: "Time from the broker accepting a message to a worker starting it.", Buckets: buckets})
	m.execution = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "palantir_execution_seconds",
		Help:    "Time from a worker starting an attempt to its end, by how it ended (completed, failed, retry).",
		Buckets: buckets}, []string{"outcome"})
	m.reg.MustRegister(m.events, m.outcomes, m.retries, m.deadLetters, m.redeliveries, m.queueWait, m.execution,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, n := range telemetry.Names() {
		m.events.WithLabelValues(string(n)) // every series exists from the start, at 0
	}
	m.outcomes.WithLabelValues("success")
	m.outcomes.WithLabelValues("failure")
	return m
}

// Register adds a collector (the store's and broker's gauges).
func (m *Metrics) Register(c prometheus.Collector) { m.reg.MustRegister(c) }

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Observe counts one telemetry event.
func (m *Metrics) Observe(e telemetry.Event) {
	m.events.WithLabelValues(string(e.Name)).Inc()
	key := attemptKey{e.MissionID, e.Attempt}
	switch e.Name {
	case telemetry.MissionStarted:
		if e.Detail == "redelivered" {
			m.redeliveries.Inc()
		}
		if e.SincePrev > 0 {
			m.queueWait.Observe(e.SincePrev.Seconds())
		}
		m.pair(key, halfSeen{started: true, at: e.At})
	case telemetry.MissionCompleted:
		m.pair(key, halfSeen{at: e.At, outcome: "completed"})
	case telemetry.MissionFailed:
		m.pair(key, halfSeen{at: e.At, outcome: "failed"})
	case telemetry.MissionRetry:
		m.retries.Inc()
		m.pair(key, halfSeen{at: e.At, outcome: "retry"})
	case telemetry.MissionPersisted:
		m.outcomes.WithLabelValues(strings.ToLower(e.Detail)).Inc()
	case telemetry.MissionDeadLettered:
		m.deadLetters.Inc()
	}
}

// pair observes an attempt's execution once both its ends are seen.
func (m *Metrics) pair(key attemptKey, h halfSeen) {
	m.mu.Lock()
	other, ok := m.open[key]
	if !ok || other.started == h.started {
		if len(m.open) >= maxOpen {
			clear(m.open) // ends never seen (a worker died): forget rather than grow
		}
		m.open[key] = h
		m.mu.Unlock()
		return
	}
	delete(m.open, key)
	m.mu.Unlock()
	start, end := other, h
	if h.started {
		start, end = h, other
	}
	if !end.at.Before(start.at) {
		m.execution.WithLabelValues(end.outcome).Observe(end.at.Sub(start.at).Seconds())
	}
}
