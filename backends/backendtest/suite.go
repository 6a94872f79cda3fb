// Package backendtest is the conformance suite every backend runs. A
// backend joins with a short harness (see Harness); no backend may opt out
// of a guarantee, only tell the suite how to set itself up.
package backendtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// Harness tells the suite how to reach one backend.
type Harness struct {
	// Open connects to queue as a new, independent client, as another
	// process would; the suite closes what it opens (Close twice is part of
	// the contract). Open must use Lease as its visibility timeout.
	Open func(t *testing.T, queue string) backends.Queue
	// Lease is the visibility timeout; the suite waits a few of them for a
	// dead consumer's message to come back. Keep it short (~300ms).
	Lease time.Duration
	// InjectRaw puts a message on queue the way a stranger would with the
	// broker's own tools: a body that is not a mission, and none of
	// palantir's metadata.
	InjectRaw func(t *testing.T, queue string, body []byte)

	// OpenURL opens queue at another URL of this backend, for the cases
	// below; nil when the backend has no URL (inproc).
	OpenURL func(ctx context.Context, url, queue string) (backends.Queue, error)
	// Unreachable is a URL of this backend at a closed loopback port,
	// holding the password "secret": Open must fail within a few seconds
	// with ErrUnreachable, naming the URL redacted, never the password.
	Unreachable string
	// BadURLs are URLs Open must refuse with ErrBadURL, each holding the
	// password "secret", which the error must not show.
	BadURLs []string
	// Restartable starts a private server of this backend that the test
	// may restart (stop and start on the same data), and returns a URL on
	// it and the restart; nil when the backend has no server of its own.
	// A pending and a waiting message must both come back after it.
	Restartable func(t *testing.T) (url string, restart func())
	// RestartForgetsRecentDeliveries is set for a broker that records a
	// delivery on disk a moment after making it, in the background
	// (JetStream's consumer state, about 10 ms later): a restart that
	// kills it in that moment brings the pending message back as a first
	// delivery. It still comes back; only its redelivered mark may not.
	RestartForgetsRecentDeliveries bool

	// Inspect opens queue with Config.Inspect set, as status and doctor
	// do; the suite closes it. Open may say ErrNoQueue itself (a SQLite
	// file that does not exist).
	Inspect func(t *testing.T, queue string) (backends.Queue, error)
	// Exists says whether the broker holds any object of queue (a stream,
	// a declared queue, a key, a row), asked with the broker's own client,
	// not through palantir.
	Exists func(t *testing.T, queue string) bool
}

// Run runs every conformance test against h.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"PublishReceiveAck", testPublishReceiveAck},
		{"ConcurrentConsumersShareWithoutLoss", testConcurrentConsumers},
		{"DeadConsumerMessagesAreRedelivered", testDeadConsumer},
		{"ExtendKeepsTheLease", testExtend},
		{"RetryWithDelay", testRetryWithDelay},
		{"ReleaseReturnsSameAttempt", testRelease},
		{"DeadLetterAndReplay", testDeadLetterAndReplay},
		{"RawMessageIsDeliveredAndDeadLettered", testRawMessage},
		{"SettleTwice", testSettleTwice},
		{"CancelReceive", testCancelReceive},
		{"CloseTwice", testCloseTwice},
		{"Purge", testPurge},
		{"OversizedMessageIsRefusedAtPublish", testOversized},
		{"DeliveriesAreCounted", testDeliveriesCounted},
		{"OpenUnreachableFailsFastWithoutThePassword", testOpenUnreachable},
		{"OpenBadURL", testOpenBadURL},
		{"BrokerRestartLosesNothing", testBrokerRestart},
		{"InspectCreatesNothing", testInspect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// QueueName returns a queue name unique to this test run.
func QueueName(t *testing.T) string {
	return fmt.Sprintf("ptest-%s-%d-%x", unsafeChars.ReplaceAllString(t.Name(), "-"), os.Getpid(), rand.Uint32())
}

func open(t *testing.T, h Harness, queue string) backends.Queue {
	t.Helper()
	q := h.Open(t, queue)
	t.Cleanup(func() { q.Close() })
	return q
}

func msgs(prefix string, n int) []backends.Message {
	out := make([]backends.Message, n)
	for i := range out {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		out[i] = backends.Message{ID: id, Body: []byte(`{"payload":"` + id + `"}`)}
	}
	return out
}

func statsEventually(t *testing.T, q backends.Queue, what string, want func(backends.Stats) bool) {
	t.Helper()
	Eventually(t, 5*time.Second, what, func() (bool, string) {
		s, err := q.Stats(Context(t))
		if err != nil {
			return false, err.Error()
		}
		return want(s), fmt.Sprintf("%+v", s)
	})
}

func testPublishReceiveAck(t *testing.T, h Harness) {
	q := open(t, h, QueueName(t))
	sent := msgs("m", 3)
	Must(t, "Publish", q.Publish(Context(t), sent...))
	statsEventually(t, q, "3 ready", func(s backends.Stats) bool { return s.Ready == 3 })
	c := Subscribe(t, q, "c1", 10)
	for _, want := range sent {
		d := Receive(t, c, 5*time.Second)
		got := d.Received()
		if got.ID != want.ID || string(got.Body) != string(want.Body) {
			t.Errorf("received %s %q, want %s %q (FIFO order)", got.ID, got.Body, want.ID, want.Body)
		}
		if got.Attempt != 1 {
			t.Errorf("%s: attempt %d, want 1", got.ID, got.Attempt)
		}
		if got.Redelivered {
			t.Errorf("%s: first delivery marked redelivered", got.ID)
		}
		if got.EnqueuedAt.IsZero() || time.Since(got.EnqueuedAt) > time.Minute {
			t.Errorf("%s: EnqueuedAt %v is not the publish time", got.ID, got.EnqueuedAt)
		}
		Must(t, "Ack", d.Ack(Context(t)))
	}
	ExpectNothing(t, c, 2*h.Lease+200*time.Millisecond)
	statsEventually(t, q, "empty after acks", func(s backends.Stats) bool { return s.Ready == 0 && s.InFlight <= 0 })
}

func testConcurrentConsumers(t *testing.T, h Harness) {
	name := QueueName(t)
	pub := open(t, h, name)
	const n, workers = 200, 4
	Must(t, "Publish", pub.Publish(Context(t), msgs("c", n)...))

	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		c := Subscribe(t, open(t, h, name), fmt.Sprintf("w%d", w), 10)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				rc, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				d, err := c.Receive(rc)
				cancel()
				if err != nil {
					return // queue drained
				}
				mu.Lock()
				seen[d.Received().ID]++
				mu.Unlock()
				if err := d.Ack(context.Background()); err != nil {
					t.Errorf("Ack %s: %v", d.Received().ID, err)
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("received %d distinct messages, want %d (lost %d)", len(seen), n, n-len(seen))
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s received %d times by live consumers, want once", id, k)
		}
	}
}

func testDeadConsumer(t *testing.T, h Harness) {
	name := QueueName(t)
	doomed := open(t, h, name)
	Must(t, "Publish", doomed.Publish(Context(t), msgs("d", 2)...))
	c := Subscribe(t, doomed, "doomed", 10)
	first := Receive(t, c, 5*time.Second)
	// The consumer "dies": its connection goes away without settling.
	Must(t, "Close", doomed.Close())

	survivor := Subscribe(t, open(t, h, name), "survivor", 10)
	got := map[string]backends.Received{}
	for range 2 {
		d := Receive(t, survivor, 5*h.Lease+5*time.Second)
		got[d.Received().ID] = d.Received()
		Must(t, "Ack", d.Ack(Context(t)))
	}
	r, ok := got[first.Received().ID]
	if !ok {
		t.Fatalf("the dead consumer's message %s never came back; got %v", first.Received().ID, got)
	}
	if !r.Redelivered {
		t.Errorf("%s came back without Redelivered", r.ID)
	}
	if r.Attempt != first.Received().Attempt {
		t.Errorf("redelivery changed the attempt: %d, want %d", r.Attempt, first.Received().Attempt)
	}
}

func testExtend(t *testing.T, h Harness) {
	name := QueueName(t)
	q := open(t, h, name)
	Must(t, "Publish", q.Publish(Context(t), msgs("e", 1)...))
	holder := Subscribe(t, q, "holder", 10)
	d := Receive(t, holder, 5*time.Second)
	thief := Subscribe(t, open(t, h, name), "thief", 10)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(h.Lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := d.Extend(context.Background()); err != nil {
					t.Errorf("Extend: %v", err)
					return
				}
			}
		}
	}()
	ExpectNothing(t, thief, 4*h.Lease)
	close(stop)
	wg.Wait()
	Must(t, "Ack after extending", d.Ack(Context(t)))
}

func testRetryWithDelay(t *testing.T, h Harness) {
	q := open(t, h, QueueName(t))
	Must(t, "Publish", q.Publish(Context(t), msgs("r", 1)...))
	c := Subscribe(t, q, "c", 10)
	d := Receive(t, c, 5*time.Second)
	const delay = 700 * time.Millisecond
	start := time.Now()
	Must(t, "Retry", d.Retry(Context(t), delay))
	statsEventually(t, q, "nothing in flight after Retry", func(s backends.Stats) bool { return s.InFlight <= 0 })
	ExpectNothing(t, c, delay/2)
	again := Receive(t, c, delay+5*time.Second)
	if waited := time.Since(start); waited < delay-50*time.Millisecond {
		t.Errorf("retry visible after %v, want at least %v", waited, delay)
	}
	if got := again.Received(); got.ID != d.Received().ID || got.Attempt != 2 || string(got.Body) != string(d.Received().Body) {
		t.Errorf("after Retry got %s attempt %d body %q, want %s attempt 2 same body", got.ID, got.Attempt, got.Body, d.Received().ID)
	}
	Must(t, "Ack", again.Ack(Context(t)))
}

func testRelease(t *testing.T, h Harness) {
	q := open(t, h, QueueName(t))
	Must(t, "Publish", q.Publish(Context(t), msgs("l", 1)...))
	c := Subscribe(t, q, "c", 10)
	d := Receive(t, c, 5*time.Second)
	Must(t, "Release", d.Release(Context(t)))
	again := Receive(t, c, h.Lease+5*time.Second)
	if got := again.Received(); got.ID != d.Received().ID || got.Attempt != 1 {
		t.Errorf("after Release got %s attempt %d, want %s attempt 1", got.ID, got.Attempt, d.Received().ID)
	}
	Must(t, "Ack", again.Ack(Context(t)))
}

func testDeadLetterAndReplay(t *testing.T, h Harness) {
	q := open(t, h, QueueName(t))
	Must(t, "Publish", q.Publish(Context(t), msgs("x", 2)...))
	c := Subscribe(t, q, "c", 10)
	for range 2 {
		Must(t, "Retry", Receive(t, c, 5*time.Second).Retry(Context(t), 0))
	}
	for range 2 {
		d := Receive(t, c, 5*time.Second)
		if d.Received().Attempt != 2 {
			t.Errorf("%s: attempt %d after Retry, want 2", d.Received().ID, d.Received().Attempt)
		}
		Must(t, "DeadLetter", d.DeadLetter(Context(t), "gave up after attempt 2"))
	}
	var dead []backends.DeadLetter
	Eventually(t, 5*time.Second, "two dead letters", func() (bool, string) {
		var err error
		dead, err = q.DeadLetters(Context(t), 0)
		return err == nil && len(dead) == 2, fmt.Sprintf("%d (%v)", len(dead), err)
	})
	for _, dl := range dead {
		if dl.Reason != "gave up after attempt 2" || dl.Attempt != 2 || len(dl.Body) == 0 || dl.DeadAt.IsZero() {
			t.Errorf("dead letter %+v lost its reason, attempt, body or time", dl)
		}
	}
	statsEventually(t, q, "2 dead letters in stats", func(s backends.Stats) bool { return s.DeadLetters == 2 })

	replayed, err := q.Replay(Context(t), "x-001", "no-such-id")
	Must(t, "Replay", err)
	if !slices.Equal(replayed, []string{"x-001"}) {
		t.Errorf("Replay returned %v, want [x-001]", replayed)
	}
	d := Receive(t, c, 5*time.Second)
	if got := d.Received(); got.ID != "x-001" || got.Attempt != 1 {
		t.Errorf("replayed %s attempt %d, want x-001 attempt 1", got.ID, got.Attempt)
	}
	Must(t, "Ack", d.Ack(Context(t)))
	left, err := q.DeadLetters(Context(t), 0)
	Must(t, "DeadLetters", err)
	if len(left) != 1 || left[0].ID != "x-000" {
		t.Errorf("dead letters after replay: %v, want just x-000", left)
	}
	// Replayed with a new body (dlq replay --fail-rate 0): the copy
	// carries it, the rest of the message as it was.
	rewrite := func(body []byte) ([]byte, error) { return append([]byte("rewritten "), body...), nil }
	replayed, err = q.ReplayRewritten(Context(t), rewrite)
	Must(t, "ReplayRewritten all", err)
	if !slices.Equal(replayed, []string{"x-000"}) {
		t.Errorf("ReplayRewritten() returned %v, want [x-000]", replayed)
	}
	d = Receive(t, c, 5*time.Second)
	if got := d.Received(); got.ID != "x-000" || got.Attempt != 1 || string(got.Body) != `rewritten {"payload":"x-000"}` {
		t.Errorf("rewritten replay delivered %s attempt %d body %q, want x-000, 1, the rewritten body", got.ID, got.Attempt, got.Body)
	}
	Must(t, "Ack", d.Ack(Context(t)))

	// Deleted (dlq delete): gone from the dead letters, and not delivered.
	Must(t, "Publish", q.Publish(Context(t), msgs("y", 3)...))
	for range 3 {
		Must(t, "DeadLetter", Receive(t, c, 5*time.Second).DeadLetter(Context(t), "for deletion"))
	}
	Eventually(t, 5*time.Second, "three dead letters", func() (bool, string) {
		dead, err := q.DeadLetters(Context(t), 0)
		return err == nil && len(dead) == 3, fmt.Sprintf("%d (%v)", len(dead), err)
	})
	deleted, err := q.DeleteDeadLetters(Context(t), "y-001", "no-such-id")
	Must(t, "DeleteDeadLetters", err)
	if !slices.Equal(deleted, []string{"y-001"}) {
		t.Errorf("DeleteDeadLetters returned %v, want [y-001]", deleted)
	}
	left, err = q.DeadLetters(Context(t), 0)
	Must(t, "DeadLetters", err)
	if len(left) != 2 || left[0].ID != "y-000" || left[1].ID != "y-002" {
		t.Errorf("dead letters after deleting y-001: %v, want y-000 and y-002", left)
	}
	deleted, err = q.DeleteDeadLetters(Context(t))
	Must(t, "DeleteDeadLetters all", err)
	if !slices.Equal(deleted, []string{"y-000", "y-002"}) {
		t.Errorf("DeleteDeadLetters() returned %v, want [y-000 y-002]", deleted)
	}
	statsEventually(t, q, "no dead letters, nothing ready", func(s backends.Stats) bool { return s.DeadLetters == 0 && s.Ready == 0 })
}

func testRawMessage(t *testing.T, h Harness) {
	name := QueueName(t)
	q := open(t, h, name)
	h.InjectRaw(t, name, []byte("\x00not a mission{"))
	Must(t, "Publish", q.Publish(Context(t), msgs("after", 1)...))
	c := Subscribe(t, q, "c", 10)
	raw := Receive(t, c, 5*time.Second)
	if string(raw.Received().Body) != "\x00not a mission{" {
		t.Errorf("raw body %q, want it unchanged", raw.Received().Body)
	}
	Must(t, "DeadLetter raw", raw.DeadLetter(Context(t), "malformed: not JSON"))
	next := Receive(t, c, 5*time.Second)
	if next.Received().ID != "after-000" {
		t.Errorf("after the raw message got %q, want after-000", next.Received().ID)
	}
	Must(t, "Ack", next.Ack(Context(t)))
	dead, err := q.DeadLetters(Context(t), 0)
	Must(t, "DeadLetters", err)
	if len(dead) != 1 || dead[0].Reason != "malformed: not JSON" {
		t.Errorf("dead letters %+v, want the raw message with its reason", dead)
	}
}

func testSettleTwice(t *testing.T, h Harness) {
	q := open(t, h, QueueName(t))
	Must(t, "Publish", q.Publish(Context(t), msgs("s", 1)...))
	d := Receive(t, Subscribe(t, q, "c", 10), 5*time.Second)
	Must(t, "Ack", d.Ack(Context(t)))
	for name, err := range map[string]error{
		"Ack":        d.Ack(Context(t)),
		"Retry":      d.Retry(Context(t), 0),
		"Release":    d.Release(Context(t)),
		"DeadLetter": d.DeadLetter(Context(t), "x"),
	} {
		if !errors.Is(err, backends.ErrSettled) {
			t.Errorf("%s after Ack: %v, want ErrSettled", name, err)
		}
	}
	statsEventually(t, q, "empty", func(s backends.Stats) bool { return s.Ready == 0 && s.DeadLetters == 0 })
}

func testCancelReceive(t *testing.T, h Harness) {
	c := Subscribe(t, open(t, h, QueueName(t)), "c", 10)
	rc, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Receive(rc)
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Receive after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Receive did not return within 3s of cancel")
	}
}

func testCloseTwice(t *testing.T, h Harness) {
	q := h.Open(t, QueueName(t))
	c, err := q.Subscribe(Context(t), backends.ConsumerOptions{Name: "c"})
	Must(t, "Subscribe", err)
	Must(t, "consumer Close", c.Close())
	Must(t, "consumer Close again", c.Close())
	if _, err := c.Receive(Context(t)); !errors.Is(err, backends.ErrClosed) {
		t.Errorf("Receive on closed consumer: %v, want ErrClosed", err)
	}
	Must(t, "Close", q.Close())
	Must(t, "Close again", q.Close())
	if err := q.Publish(Context(t), msgs("z", 1)...); !errors.Is(err, backends.ErrClosed) {
		t.Errorf("Publish on closed queue: %v, want ErrClosed", err)
	}
}

func testPurge(t *testing.T, h Harness) {
	q := open(t, h, QueueName(t))
	Must(t, "Publish", q.Publish(Context(t), msgs("p", 5)...))
	statsEventually(t, q, "5 ready", func(s backends.Stats) bool { return s.Ready == 5 })
	n, err := q.Purge(Context(t))
	Must(t, "Purge", err)
	if n != 5 && n != -1 {
		t.Errorf("Purge removed %d, want 5", n)
	}
	statsEventually(t, q, "empty after purge", func(s backends.Stats) bool { return s.Ready == 0 })
	ExpectNothing(t, Subscribe(t, q, "c", 10), 300*time.Millisecond)
}

// A message over the size limit is refused before anything of its batch
// is sent; one of exactly the limit goes through whole.
func testOversized(t *testing.T, h Harness) {
	q := open(t, h, QueueName(t))
	limit := backends.Config{}.MaxBytes()
	ok := backends.Message{ID: "fits", Body: make([]byte, limit)}
	big := backends.Message{ID: "too-big", Body: make([]byte, limit+1)}
	err := q.Publish(Context(t), ok, big)
	if !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("Publish of %d bytes: %v, want ErrTooLarge", limit+1, err)
	}
	statsEventually(t, q, "nothing of a refused batch enqueued", func(s backends.Stats) bool { return s.Ready == 0 })
	Must(t, "Publish at the limit", q.Publish(Context(t), ok))
	d := Receive(t, Subscribe(t, q, "c", 10), 5*time.Second)
	if got := len(d.Received().Body); got != limit {
		t.Fatalf("received %d bytes, want %d", got, limit)
	}
	Must(t, "Ack", d.Ack(Context(t)))
}

// Every backend counts the deliveries of a copy, so that the worker can
// dead-letter one that never reaches an outcome (it crashes every worker
// that takes it). A retry is a new copy, counted from 1 again.
func testDeliveriesCounted(t *testing.T, h Harness) {
	name := QueueName(t)
	doomed := open(t, h, name)
	Must(t, "Publish", doomed.Publish(Context(t), msgs("n", 1)...))
	first := Receive(t, Subscribe(t, doomed, "doomed", 10), 5*time.Second)
	if n := first.Received().Deliveries; n != 1 {
		t.Fatalf("first delivery counted %d, want 1", n)
	}
	Must(t, "Close", doomed.Close())

	survivor := Subscribe(t, open(t, h, name), "survivor", 10)
	again := Receive(t, survivor, 5*h.Lease+5*time.Second)
	if n := again.Received().Deliveries; n != 2 {
		t.Fatalf("delivery after a dead consumer counted %d, want 2", n)
	}
	Must(t, "Retry", again.Retry(Context(t), 0))
	retried := Receive(t, survivor, 5*time.Second)
	if n := retried.Received().Deliveries; n != 1 {
		t.Fatalf("first delivery of a retry counted %d, want 1", n)
	}
	Must(t, "Ack", retried.Ack(Context(t)))
}

func testOpenUnreachable(t *testing.T, h Harness) {
	if h.Unreachable == "" {
		t.Skip("the backend has no network address")
	}
	start := time.Now()
	q, err := h.OpenURL(context.Background(), h.Unreachable, QueueName(t))
	if err == nil {
		q.Close()
		t.Fatalf("Open of %s succeeded", backends.Redact(h.Unreachable))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Open took %v to fail, want under 5s", took)
	}
	if !errors.Is(err, backends.ErrUnreachable) {
		t.Errorf("err = %v, want ErrUnreachable", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q shows the password", err)
	}
	if want := backends.Redact(h.Unreachable); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}

func testOpenBadURL(t *testing.T, h Harness) {
	if len(h.BadURLs) == 0 {
		t.Skip("the backend reads no URL of its own")
	}
	for _, url := range h.BadURLs {
		q, err := h.OpenURL(context.Background(), url, QueueName(t))
		if err == nil {
			q.Close()
			t.Errorf("Open(%s) succeeded, want ErrBadURL", backends.Redact(url))
			continue
		}
		if !errors.Is(err, backends.ErrBadURL) {
			t.Errorf("Open(%s): err = %v, want ErrBadURL", backends.Redact(url), err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%s): error %q shows the password", backends.Redact(url), err)
		}
	}
}

// testBrokerRestart restarts a private server with one message pending
// on a consumer and one waiting: both come back, the pending one
// redelivered.
func testBrokerRestart(t *testing.T, h Harness) {
	if h.Restartable == nil {
		t.Skip("the backend has no server of its own")
	}
	url, restart := h.Restartable(t)
	queue := QueueName(t)
	openIt := func() backends.Queue {
		q, err := h.OpenURL(Context(t), url, queue)
		Must(t, "Open", err)
		return q
	}
	q := openIt()
	Must(t, "Publish", q.Publish(Context(t), backends.Message{ID: "pending", Body: []byte("p")}, backends.Message{ID: "waiting", Body: []byte("w")}))
	c, err := q.Subscribe(Context(t), backends.ConsumerOptions{Name: "doomed", Prefetch: 1})
	Must(t, "Subscribe", err)
	if got := Receive(t, c, 10*time.Second).Received().ID; got != "pending" {
		t.Fatalf("received %s, want pending", got)
	}
	q.Close()
	restart()
	q = openIt()
	defer q.Close()
	c = Subscribe(t, q, "survivor", 10)
	got := map[string]bool{}
	for range 2 {
		d := Receive(t, c, 5*h.Lease+20*time.Second)
		got[d.Received().ID] = d.Received().Redelivered
		Must(t, "Ack", d.Ack(Context(t)))
	}
	if _, ok := got["pending"]; !ok || got["waiting"] || len(got) != 2 {
		t.Errorf("after the restart got %v (id: redelivered), want pending and waiting, waiting not redelivered", got)
	} else if !got["pending"] && !h.RestartForgetsRecentDeliveries {
		t.Errorf("after the restart got %v (id: redelivered), want pending redelivered and waiting not", got)
	}
}

// testInspect: looking at a queue that was never used (a mistyped
// --queue in status) leaves nothing on the broker and says so; a queue
// in use is seen as it is.
func testInspect(t *testing.T, h Harness) {
	if h.Inspect == nil || h.Exists == nil {
		t.Fatal("the harness must set Inspect and Exists")
	}
	ctx := context.Background()
	name := QueueName(t)
	for range 2 { // the second look shows that the first made nothing
		qi, err := h.Inspect(t, name)
		if errors.Is(err, backends.ErrNoQueue) {
			if h.Exists(t, name) {
				t.Fatalf("opening queue %s to inspect it created it", name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("open %s to inspect: %v", name, err)
		}
		s, err := qi.Stats(ctx)
		if !errors.Is(err, backends.ErrNoQueue) && (err != nil || s != (backends.Stats{})) {
			t.Errorf("Stats of a queue never used: %+v, %v; want ErrNoQueue or zeros", s, err)
		}
		if dead, err := qi.DeadLetters(ctx, 0); len(dead) != 0 || (err != nil && !errors.Is(err, backends.ErrNoQueue)) {
			t.Errorf("DeadLetters of a queue never used: %d, %v; want none", len(dead), err)
		}
		if err := qi.Close(); err != nil {
			t.Fatal(err)
		}
		if h.Exists(t, name) {
			t.Fatalf("inspecting queue %s created it on the broker", name)
		}
	}
	q := open(t, h, name)
	if err := q.Publish(ctx, msgs("inspect", 1)...); err != nil {
		t.Fatal(err)
	}
	if !h.Exists(t, name) {
		t.Fatalf("Exists(%s) is false after a publish: the harness's check is wrong", name)
	}
	qi, err := h.Inspect(t, name)
	if err != nil {
		t.Fatalf("open %s to inspect after a publish: %v", name, err)
	}
	statsEventually(t, qi, "one ready message seen by an inspecting handle", func(s backends.Stats) bool { return s.Ready == 1 })
}
