package metrics_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/metrics"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestEventsBecomeMetrics(t *testing.T) {
	m := metrics.New()
	t0 := time.Now()
	ev := func(name telemetry.Name, id string, attempt int, at time.Duration, detail string) {
		m.Observe(telemetry.Event{Name: name, MissionID: id, Attempt: attempt, At: t0.Add(at), Detail: detail,
			SincePrev: 3 * time.Millisecond})
	}
	// Mission a: its outcome reaches the reader before its start, as it
	// does when the outcome is stored with the outcome's transaction.
	ev(telemetry.MissionCompleted, "a", 1, 2*time.Second, "")
	ev(telemetry.MissionPersisted, "a", 1, 2*time.Second, "SUCCESS")
	ev(telemetry.MissionStarted, "a", 1, 0, "")
	// Mission b: a retry, then a redelivered copy that fails for good.
	ev(telemetry.MissionStarted, "b", 1, 0, "")
	ev(telemetry.MissionRetry, "b", 1, time.Second, "orc ambush")
	ev(telemetry.MissionStarted, "b", 2, 2*time.Second, "redelivered")
	ev(telemetry.MissionFailed, "b", 2, 3*time.Second, "orc ambush")
	ev(telemetry.MissionPersisted, "b", 2, 3*time.Second, "FAILURE")
	ev(telemetry.MissionDeadLettered, "b", 2, 3*time.Second, "failed after 2 attempts")
	body := scrape(t, m)
	for _, want := range []string{
		`palantir_outcomes_total{outcome="success"} 1`,
		`palantir_outcomes_total{outcome="failure"} 1`,
		`palantir_retries_total 1`,
		`palantir_redeliveries_total 1`,
		`palantir_dead_letters_total 1`,
		`palantir_events_total{event="mission_started"} 3`,
		`palantir_execution_seconds_count{outcome="completed"} 1`,
		`palantir_execution_seconds_sum{outcome="completed"} 2`,
		`palantir_execution_seconds_count{outcome="retry"} 1`,
		`palantir_execution_seconds_count{outcome="failed"} 1`,
		`palantir_queue_wait_seconds_count 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A broker or store that does not answer leaves its gauges out and says
// so in palantir_source_up; the rest of the scrape still answers 200.
func TestAScrapeSurvivesAnUnreachableSource(t *testing.T) {
	m := metrics.New()
	m.Register(metrics.Gauges(metrics.Source{Backend: "redis", Queue: "q",
		Stats: func(context.Context) (backends.Stats, error) {
			return backends.Stats{}, errors.New("connection refused")
		},
		Counts: func(context.Context) ([]store.Count, error) {
			return []store.Count{{Key: "raven", Status: "SUCCESS", N: 2}}, nil
		}}))
	m.Observe(telemetry.Event{Name: telemetry.MissionRetry, MissionID: "a", Attempt: 1, At: time.Now()})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("scrape with the broker down: %d %s", rec.Code, body)
	}
	for _, want := range []string{`palantir_retries_total 1`, `palantir_missions{status="SUCCESS",type="raven"} 2`,
		`palantir_source_up{source="broker"} 0`, `palantir_source_up{source="store"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape with the broker down lacks %s", want)
		}
	}
}
