package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palantir-lab/palantir/backends/all"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

func TestSteps(t *testing.T) {
	t0 := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	ev := func(name string, at time.Duration) telemetry.Event {
		return telemetry.Event{Name: telemetry.Name(name), At: t0.Add(at)}
	}
	step := func(name string, at, off, gap time.Duration, explain string) ops.Step {
		return ops.Step{Event: ev(name, at), Offset: off, Gap: gap, Explain: explain}
	}
	tests := []struct {
		name      string
		evs       []telemetry.Event
		explain   func(telemetry.Event) string
		want      []ops.Step
		wantTotal time.Duration
	}{
		{"none", nil, nil, []ops.Step{}, 0},
		{"one", []telemetry.Event{ev("a", 0)}, nil, []ops.Step{step("a", 0, 0, 0, "")}, 0},
		{"by time, not by arrival",
			[]telemetry.Event{ev("c", 30*time.Millisecond), ev("a", 0), ev("b", 10*time.Millisecond)}, nil,
			[]ops.Step{step("a", 0, 0, 0, ""), step("b", 10*time.Millisecond, 10*time.Millisecond, 10*time.Millisecond, ""),
				step("c", 30*time.Millisecond, 30*time.Millisecond, 20*time.Millisecond, "")},
			30 * time.Millisecond},
		{"equal times keep the store's order",
			[]telemetry.Event{ev("x", time.Second), ev("y", 0), ev("z", 0)}, nil,
			[]ops.Step{step("y", 0, 0, 0, ""), step("z", 0, 0, 0, ""), step("x", time.Second, time.Second, time.Second, "")},
			time.Second},
		{"explained",
			[]telemetry.Event{ev("b", time.Millisecond), ev("a", 0)}, func(e telemetry.Event) string { return "P" + string(e.Name) },
			[]ops.Step{step("a", 0, 0, 0, "Pa"), step("b", time.Millisecond, time.Millisecond, time.Millisecond, "Pb")},
			time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total := ops.Steps(tt.evs, tt.explain)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Steps (-want +got):\n%s", diff)
			}
			if total != tt.wantTotal {
				t.Errorf("Steps total = %v, want %v", total, tt.wantTotal)
			}
		})
	}
}

func TestExplainer(t *testing.T) {
	prims := map[string]string{"mission_queued": "XADD", "mission_persisted": "XACK"}
	storePrim := func(event string) string {
		if event == "mission_persisted" {
			return "COMMIT"
		}
		return ""
	}
	explain := ops.Explainer(prims, storePrim)
	tests := []struct {
		name    string
		service string
		event   string
		want    string
	}{
		{"the broker's event", "broker:redis", "mission_queued", "XADD"},
		{"an event no primitive is known for", "worker:w1", "mission_started", ""},
		{"the store's commit, then the ack", "store:sqlite", "mission_persisted", "COMMIT; XACK"},
		{"a store event the broker has no primitive for", "store:sqlite", "hero_scored", ""},
		{"the broker's primitive for an event the store emits", "store:sqlite", "mission_queued", "XADD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := explain(telemetry.Event{Service: tt.service, Name: telemetry.Name(tt.event)}); got != tt.want {
				t.Errorf("explain(%s %s) = %q, want %q", tt.service, tt.event, got, tt.want)
			}
		})
	}
}

func TestTraceObjectOf(t *testing.T) {
	t0 := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	tr := ops.Trace{Mission: store.Mission{ID: "m1"}, Steps: []ops.Step{
		{Event: telemetry.Event{Name: "mission_queued", At: t0}},
		{Event: telemetry.Event{Name: "mission_started", At: t0.Add(1500 * time.Microsecond)}, Offset: 1500 * time.Microsecond,
			Gap: 1500 * time.Microsecond, Explain: "XREADGROUP"},
	}}
	b, err := json.Marshal(ops.TraceObjectOf(tr).Steps)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"id":0,"at":"2001-02-03T04:05:06Z","event":"mission_queued","mission_id":"","attempt":0,"service":"","since_prev_ms":0,"detail":"","offset_ms":0},` +
		`{"id":0,"at":"2001-02-03T04:05:06.0015Z","event":"mission_started","mission_id":"","attempt":0,"service":"","since_prev_ms":0,"detail":"","offset_ms":1.5,"explain":"XREADGROUP"}]`
	if string(b) != want {
		t.Errorf("steps:\n got %s\nwant %s", b, want)
	}
}

func TestLoadTrace(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	ids := launch(t, st, time.Now(), 1)
	if _, err := ops.LoadTrace(ctx, st, all.Registry(), "qqqqqqqq", false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LoadTrace of an unknown id: %v, want store.ErrNotFound", err)
	}
	for _, explain := range []bool{false, true} {
		tr, err := ops.LoadTrace(ctx, st, all.Registry(), ids[0][:6], explain)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Mission.ID != ids[0] || len(tr.Steps) == 0 {
			t.Fatalf("LoadTrace(%s): mission %s with %d steps, want %s with its events", ids[0][:6], tr.Mission.ID, len(tr.Steps), ids[0])
		}
		last := tr.Steps[len(tr.Steps)-1]
		if tr.Total != last.Offset {
			t.Errorf("Total %v, want the last step's offset %v", tr.Total, last.Offset)
		}
		explained := false
		for _, s := range tr.Steps {
			explained = explained || s.Explain != ""
		}
		if explained != explain {
			t.Errorf("LoadTrace explain=%v: steps explained: %v", explain, explained)
		}
	}
}
