package redis_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
	"github.com/palantir-lab/palantir/backends/redis"
)

// smallLimit keeps the oversized entries of these tests cheap: tens of
// KiB stand for the 100 MB a stranger could XADD.
const smallLimit = 1 << 10

// receiveAll receives n deliveries, acks them and returns their ids,
// failing if any body is over the limit.
func receiveAll(t *testing.T, c backends.Consumer, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		d := backendtest.Receive(t, c, 5*time.Second)
		if got := len(d.Received().Body); got > smallLimit {
			t.Fatalf("received %s with %d bytes, over the limit of %d", d.Received().ID, got, smallLimit)
		}
		ids = append(ids, d.Received().ID)
		if err := d.Ack(context.Background()); err != nil {
			t.Fatalf("Ack %s: %v", d.Received().ID, err)
		}
	}
	slices.Sort(ids)
	return ids
}

// checkDeadLetters wants exactly the dead letters ids (with their bodies
// of the given sizes), each with the size reason.
func checkDeadLetters(t *testing.T, q backends.Queue, sizes map[string]int) {
	t.Helper()
	dls, err := q.DeadLetters(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != len(sizes) {
		t.Fatalf("%d dead letters, want %d: %+v", len(dls), len(sizes), dls)
	}
	for _, dl := range dls {
		n, ok := sizes[dl.ID]
		if !ok {
			t.Errorf("dead letter %s, want one of %v", dl.ID, sizes)
			continue
		}
		if len(dl.Body) != n {
			t.Errorf("dead letter %s has %d bytes, want its whole body of %d", dl.ID, len(dl.Body), n)
		}
		want := fmt.Sprintf("message of %d bytes is over the limit of %d (max_message_size)", n, smallLimit)
		if !strings.Contains(dl.Reason, want) {
			t.Errorf("dead letter %s reason %q, want it to say %q", dl.ID, dl.Reason, want)
		}
		if dl.DeadAt.IsZero() {
			t.Errorf("dead letter %s has no time", dl.ID)
		}
	}
}

func xadd(t *testing.T, s *server, queue string, values ...any) string {
	t.Helper()
	id, err := s.client.XAdd(context.Background(), &goredis.XAddArgs{Stream: redis.Keys(queue).Stream, Values: values}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestOversizedEntriesAreDeadLettered: entries over the limit that a
// stranger put in the stream are dead-lettered by the backend, not handed
// to the worker, and what waits behind them is delivered.
func TestOversizedEntriesAreDeadLettered(t *testing.T) {
	s := needRedis(t)
	name := backendtest.QueueName(t)
	ctx := context.Background()
	q := s.openWith(t, backends.Config{Queue: name, Lease: lease, MaxMessageBytes: smallLimit})
	big := strings.Repeat("x", 40<<10)
	xadd(t, s, name, "id", "big", "body", big, "attempt", 2)
	raw := xadd(t, s, name, "body", big[:30<<10])
	other := xadd(t, s, name, "payload", big[:20<<10])
	if err := q.Publish(ctx, messages("ok", 2)...); err != nil {
		t.Fatal(err)
	}
	c := backendtest.Subscribe(t, q, "c", 10)
	if got, want := receiveAll(t, c, 2), []string{"ok-000", "ok-001"}; !slices.Equal(got, want) {
		t.Errorf("received %v, want %v", got, want)
	}
	checkDeadLetters(t, q, map[string]int{"big": 40 << 10, raw: 30 << 10, other: 20 << 10})
	if st, err := q.Stats(ctx); err != nil || st != (backends.Stats{DeadLetters: 3}) {
		t.Errorf("Stats = %+v, %v; want only the 3 dead letters", st, err)
	}
}

// TestOversizedPendingEntryIsDeadLetteredOnReclaim: an oversized entry
// pending on a consumer that died (an older worker read it) is
// dead-lettered when its lease expires instead of being reclaimed, with
// its body, by every lease.
func TestOversizedPendingEntryIsDeadLetteredOnReclaim(t *testing.T) {
	s := needRedis(t)
	name := backendtest.QueueName(t)
	ctx := context.Background()
	q := s.openWith(t, backends.Config{Queue: name, Lease: lease, MaxMessageBytes: smallLimit})
	c := backendtest.Subscribe(t, q, "c", 10)
	backendtest.ExpectNothing(t, c, 50*time.Millisecond) // the group exists
	stream := redis.Keys(name).Stream
	xadd(t, s, name, "id", "big", "body", strings.Repeat("x", 40<<10), "attempt", 1)
	if err := s.client.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group: redis.Group, Consumer: "dead-worker", Streams: []string{stream, ">"}, Count: 1,
	}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := q.Publish(ctx, messages("ok", 1)...); err != nil {
		t.Fatal(err)
	}
	if got := receiveAll(t, c, 1); !slices.Equal(got, []string{"ok-000"}) {
		t.Errorf("received %v, want ok-000", got)
	}
	time.Sleep(lease + 100*time.Millisecond)
	backendtest.ExpectNothing(t, c, 3*lease)
	checkDeadLetters(t, q, map[string]int{"big": 40 << 10})
}

// TestOversizedEntryArrivingDuringBlock: an idle consumer waits in a
// blocking read; an oversized entry that arrives then is dead-lettered
// too, and the message after it delivered.
func TestOversizedEntryArrivingDuringBlock(t *testing.T) {
	s := needRedis(t)
	name := backendtest.QueueName(t)
	q := s.openWith(t, backends.Config{Queue: name, Lease: 2 * time.Second, MaxMessageBytes: smallLimit})
	c := backendtest.Subscribe(t, q, "c", 10)
	type result struct {
		d   backends.Delivery
		err error
	}
	got := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := c.Receive(ctx)
		got <- result{d, err}
	}()
	time.Sleep(200 * time.Millisecond) // Receive is blocked in XREADGROUP
	xadd(t, s, name, "id", "big", "body", strings.Repeat("x", 40<<10))
	if err := q.Publish(context.Background(), messages("ok", 1)...); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("Receive: %v", r.err)
	}
	if rec := r.d.Received(); rec.ID != "ok-000" {
		t.Fatalf("received %s (%d bytes), want ok-000", rec.ID, len(rec.Body))
	}
	if err := r.d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkDeadLetters(t, q, map[string]int{"big": 40 << 10})
}

// TestPollBudget: one poll reads no more than its byte budget (but at
// least one entry), whatever the prefetch.
func TestPollBudget(t *testing.T) {
	s := needRedis(t)
	tests := []struct {
		name       string
		budget     int
		maxPerPoll int
	}{
		{name: "eight KiB", budget: 8 << 10, maxPerPoll: 8},
		{name: "less than one message", budget: 1, maxPerPoll: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := backendtest.QueueName(t)
			q := s.openWith(t, backends.Config{Queue: name, Lease: time.Minute, MaxMessageBytes: smallLimit})
			redis.SetPollBudget(q, tt.budget)
			msgs := messages("m", 20)
			for i := range msgs {
				msgs[i].Body = []byte(strings.Repeat("y", 1000))
			}
			if err := q.Publish(context.Background(), msgs...); err != nil {
				t.Fatal(err)
			}
			c := backendtest.Subscribe(t, q, "c", 20)
			d := backendtest.Receive(t, c, 5*time.Second)
			if n := redis.Buffered(c) + 1; n > tt.maxPerPoll {
				t.Errorf("one poll read %d entries of 1000 bytes, want at most %d for a budget of %d bytes", n, tt.maxPerPoll, tt.budget)
			}
			d.Ack(context.Background())
			if got := receiveAll(t, c, 19); len(got) != 19 {
				t.Errorf("received %d more, want 19", len(got))
			}
		})
	}
}

// messages returns n small messages with ids prefix-000, prefix-001, ….
func messages(prefix string, n int) []backends.Message {
	out := make([]backends.Message, n)
	for i := range out {
		out[i] = backends.Message{ID: fmt.Sprintf("%s-%03d", prefix, i), Body: []byte("{}")}
	}
	return out
}
