package worker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/worker"
)

// TestCancelStopsARunningMissionAndDropsAWaitingOne: a mission cancelled
// while it waits in the queue is acknowledged unrun when a worker takes
// it; one cancelled while it runs stops within a heartbeat, unscored, and
// its message is acknowledged too. Neither is retried or dead-lettered.
func TestCancelStopsARunningMissionAndDropsAWaitingOne(t *testing.T) {
	r := newRig(t)
	q := r.open()
	waiting, running := r.order("wait", mission.Raven, 0, 3), r.order("run", mission.Recon, 0, 3)
	running.Speed = 1 // five seconds of work
	r.launch(q, waiting, running)
	ctx := context.Background()
	if got, err := r.st.Cancel(ctx, []string{"wait"}, time.Now()); err != nil || len(got) != 1 {
		t.Fatalf("Cancel(wait) = %v, %v", got, err)
	}
	results := make(chan worker.Result, 4)
	w := r.worker("eagle1", q, func(c *worker.Config) {
		c.Observe = func(o worker.Observation) { results <- o.Result }
	})
	var cancelledAt time.Time
	r.runUntil(w, "both settled", func() bool {
		if cancelledAt.IsZero() && r.mission("run").Status == mission.Processing {
			if _, err := r.st.Cancel(ctx, []string{"run"}, time.Now()); err != nil {
				t.Fatal(err)
			}
			cancelledAt = time.Now()
		}
		return len(results) == 2
	})
	if took := time.Since(cancelledAt); cancelledAt.IsZero() || took > 2*time.Second {
		t.Errorf("the running mission stopped %v after its cancel, want within a heartbeat or two", took)
	}
	got := []worker.Result{<-results, <-results}
	if !slices.Equal(got, []worker.Result{worker.Cancelled, worker.Cancelled}) {
		t.Errorf("results %v, want both cancelled", got)
	}
	for _, id := range []string{"wait", "run"} {
		if m := r.mission(id); m.Status != mission.Failure || m.Error != store.CancelledReason || m.Score != 0 {
			t.Errorf("%s: %s %q score %d, want FAILURE cancelled, unscored", id, m.Status, m.Error, m.Score)
		}
	}
	if names := r.eventNames("wait"); slices.Contains(names, "mission_started") {
		t.Errorf("the cancelled waiting mission ran: %v", names)
	}
	if names := r.eventNames("run"); slices.Contains(names, "mission_completed") || slices.Contains(names, "mission_retry") {
		t.Errorf("the cancelled running mission went on: %v", names)
	}
	s, err := q.Stats(ctx)
	if err != nil || s != (backends.Stats{}) {
		t.Errorf("queue after both: %+v, %v; want empty", s, err)
	}
	if dead, _ := r.st.ListDeadLetters(ctx, r.queue, 0); len(dead) != 0 {
		t.Errorf("cancelled missions were dead-lettered: %+v", dead)
	}
}
