package dispatch_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/inproc"
	"github.com/palantir-lab/palantir/dispatch"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

func setup(t *testing.T) (*store.Store, *inproc.Queue, *telemetry.Recorder) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	tel := telemetry.NewRecorder(st, nil)
	t.Cleanup(func() { tel.Close(); st.Close() })
	q := inproc.NewBroker().Open(backends.Config{Queue: "q"})
	return st, q, tel
}

func orders(ids ...string) []mission.Order {
	var out []mission.Order
	for _, id := range ids {
		out = append(out, mission.Order{ID: id, Type: mission.Raven, Hero: "frodo", MaxAttempts: 3, Speed: 1, CreatedAt: time.Now()})
	}
	return out
}

func TestPublishStoresPublishesAndMarksQueued(t *testing.T) {
	ctx := context.Background()
	st, q, tel := setup(t)
	var published int
	d := &dispatch.Dispatcher{Store: st, Queue: q, Telemetry: tel, Backend: "inproc", QueueName: "q",
		OnPublish: func(_ time.Duration, n int) { published += n }}
	if err := d.Publish(ctx, orders("a", "b"), [][]byte{nil, []byte(`{"id":"b","custom":"body"}`)}); err != nil {
		t.Fatal(err)
	}
	ms, _ := st.Missions(ctx, []string{"a", "b"})
	if len(ms) != 2 || ms[0].Status != mission.Queued || ms[1].Status != mission.Queued || ms[0].Backend != "inproc" {
		t.Fatalf("missions after dispatch: %+v", ms)
	}
	if s, _ := q.Stats(ctx); s.Ready != 2 || published != 2 {
		t.Errorf("ready %d, OnPublish saw %d; want 2 and 2", s.Ready, published)
	}
	c, _ := q.Subscribe(ctx, backends.ConsumerOptions{})
	first, _ := c.Receive(ctx)
	second, _ := c.Receive(ctx)
	if o, err := mission.Decode(first.Received().Body); err != nil || o.ID != "a" {
		t.Errorf("a nil body is encoded from the order: %q, %v", first.Received().Body, err)
	}
	if string(second.Received().Body) != `{"id":"b","custom":"body"}` {
		t.Errorf("a given body is sent as it is: %q", second.Received().Body)
	}
	tel.Flush()
	evs, _ := st.Events(ctx, store.EventFilter{MissionID: "a"})
	if len(evs) != 2 || evs[0].Name != telemetry.MissionInvoked || evs[1].Name != telemetry.MissionQueued || evs[1].Service != "broker:inproc" {
		t.Errorf("events of a: %+v", evs)
	}
}

func TestRefusedPublishLeavesNothing(t *testing.T) {
	ctx := context.Background()
	st, q, tel := setup(t)
	q.Close()
	d := &dispatch.Dispatcher{Store: st, Queue: q, Telemetry: tel, Backend: "inproc", QueueName: "q"}
	if err := d.Publish(ctx, orders("x", "y"), nil); !errors.Is(err, backends.ErrClosed) {
		t.Fatalf("err = %v, want the broker's ErrClosed", err)
	}
	if n, _ := st.CountMissions(ctx); n != 0 {
		t.Errorf("%d missions left behind by a refused publish", n)
	}
}

// slowAck is a queue whose broker takes the messages at once but answers
// the publisher late, as a confirm does: a worker may start a mission
// before Publish returns.
type slowAck struct {
	backends.Publisher
	took time.Time
}

func (s *slowAck) Publish(ctx context.Context, msgs ...backends.Message) error {
	err := s.Publisher.Publish(ctx, msgs...)
	s.took = time.Now()
	time.Sleep(20 * time.Millisecond)
	return err
}

// mission_queued is stamped no later than the broker took the message: a
// stamp taken after Publish returned came after a fast worker's
// mission_started, and the dashboard drew a started mission back in the
// queue.
func TestQueuedIsStampedBeforeAWorkerCouldStart(t *testing.T) {
	ctx := context.Background()
	st, q, tel := setup(t)
	pub := &slowAck{Publisher: q}
	d := &dispatch.Dispatcher{Store: st, Queue: pub, Telemetry: tel, Backend: "inproc", QueueName: "q"}
	if err := d.Publish(ctx, orders("a"), nil); err != nil {
		t.Fatal(err)
	}
	tel.Flush()
	evs, _ := st.Events(ctx, store.EventFilter{MissionID: "a"})
	if len(evs) != 2 || evs[1].At.After(pub.took) {
		t.Errorf("mission_queued at %v, after the broker took the message at %v: %+v", evs[len(evs)-1].At, pub.took, evs)
	}
}
