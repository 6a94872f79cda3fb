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
			rows, err := ops.Summary(ctx, st, tt.now, "redis", "q", stats)
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
