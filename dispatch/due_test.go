package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/dispatch"
	"github.com/palantir-lab/palantir/mission"
)

// TestPublishLaterWaitsUntilDue: a mission launched for later is PENDING
// with nothing in the broker; PublishDue before it is due publishes
// nothing; when due it publishes it once, QUEUED; a cancelled one is
// dropped, never published.
func TestPublishLaterWaitsUntilDue(t *testing.T) {
	ctx := context.Background()
	st, q, tel := setup(t)
	d := &dispatch.Dispatcher{Store: st, Queue: q, Telemetry: tel, Backend: "inproc", QueueName: "q"}
	due := time.Now().Add(time.Hour)
	if err := d.PublishLater(ctx, orders("later", "never"), due); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Cancel(ctx, []string{"never"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if s, _ := q.Stats(ctx); s.Ready != 0 {
		t.Fatalf("published before due: %+v", s)
	}
	if n, err := d.PublishDue(ctx, due.Add(-time.Second)); err != nil || n != 0 {
		t.Errorf("PublishDue before due: %d, %v", n, err)
	}
	if n, err := d.PublishDue(ctx, due); err != nil || n != 1 {
		t.Errorf("PublishDue when due: %d, %v; want 1", n, err)
	}
	if n, _ := d.PublishDue(ctx, due.Add(time.Hour)); n != 0 {
		t.Errorf("published again: %d", n)
	}
	ms, _ := st.Missions(ctx, []string{"later", "never"})
	if ms[0].Status != mission.Queued || ms[1].Status != mission.Failure {
		t.Errorf("after PublishDue: later %s, never %s; want QUEUED and FAILURE", ms[0].Status, ms[1].Status)
	}
	c, _ := q.Subscribe(ctx, backends.ConsumerOptions{})
	got, _ := c.Receive(ctx)
	if o, err := mission.Decode(got.Received().Body); err != nil || o.ID != "later" || got.Received().Attempt != 1 {
		t.Errorf("published %q attempt %d (%v), want later's order as attempt 1", got.Received().Body, got.Received().Attempt, err)
	}
	if s, _ := q.Stats(ctx); s.Ready != 0 {
		t.Errorf("the cancelled one was published too: %+v", s)
	}
}
