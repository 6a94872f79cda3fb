package worker_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/worker"
)

// TestPausedQueueTakesNothingUntilResumed: while the store says the queue
// is paused, a worker starts nothing (the missions stay QUEUED, their
// messages held with their leases kept); resumed, it runs them. It says
// each change once.
func TestPausedQueueTakesNothingUntilResumed(t *testing.T) {
	r := newRig(t)
	q := r.open()
	ctx := context.Background()
	if _, err := r.st.PauseQueue(ctx, "inproc", r.queue, time.Now()); err != nil {
		t.Fatal(err)
	}
	r.launch(q, r.order("p1", mission.Raven, 0, 3), r.order("p2", mission.Raven, 0, 3))
	var log lines
	w := r.worker("eagle1", q, func(c *worker.Config) { c.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	resumed := time.Time{}
	r.runUntil(w, "both missions final after the resume", func() bool {
		if resumed.IsZero() {
			if !strings.Contains(log.String(), "paused") {
				return false
			}
			time.Sleep(4 * lease) // leases would have lapsed by now if nobody kept them
			for _, id := range []string{"p1", "p2"} {
				if m := r.mission(id); m.Status != mission.Queued {
					t.Fatalf("%s is %s while its queue is paused", id, m.Status)
				}
			}
			if _, err := r.st.ResumeQueue(ctx, "inproc", r.queue); err != nil {
				t.Fatal(err)
			}
			resumed = time.Now()
		}
		return r.final("p1", "p2")()
	})
	for _, id := range []string{"p1", "p2"} {
		if m := r.mission(id); m.Status != mission.Success || m.Attempt != 1 {
			t.Errorf("%s after the resume: %s at attempt %d, want SUCCESS at 1", id, m.Status, m.Attempt)
		}
		for _, e := range r.eventNames(id) {
			if e == "mission_retry" {
				t.Errorf("%s was retried", id)
			}
		}
	}
	if n := strings.Count(log.String(), "queue paused"); n != 1 || !strings.Contains(log.String(), "queue resumed") {
		t.Errorf("log says paused %d times (want 1) and resumed: %s", n, log.String())
	}
}
