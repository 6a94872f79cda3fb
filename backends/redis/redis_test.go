package redis_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
	"github.com/palantir-lab/palantir/backends/redis"
)

const lease = 300 * time.Millisecond

// server is a Redis reachable at PALANTIR_TEST_REDIS_URL, with a plain
// client for setting up and cleaning up behind the backend's back.
type server struct {
	url    string
	client goredis.UniversalClient

	mu      sync.Mutex
	cleaned map[string]bool
}

// needRedis skips t when Redis is unreachable, or fails it when
// PALANTIR_REQUIRE_SERVICES=1.
func needRedis(t testing.TB) *server {
	t.Helper()
	url := os.Getenv("PALANTIR_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := redis.Open(ctx, backends.Config{URL: url, Queue: "ptest-probe"})
	if err != nil {
		if os.Getenv("PALANTIR_REQUIRE_SERVICES") == "1" {
			t.Fatalf("Redis at %s is required (PALANTIR_REQUIRE_SERVICES=1): %v", backends.Redact(url), err)
		}
		t.Skipf("no Redis at %s (set PALANTIR_TEST_REDIS_URL): %v", backends.Redact(url), err)
	}
	q.Close()
	s := &server{url: url, client: plainClient(t, url), cleaned: map[string]bool{}}
	t.Cleanup(func() { s.client.Close() })
	return s
}

// open opens queue with lease l; when t ends it closes it and deletes
// the queue's keys.
func (s *server) open(t testing.TB, queue string, l time.Duration) *redis.Queue {
	t.Helper()
	return s.openWith(t, backends.Config{Queue: queue, Lease: l})
}

// openWith is open with more of the config; URL is the server's.
func (s *server) openWith(t testing.TB, cfg backends.Config) *redis.Queue {
	t.Helper()
	queue := cfg.Queue
	s.mu.Lock()
	if !s.cleaned[queue] {
		s.cleaned[queue] = true
		k := redis.Keys(queue)
		// Registered before the queue's own Close, so it runs after it.
		t.Cleanup(func() { s.client.Del(context.Background(), k.Stream, k.Delayed, k.Dead) })
	}
	s.mu.Unlock()
	cfg.URL = s.url
	q, err := redis.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", queue, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// plainClient connects to url as a student would, without the backend.
func plainClient(t testing.TB, url string) goredis.UniversalClient {
	t.Helper()
	if strings.Contains(url, "master_name=") {
		opts, err := goredis.ParseFailoverURL(url)
		if err != nil {
			t.Fatal(err)
		}
		return goredis.NewFailoverClient(opts)
	}
	if strings.Contains(url, "addr=") || strings.Contains(url, "cluster=") {
		opts, err := goredis.ParseClusterURL(strings.NewReplacer("cluster=true", "", "cluster=1", "").Replace(url))
		if err != nil {
			t.Fatal(err)
		}
		return goredis.NewClusterClient(opts)
	}
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return goredis.NewClient(opts)
}

func (s *server) harness() backendtest.Harness {
	return backendtest.Harness{
		Lease: lease,
		Open: func(t *testing.T, queue string) backends.Queue {
			return s.open(t, queue, lease)
		},
		OpenURL: func(ctx context.Context, url, queue string) (backends.Queue, error) {
			q, err := redis.Open(ctx, backends.Config{URL: url, Queue: queue, Lease: lease})
			if err != nil {
				return nil, err
			}
			return q, nil
		},
		Unreachable: "redis://:secret@127.0.0.1:1/0",
		BadURLs: []string{
			"redis://:secret@127.0.0.1:6379/0?sentinel=yes", // unknown parameter
			"redis://127.0.0.1:6379/0?password=secret",      // password in the query
			"amqp://:secret@127.0.0.1/",                     // not redis
			"redis://:secret@127.0.0.1/0?dial_timeout=soon", // bad duration
		},
		Restartable: restartableRedis,
		Inspect: func(t *testing.T, queue string) (backends.Queue, error) {
			q, err := redis.Open(context.Background(), backends.Config{URL: s.url, Queue: queue, Lease: lease, Inspect: true})
			if err == nil {
				t.Cleanup(func() { q.Close() })
			}
			return q, err
		},
		Exists: func(t *testing.T, queue string) bool {
			k := redis.Keys(queue)
			n, err := s.client.Exists(context.Background(), k.Stream, k.Delayed, k.Dead).Result()
			if err != nil {
				t.Fatal(err)
			}
			return n > 0
		},
		InjectRaw: func(t *testing.T, queue string, body []byte) {
			// What a student would do with redis-cli XADD: no id, no attempt.
			err := s.client.XAdd(context.Background(), &goredis.XAddArgs{
				Stream: redis.Keys(queue).Stream, Values: []any{"body", body},
			}).Err()
			if err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestConformance(t *testing.T) {
	s := needRedis(t)
	backendtest.Run(t, s.harness())
}

func TestKeys(t *testing.T) {
	got := redis.Keys("missions")
	want := redis.KeyNames{Stream: "palantir:{missions}", Delayed: "palantir:{missions}:delayed", Dead: "palantir:{missions}:dead"}
	if got != want {
		t.Errorf("Keys(missions) = %+v, want %+v", got, want)
	}
}

func TestRawEntries(t *testing.T) {
	s := needRedis(t)
	name := backendtest.QueueName(t)
	q := s.open(t, name, lease)
	defer q.Close()
	ctx := context.Background()
	stream := redis.Keys(name).Stream
	add := func(values ...any) string {
		id, err := s.client.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: values}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	tests := []struct {
		name   string
		values []any
		body   string
	}{
		{name: "one field", values: []any{"foo", "bar"}, body: "bar"},
		{name: "several fields", values: []any{"b", "2", "a", "1"}, body: `{"a":"1","b":"2"}`},
		{name: "bad attempt", values: []any{"body", "x", "attempt", "many"}, body: "x"},
	}
	c := backendtest.Subscribe(t, q, "raw", 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := add(tt.values...)
			d := backendtest.Receive(t, c, 5*time.Second)
			got := d.Received()
			if got.ID != sid || string(got.Body) != tt.body || got.Attempt != 1 || got.Redelivered {
				t.Errorf("got id %s body %q attempt %d redelivered %v, want %s %q 1 false",
					got.ID, got.Body, got.Attempt, got.Redelivered, sid, tt.body)
			}
			if err := d.DeadLetter(ctx, "raw"); err != nil {
				t.Fatalf("DeadLetter: %v", err)
			}
		})
	}
	replayed, err := q.Replay(ctx)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if len(replayed) != len(tests) {
		t.Errorf("replayed %v, want %d ids", replayed, len(tests))
	}
}

func TestLeaseLost(t *testing.T) {
	s := needRedis(t)
	name := backendtest.QueueName(t)
	ctx := context.Background()
	q := s.open(t, name, lease)
	defer q.Close()
	if err := q.Publish(ctx, backends.Message{ID: "slow", Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	slow := backendtest.Subscribe(t, q, "slow", 1)
	first := backendtest.Receive(t, slow, 5*time.Second)
	time.Sleep(lease + 100*time.Millisecond)

	t.Run("another consumer", func(t *testing.T) {
		thief := backendtest.Subscribe(t, s.open(t, name, lease), "thief", 1)
		again := backendtest.Receive(t, thief, 5*time.Second)
		if got := again.Received(); got.ID != "slow" || !got.Redelivered || got.Attempt != 1 {
			t.Fatalf("reclaimed %s redelivered %v attempt %d, want slow true 1", got.ID, got.Redelivered, got.Attempt)
		}
		if err := first.Extend(ctx); !errors.Is(err, backends.ErrLeaseLost) {
			t.Errorf("Extend of the lost delivery: %v, want ErrLeaseLost", err)
		}
		if err := first.Ack(ctx); !errors.Is(err, backends.ErrLeaseLost) {
			t.Errorf("Ack of the lost delivery: %v, want ErrLeaseLost", err)
		}
		// The thief's Release must work although the first Ack was tried.
		if err := again.Release(ctx); err != nil {
			t.Fatalf("Release by the new holder: %v", err)
		}
	})
	t.Run("the same consumer", func(t *testing.T) {
		d1 := backendtest.Receive(t, slow, 5*time.Second)
		time.Sleep(lease + 100*time.Millisecond)
		d2 := backendtest.Receive(t, slow, 5*time.Second)
		if d2.Received().ID != "slow" || !d2.Received().Redelivered {
			t.Fatalf("got %+v, want slow redelivered", d2.Received())
		}
		if err := d1.Ack(ctx); !errors.Is(err, backends.ErrLeaseLost) {
			t.Errorf("Ack of the earlier delivery: %v, want ErrLeaseLost", err)
		}
		if err := d2.Ack(ctx); err != nil {
			t.Errorf("Ack of the current delivery: %v", err)
		}
	})
	st, err := q.Stats(ctx)
	if err != nil || st != (backends.Stats{}) {
		t.Errorf("Stats = %+v, %v; want all zero", st, err)
	}
}

// TestConcurrentAcksShareBatches acks many deliveries at once, one of
// them with a lost lease: acks share round trips (acker.go), but each
// keeps its own outcome.
func TestConcurrentAcksShareBatches(t *testing.T) {
	s := needRedis(t)
	name := backendtest.QueueName(t)
	ctx := context.Background()
	q := s.open(t, name, lease)
	defer q.Close()
	const n = 200
	msgs := make([]backends.Message, n)
	for i := range msgs {
		msgs[i] = backends.Message{ID: fmt.Sprintf("m%03d", i), Body: []byte("{}")}
	}
	if err := q.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	c := backendtest.Subscribe(t, q, "many", n)
	ds := make([]backends.Delivery, n)
	for i := range ds {
		ds[i] = backendtest.Receive(t, c, 5*time.Second)
	}
	// The first delivery's lease expires and another consumer takes it.
	time.Sleep(lease + 100*time.Millisecond)
	for _, d := range ds[1:] {
		if err := d.Extend(ctx); err != nil {
			t.Fatalf("Extend: %v", err)
		}
	}
	thief := backendtest.Receive(t, backendtest.Subscribe(t, s.open(t, name, lease), "thief", 1), 5*time.Second)
	if thief.Received().ID != ds[0].Received().ID {
		t.Fatalf("thief got %s, want %s", thief.Received().ID, ds[0].Received().ID)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() { errs[i] = d.Ack(ctx) })
	}
	wg.Wait()
	if !errors.Is(errs[0], backends.ErrLeaseLost) {
		t.Errorf("Ack of the stolen delivery: %v, want ErrLeaseLost", errs[0])
	}
	for i, err := range errs[1:] {
		if err != nil {
			t.Errorf("Ack of %s: %v", ds[i+1].Received().ID, err)
		}
	}
	if err := ds[1].Ack(ctx); !errors.Is(err, backends.ErrSettled) {
		t.Errorf("second Ack: %v, want ErrSettled", err)
	}
	if st, err := q.Stats(ctx); err != nil || st.InFlight != 1 || st.Ready != 0 {
		t.Errorf("Stats = %+v, %v; want only the thief's delivery in flight", st, err)
	}
	if err := thief.Ack(ctx); err != nil {
		t.Errorf("thief's Ack: %v", err)
	}
}

// TestCloseGivesBackBuffer checks that entries read ahead into a
// consumer's buffer come back at once when it closes, not after the lease.
func TestCloseGivesBackBuffer(t *testing.T) {
	s := needRedis(t)
	name := backendtest.QueueName(t)
	ctx := context.Background()
	q := s.open(t, name, time.Minute)
	defer q.Close()
	var msgs []backends.Message
	for i := range 3 {
		msgs = append(msgs, backends.Message{ID: fmt.Sprint(i), Body: []byte("{}")})
	}
	if err := q.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	greedy, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: "greedy", Prefetch: 10})
	if err != nil {
		t.Fatal(err)
	}
	held := backendtest.Receive(t, greedy, 5*time.Second)
	if err := greedy.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := greedy.Receive(ctx); !errors.Is(err, backends.ErrClosed) {
		t.Errorf("Receive after Close: %v, want ErrClosed", err)
	}
	other := backendtest.Subscribe(t, q, "other", 10)
	for range 2 {
		d := backendtest.Receive(t, other, 2*time.Second)
		if d.Received().ID == held.Received().ID || d.Received().Redelivered {
			t.Errorf("got %+v, want one of the buffered messages, not redelivered", d.Received())
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := held.Ack(ctx); err != nil {
		t.Errorf("Ack of a delivery handed out before Close: %v", err)
	}
}

func TestCloseWakesReceive(t *testing.T) {
	s := needRedis(t)
	q := s.open(t, backendtest.QueueName(t), time.Minute) // blocks of a second
	c := backendtest.Subscribe(t, q, "c", 1)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Receive(context.Background())
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	q.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, backends.ErrClosed) {
			t.Errorf("Receive after the queue closed: %v, want ErrClosed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Receive still blocked 3s after the queue closed")
	}
}

func TestDelayedStatsAndPurge(t *testing.T) {
	s := needRedis(t)
	name := backendtest.QueueName(t)
	ctx := context.Background()
	q := s.open(t, name, lease)
	defer q.Close()
	if err := q.Publish(ctx, backends.Message{ID: "a"}, backends.Message{ID: "b"}, backends.Message{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	c := backendtest.Subscribe(t, q, "c", 1)
	a := backendtest.Receive(t, c, 5*time.Second)
	b := backendtest.Receive(t, c, 5*time.Second)
	if err := a.Retry(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	want := backends.Stats{Ready: 1, InFlight: 1, Delayed: 1}
	if got, err := q.Stats(ctx); err != nil || got != want {
		t.Errorf("Stats = %+v, %v; want %+v", got, err, want)
	}
	n, err := q.Purge(ctx)
	if err != nil || n != 2 {
		t.Errorf("Purge = %d, %v; want 2 (one ready, one delayed)", n, err)
	}
	want = backends.Stats{InFlight: 1}
	if got, err := q.Stats(ctx); err != nil || got != want {
		t.Errorf("Stats after Purge = %+v, %v; want %+v", got, err, want)
	}
	if err := b.Ack(ctx); err != nil {
		t.Errorf("Ack of the in-flight delivery after Purge: %v", err)
	}
}

func TestConsumerLeavesNoName(t *testing.T) {
	s := needRedis(t)
	name := backendtest.QueueName(t)
	q := s.open(t, name, lease)
	defer q.Close()
	c, err := q.Subscribe(context.Background(), backends.ConsumerOptions{Name: "w"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	c.Receive(ctx) // registers the consumer with the group
	cancel()
	c.Close()
	cs, err := s.client.XInfoConsumers(context.Background(), redis.Keys(name).Stream, redis.Group).Result()
	if err != nil || len(cs) != 0 {
		t.Errorf("consumers after Close: %+v, %v; want none", cs, err)
	}
}

func BenchmarkPublishReceiveAck(b *testing.B) {
	s := needRedis(b)
	q := s.open(b, fmt.Sprintf("pbench-%d", os.Getpid()), time.Minute)
	defer q.Close()
	ctx := context.Background()
	c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: "bench", Prefetch: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	body := []byte(`{"type":"raven","hero":"gandalf"}`)
	const batch = 64
	msgs := make([]backends.Message, batch)
	for i := range msgs {
		msgs[i] = backends.Message{ID: fmt.Sprint(i), Body: body}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		if err := q.Publish(ctx, msgs[:n]...); err != nil {
			b.Fatal(err)
		}
		for range n {
			d, err := c.Receive(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := d.Ack(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestReleaseKeepsDeliveryCount: a Release appends a new stream entry,
// whose group counter starts again at 1, but a release is not a delivery
// without an outcome, so the count goes on from the released copy's.
func TestReleaseKeepsDeliveryCount(t *testing.T) {
	s := needRedis(t)
	name := backendtest.QueueName(t)
	ctx := context.Background()
	q := s.open(t, name, lease)
	if err := q.Publish(ctx, backends.Message{ID: "crashy", Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	c := backendtest.Subscribe(t, q, "c", 1)
	first := backendtest.Receive(t, c, 5*time.Second)
	time.Sleep(lease + 100*time.Millisecond) // as if its worker had died
	second := backendtest.Receive(t, c, 5*time.Second)
	if got := []int{first.Received().Deliveries, second.Received().Deliveries}; got[0] != 1 || got[1] != 2 {
		t.Fatalf("deliveries %v, want [1 2]", got)
	}
	if err := second.Release(ctx); err != nil {
		t.Fatal(err)
	}
	third := backendtest.Receive(t, c, 5*time.Second)
	if got := third.Received(); got.Deliveries != 2 || !got.Redelivered {
		t.Errorf("after Release: deliveries %d redelivered %v, want 2 true", got.Deliveries, got.Redelivered)
	}
	if err := third.Ack(ctx); err != nil {
		t.Fatal(err)
	}
}

// A consumer whose buffered entries outlived their lease (its process was
// slow to ask for them) must not hand out one that another consumer has
// taken meanwhile: that is a duplicate to a live consumer, whose ack then
// fails. Seen under load in the conformance suite's concurrent case.
func TestStaleBufferedEntriesAreNotHandedOutTwice(t *testing.T) {
	s := needRedis(t)
	name := fmt.Sprintf("ptest-stale-%d", time.Now().UnixNano())
	slow := backendtest.Subscribe(t, s.open(t, name, lease), "slow", 10)
	pub := s.open(t, name, lease)
	var msgs []backends.Message
	for i := range 10 {
		msgs = append(msgs, backends.Message{ID: fmt.Sprintf("s%d", i), Body: []byte("x")})
	}
	if err := pub.Publish(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	first := backendtest.Receive(t, slow, 5*time.Second) // the rest wait in its buffer
	if err := first.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * lease)
	fast := backendtest.Subscribe(t, s.open(t, name, lease), "fast", 10)
	got := map[string]string{}
	for len(got) < 9 {
		d := backendtest.Receive(t, fast, 5*lease+5*time.Second)
		got[d.Received().ID] = "fast"
		if err := d.Ack(context.Background()); err != nil {
			t.Fatalf("fast ack %s: %v", d.Received().ID, err)
		}
		if len(got) == 1 {
			break // the fast one holds the rest in its own buffer now
		}
	}
	for {
		rc, cancel := context.WithTimeout(context.Background(), 3*lease)
		d, err := slow.Receive(rc)
		cancel()
		if err != nil {
			break
		}
		if err := d.Ack(context.Background()); err != nil {
			t.Errorf("the slow consumer handed out %s, taken by another: ack: %v", d.Received().ID, err)
		}
	}
}

// Replay pages through the dead letters: matches on every page are found,
// each replayed once, whatever the page size.
func TestReplayAcrossPages(t *testing.T) {
	s := needRedis(t)
	name := fmt.Sprintf("ptest-replay-%d", time.Now().UnixNano())
	q := s.open(t, name, lease)
	keys := redis.Keys(name)
	t.Cleanup(func() { s.client.Del(context.Background(), keys.Stream, keys.Delayed, keys.Dead) })
	for i := range 250 {
		err := s.client.XAdd(context.Background(), &goredis.XAddArgs{Stream: keys.Dead,
			Values: []any{"id", fmt.Sprintf("d%03d", i), "body", "x", "attempt", "2", "reason", "test"}}).Err()
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := q.Replay(context.Background(), "d005", "d150", "d249", "d150", "nope")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[d005 d150 d249]" {
		t.Errorf("replayed %v, want [d005 d150 d249]", got)
	}
	rest, err := q.Replay(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 247 {
		t.Errorf("replaying all replayed %d, want the other 247", len(rest))
	}
	if n, _ := s.client.XLen(context.Background(), keys.Stream).Result(); n != 250 {
		t.Errorf("the work stream holds %d, want 250", n)
	}
}
