package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
	"github.com/palantir-lab/palantir/backends/rabbitmq"
	"github.com/palantir-lab/palantir/internal/testservices"
)

// lease is what the suite waits for a dead consumer's messages; RabbitMQ
// ignores it (the lease is the channel) and requeues at once.
const lease = 300 * time.Millisecond

// testURL is the broker the tests use, reachable or the tests skip (fail
// with PALANTIR_REQUIRE_SERVICES=1).
func testURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("PALANTIR_TEST_AMQP_URL")
	if url == "" {
		url = "amqp://guest:guest@127.0.0.1:5672/"
	}
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(3 * time.Second)})
	if err != nil {
		if os.Getenv("PALANTIR_REQUIRE_SERVICES") == "1" {
			t.Fatalf("RabbitMQ at %s is required (PALANTIR_REQUIRE_SERVICES=1) but unreachable: %v", backends.Redact(url), err)
		}
		t.Skipf("RabbitMQ at %s unreachable (set PALANTIR_TEST_AMQP_URL): %v", backends.Redact(url), err)
	}
	conn.Close()
	return url
}

// withParam adds a query parameter to url.
func withParam(url, kv string) string {
	if kv == "" {
		return url
	}
	if strings.Contains(url, "?") {
		return url + "&" + kv
	}
	return url + "?" + kv
}

// harness opens every queue as a new connection, as another process would,
// and deletes the queue's whole topology when the test ends, once, after
// every handle on it is closed: the cleanup of the first Open runs last.
// (Deleting it under the other handles' consumers made them redeclare it
// while the next deletion ran, a race that crashed RabbitMQ 3.10's quorum
// queue supervisor and left every later quorum declare INTERNAL_ERROR.)
func harness(url string) backendtest.Harness {
	var declared sync.Map
	return backendtest.Harness{
		Lease: lease,
		OpenURL: func(ctx context.Context, url, queue string) (backends.Queue, error) {
			q, err := rabbitmq.Open(ctx, backends.Config{URL: url, Queue: queue, Lease: lease})
			if err != nil {
				return nil, err
			}
			return q, nil
		},
		Unreachable: "amqp://guest:secret@127.0.0.1:1/",
		BadURLs: []string{
			"amqp://guest:secret@127.0.0.1:5672/?durable=yes",       // unknown parameter
			"amqp://guest:secret@127.0.0.1:5672/?queue_type=stream", // unknown queue type
			"amqp://guest:sec%ret@127.0.0.1:5672/",                  // not a URL (the password is sec%ret)
			"redis://:secret@127.0.0.1:6379/",                       // wrong scheme
			"amqp:/guest:secret@127.0.0.1:5672/",                    // one slash: no host
		},
		Open: func(t *testing.T, queue string) backends.Queue {
			t.Helper()
			q, err := rabbitmq.Open(context.Background(), backends.Config{URL: url, Queue: queue, Lease: lease})
			if err != nil {
				t.Fatalf("Open %s: %v", queue, err)
			}
			if _, again := declared.LoadOrStore(queue, true); !again {
				cleanupTopology(t, url, queue)
			}
			return q
		},
		Inspect: func(t *testing.T, queue string) (backends.Queue, error) {
			q, err := rabbitmq.Open(context.Background(), backends.Config{URL: url, Queue: queue, Lease: lease, Inspect: true})
			if err == nil {
				t.Cleanup(func() { q.Close() })
			}
			return q, err
		},
		Exists: func(t *testing.T, queue string) bool {
			conn, err := amqp.Dial(url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for _, name := range rabbitmq.QueueNames(queue) {
				ch, err := conn.Channel()
				if err != nil {
					t.Fatal(err)
				}
				_, err = ch.QueueDeclarePassive(name, true, false, false, false, nil)
				ch.Close()
				if err == nil {
					return true
				}
			}
			return false
		},
		InjectRaw: func(t *testing.T, queue string, body []byte) {
			t.Helper()
			conn, err := amqp.Dial(url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ch, err := conn.Channel()
			if err != nil {
				t.Fatal(err)
			}
			if err := ch.Confirm(false); err != nil {
				t.Fatal(err)
			}
			dc, err := ch.PublishWithDeferredConfirm("", queue, true, false, amqp.Publishing{Body: body})
			if err != nil {
				t.Fatal(err)
			}
			if !dc.Wait() {
				t.Fatal("raw publish nacked")
			}
		},
	}
}

// cleanupTopology deletes queue's broker queues after the test (once per
// queue, however often it is opened; deleting twice is harmless).
func cleanupTopology(t *testing.T, url, queue string) {
	t.Cleanup(func() {
		conn, err := amqp.Dial(url)
		if err != nil {
			t.Logf("cleanup %s: %v", queue, err)
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Logf("cleanup %s: %v", queue, err)
			return
		}
		for _, name := range rabbitmq.QueueNames(queue) {
			if _, err := ch.QueueDelete(name, false, false, false); err != nil {
				t.Logf("cleanup: delete %s: %v", name, err)
				return
			}
		}
	})
}

func TestConformance(t *testing.T) {
	url := testURL(t)
	for _, qt := range []string{"classic", "quorum"} {
		t.Run(qt, func(t *testing.T) {
			h := harness(withParam(url, "queue_type="+qt))
			h.Restartable = func(t *testing.T) (string, func()) {
				// A private node, stopped and started (stop_app, start_app)
				// on its own data directory.
				node := testservices.StartRabbitMQ(t)
				return withParam(node.URL, "queue_type="+qt), func() {
					node.MustCtl(t, "stop_app")
					node.MustCtl(t, "start_app")
				}
			}
			backendtest.Run(t, h)
		})
	}
}

func TestOpenBadCredentials(t *testing.T) {
	url := testURL(t)
	bad := strings.Replace(url, "guest:guest@", "guest:wrong-secret@", 1)
	if bad == url {
		t.Skip("PALANTIR_TEST_AMQP_URL does not use guest:guest")
	}
	_, err := rabbitmq.Open(context.Background(), backends.Config{URL: bad, Queue: "ptest-badcreds"})
	if !errors.Is(err, backends.ErrUnreachable) {
		t.Errorf("err = %v, want ErrUnreachable", err)
	}
	if err != nil && strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestOpenBadURL(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{name: "unknown parameter", url: "amqp://guest:secret@127.0.0.1:5672/?durable=yes", want: "queue_type"},
		{name: "unknown queue type", url: "amqp://guest:secret@127.0.0.1:5672/?queue_type=stream", want: "quorum"},
		{name: "not a URL", url: "amqp://guest:sec%ret@127.0.0.1:5672/", want: "does not parse"},
		{name: "wrong scheme", url: "redis://127.0.0.1:6379/", want: "amqp"},
		{name: "empty", url: "", want: "empty"},
		// One slash: no host, and the driver would dial localhost with
		// the user and password taken for the vhost, then quote it back.
		{name: "no host", url: "amqp:/guest:secret@127.0.0.1:5672/", want: "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := rabbitmq.Open(context.Background(), backends.Config{URL: tt.url, Queue: "ptest-badurl"})
			if err == nil {
				q.Close()
				t.Fatalf("Open(%q) succeeded, want ErrBadURL", tt.url)
			}
			if !errors.Is(err, backends.ErrBadURL) {
				t.Errorf("err = %v, want ErrBadURL", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			for _, pw := range []string{"secret", "sec%ret"} {
				if strings.Contains(err.Error(), pw) {
					t.Errorf("error %q shows the password", err)
				}
			}
		})
	}
}

func TestQueueNames(t *testing.T) {
	got := rabbitmq.QueueNames("missions")
	want := []string{
		"missions",
		"missions.retry.125ms", "missions.retry.250ms", "missions.retry.500ms",
		"missions.retry.1s", "missions.retry.2s", "missions.retry.4s",
		"missions.retry.8s", "missions.retry.16s", "missions.retry.32s",
		"missions.retry.long",
		"missions.dead",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("QueueNames(missions) = %v, want %v", got, want)
	}
}

// TestReconnect has the broker close this Queue's connection (and only
// it, found by its connection name) with rabbitmqctl, as a broker restart
// or a network cut would, and checks that nothing is lost or acked twice.
func TestReconnect(t *testing.T) {
	url := testURL(t)
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		t.Skip("rabbitmqctl not installed")
	}
	if u, err := neturl.Parse(url); err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
		t.Skip("rabbitmqctl reaches only the local broker")
	}
	queue := backendtest.QueueName(t)
	q, err := rabbitmq.Open(context.Background(), backends.Config{URL: url, Queue: queue, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	cleanupTopology(t, url, queue)
	t.Cleanup(func() { q.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := q.Publish(ctx, backends.Message{ID: "a", Body: []byte("a")}, backends.Message{ID: "b", Body: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: "c", Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first, err := c.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}

	closeConnection(t, "palantir "+queue)

	deadline := time.Now().Add(10 * time.Second)
	for {
		err := first.Extend(ctx)
		if errors.Is(err, backends.ErrLeaseLost) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Extend after the connection was closed: %v, want ErrLeaseLost", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Ack(ctx); !errors.Is(err, backends.ErrLeaseLost) {
		t.Errorf("Ack after the connection was closed: %v, want ErrLeaseLost", err)
	}

	// In either order: on a classic queue the redelivered a is
	// republished with its delivery count, behind b.
	got := map[string]backends.Received{}
	for range 2 {
		rc, cancelRc := context.WithTimeout(ctx, 15*time.Second)
		d, err := c.Receive(rc)
		cancelRc()
		if err != nil {
			t.Fatalf("Receive after reconnect (got %v so far): %v", got, err)
		}
		got[d.Received().ID] = d.Received()
		if err := d.Ack(ctx); err != nil {
			t.Errorf("Ack %s after reconnect: %v", d.Received().ID, err)
		}
	}
	for id, want := range map[string]backends.Received{
		"a": {Message: backends.Message{ID: "a", Attempt: 1}, Redelivered: true, Deliveries: 2},
		"b": {Message: backends.Message{ID: "b", Attempt: 1}, Deliveries: 1},
	} {
		r, ok := got[id]
		if !ok {
			t.Errorf("after reconnect %s never came; got %v", id, got)
			continue
		}
		if r.Attempt != want.Attempt || r.Redelivered != want.Redelivered || r.Deliveries != want.Deliveries {
			t.Errorf("after reconnect got %s attempt %d redelivered %v deliveries %d, want attempt %d redelivered %v deliveries %d",
				id, r.Attempt, r.Redelivered, r.Deliveries, want.Attempt, want.Redelivered, want.Deliveries)
		}
	}
	if err := q.Publish(ctx, backends.Message{ID: "c", Body: []byte("c")}); err != nil {
		t.Errorf("Publish after reconnect: %v", err)
	}
	// The consumer may already hold it: either way it is the only message.
	if s, err := q.Stats(ctx); err != nil || s.Ready+s.InFlight != 1 || s.Delayed+s.DeadLetters != 0 {
		t.Errorf("Stats after reconnect = %+v, %v; want the one message just published", s, err)
	}
}

// closeConnection makes the local broker close the connection called name.
func closeConnection(t *testing.T, name string) {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", "-q", "list_connections", "pid", "client_properties").CombinedOutput()
	if err != nil {
		t.Skipf("rabbitmqctl list_connections: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, `"`+name+`"`) {
			continue
		}
		pid, _, _ := strings.Cut(line, "\t")
		if out, err := exec.Command("rabbitmqctl", "-q", "close_connection", pid, "palantir reconnect test").CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl close_connection %s: %v: %s", pid, err, out)
		}
		return
	}
	t.Skipf("connection %q not found by rabbitmqctl (a different broker?):\n%s", name, out)
}

// TestQueueDeletedUnderneath deletes the work queue behind palantir's back,
// as a student might with rabbitmqctl: a publish that no queue takes is an
// error (not a silent loss), and the topology comes back by itself.
func TestQueueDeletedUnderneath(t *testing.T) {
	url := testURL(t)
	queue := backendtest.QueueName(t)
	q, err := rabbitmq.Open(context.Background(), backends.Config{URL: url, Queue: queue, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	cleanupTopology(t, url, queue)
	t.Cleanup(func() { q.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	deleteQueue(t, url, queue)
	err = q.Publish(ctx, backends.Message{ID: "lost?", Body: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "not routed") {
		t.Fatalf("Publish to a deleted queue: %v, want a not-routed error", err)
	}
	if err := q.Publish(ctx, backends.Message{ID: "after", Body: []byte("x")}); err != nil {
		t.Fatalf("Publish once the queue is declared again: %v", err)
	}

	c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deleteQueue(t, url, queue) // the broker cancels the consumer
	eventuallyPublished := time.Now().Add(5 * time.Second)
	for {
		err := q.Publish(ctx, backends.Message{ID: "again", Body: []byte("x")})
		if err == nil {
			break
		}
		if time.Now().After(eventuallyPublished) {
			t.Fatalf("Publish after the consumer resubscribed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rc, cancelRc := context.WithTimeout(ctx, 10*time.Second)
	defer cancelRc()
	d, err := c.Receive(rc)
	if err != nil {
		t.Fatalf("Receive after the queue was deleted and declared again: %v", err)
	}
	if got := d.Received().ID; got != "again" {
		t.Errorf("received %s, want again", got)
	}
	if err := d.Ack(ctx); err != nil {
		t.Error(err)
	}
}

func deleteQueue(t *testing.T, url, name string) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDelete(name, false, false, false); err != nil {
		t.Fatal(err)
	}
}

// testLogger sends the backend's logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// TestRetryThatCannotBePublishedReleases checks that a Retry whose copy no
// queue takes gives the original back rather than leaving it unsettled
// (which on RabbitMQ would hold a prefetch slot until the channel closed).
func TestRetryThatCannotBePublishedReleases(t *testing.T) {
	url := testURL(t)
	queue := backendtest.QueueName(t)
	q, err := rabbitmq.Open(context.Background(), backends.Config{URL: url, Queue: queue, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	cleanupTopology(t, url, queue)
	t.Cleanup(func() { q.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := q.Publish(ctx, backends.Message{ID: "r", Body: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: "c", Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := c.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deleteQueue(t, url, queue+".retry.1s")
	if err := d.Retry(ctx, time.Second); err == nil {
		t.Fatal("Retry into a deleted retry queue succeeded")
	}
	if err := d.Ack(ctx); !errors.Is(err, backends.ErrSettled) {
		t.Errorf("Ack after the failed Retry released it: %v, want ErrSettled", err)
	}
	again, err := c.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Received(); got.ID != "r" || got.Attempt != 1 || !got.Redelivered {
		t.Errorf("after a failed Retry got %+v, want r attempt 1 redelivered", got)
	}
	// The failed publish redeclared the topology: the retry works now.
	if err := again.Retry(ctx, time.Second); err != nil {
		t.Errorf("Retry once the queue is back: %v", err)
	}
}

func TestOpenWithOtherQueueType(t *testing.T) {
	url := testURL(t)
	queue := backendtest.QueueName(t)
	q, err := rabbitmq.Open(context.Background(), backends.Config{URL: url, Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	cleanupTopology(t, url, queue)
	q.Close()
	_, err = rabbitmq.Open(context.Background(), backends.Config{URL: withParam(url, "queue_type=quorum"), Queue: queue})
	if !errors.Is(err, backends.ErrBadURL) || !strings.Contains(err.Error(), "queue_type") {
		t.Errorf("Open as quorum over a classic queue: %v, want ErrBadURL naming queue_type", err)
	}
}

// BenchmarkRoundTrip publishes (confirmed, in batches of 100), receives and
// acks b.N messages through one consumer.
func BenchmarkRoundTrip(b *testing.B) {
	url := os.Getenv("PALANTIR_TEST_AMQP_URL")
	if url == "" {
		url = "amqp://guest:guest@127.0.0.1:5672/"
	}
	queue := fmt.Sprintf("pbench-%d-%x", os.Getpid(), time.Now().UnixNano())
	ctx := context.Background()
	q, err := rabbitmq.Open(ctx, backends.Config{URL: url, Queue: queue})
	if err != nil {
		b.Skipf("RabbitMQ at %s: %v", backends.Redact(url), err)
	}
	defer func() {
		q.Close()
		if conn, err := amqp.Dial(url); err == nil {
			if ch, err := conn.Channel(); err == nil {
				for _, name := range rabbitmq.QueueNames(queue) {
					ch.QueueDelete(name, false, false, false)
				}
			}
			conn.Close()
		}
	}()
	c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: "bench", Prefetch: 100})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	body := []byte(`{"payload":"bench"}`)
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		batch := make([]backends.Message, min(100, b.N-sent))
		for i := range batch {
			batch[i] = backends.Message{ID: fmt.Sprint(sent + i), Body: body}
		}
		if err := q.Publish(ctx, batch...); err != nil {
			b.Fatal(err)
		}
		for range batch {
			d, err := c.Receive(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := d.Ack(ctx); err != nil {
				b.Fatal(err)
			}
		}
		sent += len(batch)
	}
}

// amqpChannel opens a raw channel on url for the test, as a stranger with
// the broker's own tools would.
func amqpChannel(t *testing.T, url string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestQuorumDeliveryLimitDeadLetters returns a message to a quorum work
// queue (basic.reject with requeue, which every RabbitMQ version counts)
// until the broker's own delivery limit takes it: it must end in the dead
// letters with a reason, not vanish (RabbitMQ 4 drops it by default).
func TestQuorumDeliveryLimitDeadLetters(t *testing.T) {
	url := withParam(testURL(t), "queue_type=quorum")
	queue := backendtest.QueueName(t)
	q, err := rabbitmq.Open(context.Background(), backends.Config{URL: url, Queue: queue, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	cleanupTopology(t, url, queue)
	t.Cleanup(func() { q.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := q.Publish(ctx, backends.Message{ID: "poison", Body: []byte("boom"), Attempt: 2}); err != nil {
		t.Fatal(err)
	}

	ch := amqpChannel(t, url)
	const most = 200 // far above any limit palantir sets by default
	returns := 0
	for ; returns < most; returns++ {
		ad, ok, err := ch.Get(queue, false)
		if err != nil {
			t.Fatalf("get after %d returns: %v", returns, err)
		}
		if !ok {
			break
		}
		if err := ad.Reject(true); err != nil {
			t.Fatalf("reject after %d returns: %v", returns, err)
		}
	}
	if returns == most {
		t.Fatalf("the message was still in %s after %d returns: the work queue has no delivery limit", queue, most)
	}
	t.Logf("the broker dead-lettered the message after %d returns", returns)
	if limit := 2 * backends.DefaultMaxDeliveries; returns <= backends.DefaultMaxDeliveries {
		t.Errorf("the broker took the message after %d returns, want more than the worker's limit %d (about %d)", returns, backends.DefaultMaxDeliveries, limit)
	}
	var dead []backends.DeadLetter
	deadline := time.Now().Add(10 * time.Second)
	for {
		dead, err = q.DeadLetters(ctx, 0)
		if err == nil && len(dead) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters after the broker's delivery limit: %v, %v; want the message (lost after %d returns?)", dead, err, returns)
		}
		time.Sleep(50 * time.Millisecond)
	}
	dl := dead[0]
	if dl.ID != "poison" || dl.Attempt != 2 || string(dl.Body) != "boom" {
		t.Errorf("dead letter %+v, want poison attempt 2 body boom", dl)
	}
	if !strings.Contains(dl.Reason, "delivery limit") || !strings.Contains(dl.Reason, queue) {
		t.Errorf("dead letter reason %q, want it to name the delivery limit and %s", dl.Reason, queue)
	}
	if dl.DeadAt.IsZero() || time.Since(dl.DeadAt) > time.Minute {
		t.Errorf("dead letter time %v, want about now", dl.DeadAt)
	}
}

// TestQuorumWorkQueueOfAnOlderVersion opens a quorum work queue declared as
// palantir did before it had a dead-letter target and delivery limit: its
// messages must still be served, with a warning that names the policy to
// apply.
func TestQuorumWorkQueueOfAnOlderVersion(t *testing.T) {
	url := withParam(testURL(t), "queue_type=quorum")
	queue := backendtest.QueueName(t)
	cleanupTopology(t, url, queue)
	ch := amqpChannel(t, url)
	if _, err := ch.QueueDeclare(queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Publish("", queue, false, false, amqp.Publishing{MessageId: "old", Body: []byte("old")}); err != nil {
		t.Fatal(err)
	}

	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := rabbitmq.Open(ctx, backends.Config{URL: url, Queue: queue, Logger: log})
	if err != nil {
		t.Fatalf("Open over a work queue of an older palantir: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	if got := strings.Count(logs.String(), "set_policy"); got != 1 {
		t.Errorf("warnings naming the policy: %d, want 1; logs:\n%s", got, logs.String())
	}
	if _, err := q.Stats(ctx); err != nil {
		t.Errorf("Stats: %v", err)
	}
	c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := c.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Received().ID; got != "old" {
		t.Errorf("received %s, want old", got)
	}
	if err := d.Ack(ctx); err != nil {
		t.Error(err)
	}
	if err := q.Publish(ctx, backends.Message{ID: "new", Body: []byte("new")}); err != nil {
		t.Errorf("Publish: %v", err)
	}
}

// TestQuorumDeliveryLimitMismatch opens a quorum queue with a worker limit
// whose broker limit differs from the one the queue was declared with: a
// configuration error that says what to do.
func TestQuorumDeliveryLimitMismatch(t *testing.T) {
	url := withParam(testURL(t), "queue_type=quorum")
	queue := backendtest.QueueName(t)
	q, err := rabbitmq.Open(context.Background(), backends.Config{URL: url, Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	cleanupTopology(t, url, queue)
	q.Close()
	_, err = rabbitmq.Open(context.Background(), backends.Config{URL: url, Queue: queue, MaxDeliveries: 50})
	if !errors.Is(err, backends.ErrBadURL) {
		t.Fatalf("Open with another max_deliveries: %v, want ErrBadURL", err)
	}
	for _, want := range []string{"max_deliveries", "x-delivery-limit", "delete_queue " + queue} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestCopyConfirmedAckFailed breaks the channel between the confirm of a
// Retry's (or DeadLetter's) copy and the ack of the original. The copy is
// what counts: the settlement succeeds, so that the worker records the
// next attempt (or the dead letter) and one mission never runs two retry
// chains; the original comes back as a stale redelivery of the old
// attempt, which the worker acks without running.
func TestCopyConfirmedAckFailed(t *testing.T) {
	url := testURL(t)
	for _, op := range []string{"Retry", "DeadLetter"} {
		t.Run(op, func(t *testing.T) {
			queue := backendtest.QueueName(t)
			q, err := rabbitmq.Open(context.Background(), backends.Config{URL: url, Queue: queue, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			cleanupTopology(t, url, queue)
			t.Cleanup(func() { q.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := q.Publish(ctx, backends.Message{ID: "m", Body: []byte("m")}); err != nil {
				t.Fatal(err)
			}
			c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: "c", Prefetch: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			d, err := c.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rabbitmq.BreakAckAfterCopy(q)
			if op == "Retry" {
				err = d.Retry(ctx, 0)
			} else {
				err = d.DeadLetter(ctx, "gave up")
			}
			if err != nil {
				t.Fatalf("%s whose copy was confirmed but whose ack failed: %v, want nil (the copy counts)", op, err)
			}
			if err := d.Ack(ctx); !errors.Is(err, backends.ErrSettled) {
				t.Errorf("Ack after a successful %s: %v, want ErrSettled", op, err)
			}

			want := map[int]bool{1: true} // the stale original
			if op == "Retry" {
				want[2] = true // and the copy
			}
			for range want {
				rc, cancelRc := context.WithTimeout(ctx, 10*time.Second)
				again, err := c.Receive(rc)
				cancelRc()
				if err != nil {
					t.Fatalf("Receive (still waiting for attempts %v): %v", want, err)
				}
				got := again.Received()
				if got.ID != "m" || !want[got.Attempt] {
					t.Errorf("received %s attempt %d, want m attempt in %v", got.ID, got.Attempt, want)
				}
				delete(want, got.Attempt)
				if err := again.Ack(ctx); err != nil {
					t.Error(err)
				}
			}
			dead, err := q.DeadLetters(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if wantDead := map[bool]int{true: 0, false: 1}[op == "Retry"]; len(dead) != wantDead {
				t.Errorf("dead letters %v, want %d", dead, wantDead)
			}
		})
	}
}

// TestPublishBlockedByAlarm raises a memory alarm on a private node: a
// publish must give up within a bounded time with an error that says the
// broker blocked publishers (and maps to exit status 3), rather than wait
// for confirms forever; once the alarm clears, publishing works again.
func TestPublishBlockedByAlarm(t *testing.T) {
	node := testservices.StartRabbitMQ(t)
	queue := backendtest.QueueName(t)
	q, err := rabbitmq.Open(context.Background(), backends.Config{URL: node.URL, Queue: queue, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := q.Publish(ctx, backends.Message{ID: "before", Body: []byte("x")}); err != nil {
		t.Fatalf("Publish before the alarm: %v", err)
	}

	node.MustCtl(t, "set_vm_memory_high_watermark", "0.0000001")
	for range 2 { // the publish that meets the block, and one that starts blocked
		start := time.Now()
		err := q.Publish(ctx, backends.Message{ID: "during", Body: []byte("x")})
		took := time.Since(start)
		t.Logf("Publish under the alarm returned after %v: %v", took.Round(time.Millisecond), err)
		if !errors.Is(err, rabbitmq.ErrBlocked) || !errors.Is(err, backends.ErrUnreachable) {
			t.Fatalf("Publish under a memory alarm: %v, want ErrBlocked and ErrUnreachable", err)
		}
		if !strings.Contains(err.Error(), "blocked publishers: memory/disk alarm") {
			t.Errorf("error %q does not say what blocks it", err)
		}
		if strings.Contains(err.Error(), "guest:guest") {
			t.Errorf("error %q shows the password", err)
		}
		if took > time.Minute {
			t.Errorf("Publish took %v to give up, want well under a minute", took)
		}
	}

	// Consuming goes on during the alarm: acks free what the alarm is
	// about, so a worker whose retries were blocked must still ack.
	c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: "c"})
	if err != nil {
		t.Fatalf("Subscribe during the alarm: %v", err)
	}
	defer c.Close()
	d, err := c.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("Ack during the alarm: %v", err)
	}
	stats := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := q.Stats(ctx)
			switch {
			case err != nil:
				stats <- err
				return
			case st.Ready == 0 && st.InFlight <= 0:
				stats <- nil
				return
			case time.Now().After(deadline):
				stats <- fmt.Errorf("the ack was not taken: %+v", st)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	select {
	case err := <-stats:
		if err != nil {
			t.Fatalf("Stats during the alarm: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Stats during the alarm did not answer within 20s: the consuming connection is blocked too")
	}

	node.MustCtl(t, "set_vm_memory_high_watermark", "0.8")
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := q.Publish(ctx, backends.Message{ID: "after", Body: []byte("x")})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Publish after the alarm cleared: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	st, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Ready < 1 {
		t.Errorf("Stats after the alarm: %+v, want the message published after it", st)
	}
}
