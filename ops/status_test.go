package ops_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
)

// Liveness is judged on the clock the caller passes, not on the machine's:
// an app with a fixed clock sees the same workers in status, in the
// dashboard and in a waiting launch.
func TestLiveWorkersReadTheGivenClock(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	beat := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, w := range []store.Worker{
		{Name: "gandalf", Backend: "redis", Queue: "q", HeartbeatAt: beat},
		{Name: "stopped", Backend: "redis", Queue: "q", HeartbeatAt: beat, StoppedAt: beat},
		{Name: "elsewhere", Backend: "rabbitmq", Queue: "q", HeartbeatAt: beat},
		{Name: "otherq", Backend: "redis", Queue: "other", HeartbeatAt: beat},
	} {
		w.StartedAt = beat
		if err := st.Heartbeat(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		now  time.Time
		want []string
	}{
		{"just after the beat", beat.Add(time.Second), []string{"gandalf"}},
		{"at the edge of the window", beat.Add(ops.LiveWindow), []string{"gandalf"}},
		{"after the window", beat.Add(ops.LiveWindow + time.Millisecond), nil},
		{"a day later", beat.Add(24 * time.Hour), nil},
	}
	stats := func(context.Context) (backends.Stats, error) { return backends.Stats{}, nil }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live, err := ops.LiveWorkers(ctx, st, tt.now, "redis", "q")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range live {
				got = append(got, w.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("LiveWorkers at %v: got %v, want %v", tt.now, got, tt.want)
			}
			rows, err := ops.Summary(ctx, st, tt.now, "redis", "q", false, stats)
			if err != nil {
				t.Fatal(err)
			}
			got = nil
			for _, r := range rows {
				if r.Group == "live_worker" {
					got = append(got, r.Key)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Summary's live workers at %v: got %v, want %v", tt.now, got, tt.want)
			}
		})
	}
}

func TestNamesakes(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	tests := []struct {
		name   string
		worker store.Worker
		want   bool
	}{
		{"another process of that name", store.Worker{Name: "w", Host: "h", PID: 2, HeartbeatAt: now}, true},
		{"that name on another host", store.Worker{Name: "w", Host: "other", PID: 1, HeartbeatAt: now}, true},
		{"on another backend and queue too", store.Worker{Name: "w", Backend: "nats", Queue: "x", Host: "h", PID: 2, HeartbeatAt: now}, true},
		{"this very process", store.Worker{Name: "w", Host: "h", PID: 1, HeartbeatAt: now}, false},
		{"another name", store.Worker{Name: "v", Host: "h", PID: 2, HeartbeatAt: now}, false},
		{"stopped", store.Worker{Name: "w", Host: "h", PID: 2, HeartbeatAt: now, StoppedAt: now}, false},
		{"silent for longer than the window", store.Worker{Name: "w", Host: "h", PID: 2, HeartbeatAt: now.Add(-ops.LiveWindow - time.Second)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			tt.worker.StartedAt = tt.worker.HeartbeatAt
			if err := st.Heartbeat(ctx, tt.worker); err != nil {
				t.Fatal(err)
			}
			got, err := ops.Namesakes(ctx, st, now, "w", "h", 1)
			if err != nil {
				t.Fatal(err)
			}
			if (len(got) == 1) != tt.want || len(got) > 1 {
				t.Errorf("Namesakes of w (h pid 1) with %+v: %+v, want one: %v", tt.worker, got, tt.want)
			}
		})
	}
}

func TestConsumesReadsAWorkersQueueList(t *testing.T) {
	for _, tt := range []struct {
		list, queue string
		want        bool
	}{
		{"missions", "missions", true},
		{"missions", "mission", false},
		{"high,low", "low", true},
		{"high=3,low=1", "high", true},
		{"high=3,low=1", "low=1", false},
		{"high,low", "high,low", false},
	} {
		if got := ops.Consumes(tt.list, tt.queue); got != tt.want {
			t.Errorf("Consumes(%q, %q) = %v, want %v", tt.list, tt.queue, got, tt.want)
		}
	}
}
