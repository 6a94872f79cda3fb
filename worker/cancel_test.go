package worker_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
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

// TestCancelledWhileItFinishedIsNotSaidCompleted: a mission cancelled in
// the last moment, which finishes before a heartbeat stops it, is not
// recorded, and neither the trace nor the worker's log says it completed.
func TestCancelledWhileItFinishedIsNotSaidCompleted(t *testing.T) {
	r := newRig(t)
	q := r.open()
	o := r.order("late", mission.Raven, 0, 3)
	o.Speed = 2 // half a second of work
	r.launch(q, o)
	var log lines
	results := make(chan worker.Result, 1)
	w := r.worker("eagle1", q, func(c *worker.Config) {
		c.HeartbeatEvery = time.Hour // no heartbeat reads the cancel: it finishes first
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
		c.Observe = func(ob worker.Observation) { results <- ob.Result }
	})
	cancelled := false
	r.runUntil(w, "the mission settled", func() bool {
		if !cancelled && r.mission("late").Status == mission.Processing {
			if _, err := r.st.Cancel(context.Background(), []string{"late"}, time.Now()); err != nil {
				t.Fatal(err)
			}
			cancelled = true
		}
		return len(results) == 1
	})
	if got := <-results; got != worker.Cancelled {
		t.Errorf("result %s, want cancelled", got)
	}
	if names := r.eventNames("late"); slices.Contains(names, "mission_completed") {
		t.Errorf("events say it completed: %v", names)
	}
	if !strings.Contains(log.String(), "cancelled") {
		t.Errorf("the worker did not say the mission was cancelled:\n%s", log.String())
	}
}
