package dispatch_test

import (
	"context"
	"runtime"
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

// dying publishes nothing: its Publish ends the goroutine that called it,
// as if the process died while the broker had the messages unanswered.
type dying struct{ backends.Publisher }

func (dying) Publish(context.Context, ...backends.Message) error {
	runtime.Goexit()
	return nil
}

// TestALaunchThatDiesBeforePublishingIsPublishedAfterTheLease: a launcher
// that dies between recording its missions and publishing them leaves
// them PENDING; the queue's other processes (PublishDue) publish them once
// RecoverAfter has passed, not before. A launch that did publish leaves
// nothing for them to publish again.
func TestALaunchThatDiesBeforePublishingIsPublishedAfterTheLease(t *testing.T) {
	ctx := context.Background()
	st, q, tel := setup(t)
	died := &dispatch.Dispatcher{Store: st, Queue: dying{q}, Telemetry: tel, Backend: "inproc", QueueName: "q", RecoverAfter: time.Minute}
	done := make(chan struct{})
	lost := orders("orphan1", "orphan2")
	lost[1].Type, lost[1].Kind = "courier", &mission.Kind{Stages: []mission.Stage{{Name: "ride", Duration: time.Second}}, BasePoints: 7}
	go func() {
		defer close(done)
		_ = died.Publish(ctx, lost, nil)
	}()
	<-done
	ok := &dispatch.Dispatcher{Store: st, Queue: q, Telemetry: tel, Backend: "inproc", QueueName: "q", RecoverAfter: time.Minute}
	if err := ok.Publish(ctx, orders("fine"), nil); err != nil {
		t.Fatal(err)
	}
	ms, _ := st.Missions(ctx, []string{"orphan1", "orphan2"})
	for _, m := range ms {
		if m.Status != mission.Pending || !m.DueAt.IsZero() {
			t.Fatalf("%s after its launcher died: %s due %v, want PENDING with no due time", m.ID, m.Status, m.DueAt)
		}
	}
	if n, err := ok.PublishDue(ctx, time.Now().Add(50*time.Second)); err != nil || n != 0 {
		t.Errorf("published %d (%v) before the lease ran out", n, err)
	}
	if n, err := ok.PublishDue(ctx, time.Now().Add(61*time.Second)); err != nil || n != 2 {
		t.Errorf("PublishDue after the lease: %d, %v; want the 2 orphans (not fine, which was published)", n, err)
	}
	ms, _ = st.Missions(ctx, []string{"orphan1", "orphan2", "fine"})
	for _, m := range ms {
		if m.Status != mission.Queued {
			t.Errorf("%s is %s, want QUEUED", m.ID, m.Status)
		}
	}
	if s, _ := q.Stats(ctx); s.Ready != 3 {
		t.Errorf("the queue holds %d messages, want 3: the two orphans and fine, once each", s.Ready)
	}
	st.Flush()
	if n, err := ok.PublishDue(ctx, time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("published %d (%v) again an hour later", n, err)
	}
	// The orders rebuilt from the rows are the ones launched.
	c, _ := q.Subscribe(ctx, backends.ConsumerOptions{Prefetch: 3})
	for range 3 {
		d, _ := c.Receive(ctx)
		o, err := mission.Decode(d.Received().Body)
		want := orders(d.Received().ID)[0]
		if o.ID == "orphan2" {
			want = lost[1]
		}
		if err != nil || o.ID != want.ID || o.Type != want.Type || o.Seed != want.Seed || o.Hero != want.Hero ||
			(want.Kind != nil && (o.Kind == nil || o.Kind.BasePoints != 7 || len(o.Kind.Stages) != 1)) {
			t.Errorf("published %+v (%v), want %+v", o, err, want)
		}
	}
}
