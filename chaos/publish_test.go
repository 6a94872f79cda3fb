package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/all"
	"github.com/palantir-lab/palantir/backends/rabbitmq"
	"github.com/palantir-lab/palantir/backends/redis"
	"github.com/palantir-lab/palantir/chaos"
	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/mission"
)

func TestBadMessagesAreWhatTheyClaim(t *testing.T) {
	limit := backends.DefaultMaxMessageBytes
	t.Run("malformed is not JSON or not of this version", func(t *testing.T) {
		bad, err := chaos.BadMessages(chaos.Malformed, 8, 0)
		if err != nil {
			t.Fatal(err)
		}
		newer := 0
		for _, b := range bad {
			if json.Valid(b.Message.Body) {
				if !strings.Contains(string(b.Message.Body), fmt.Sprintf(`"v":%d`, mission.WireVersion+1)) {
					t.Errorf("%s: %q is valid JSON of this wire version", b.Message.ID, b.Message.Body)
				}
				newer++
			}
			if _, err := mission.Decode(b.Message.Body); !errors.Is(err, mission.ErrMalformed) {
				t.Errorf("%s: Decode: %v, want ErrMalformed", b.Message.ID, err)
			}
		}
		if newer != 2 {
			t.Errorf("%d of 8 are orders of a newer wire version, want 2 (one in each rotation of four)", newer)
		}
	})
	t.Run("oversized is a valid order over the default limit", func(t *testing.T) {
		bad, err := chaos.BadMessages(chaos.Oversized, 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bad {
			if n := len(b.Message.Body); n <= limit || n > limit+2*chaos.OversizedBy {
				t.Errorf("%s: %d bytes, want just over %d", b.Message.ID, n, limit)
			}
			var o mission.Order
			if err := json.Unmarshal(b.Message.Body, &o); err != nil || o.ID != b.Message.ID || o.Validate() != nil {
				t.Errorf("%s: not a valid order carrying its message id: %v, %v", b.Message.ID, err, o.Validate())
			}
		}
		if got := chaos.MaxBody(bad); got != len(bad[0].Message.Body) {
			t.Errorf("MaxBody %d, want %d", got, len(bad[0].Message.Body))
		}
	})
	t.Run("rejected is a JSON order with an id the store refuses", func(t *testing.T) {
		bad, err := chaos.BadMessages(chaos.Rejected, 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, b := range bad {
			var o mission.Order
			if err := json.Unmarshal(b.Message.Body, &o); err != nil {
				t.Fatalf("%s: %v", b.Message.ID, err)
			}
			ids = append(ids, o.ID)
		}
		if !strings.Contains(ids[0], "\x00") {
			t.Errorf("first rejected id %q holds no NUL byte", ids[0])
		}
		if len(ids[1]) < 2800 {
			t.Errorf("second rejected id is %d bytes, want over PostgreSQL's index limit of about 2.7 KB", len(ids[1]))
		}
	})
	for _, n := range []int{0, chaos.MaxBadCount + 1} {
		if _, err := chaos.BadMessages(chaos.Malformed, n, 0); err == nil {
			t.Errorf("BadMessages count %d: no error", n)
		}
	}
	if _, err := chaos.ParseBadKind("poisoned"); err == nil {
		t.Error("ParseBadKind(poisoned): no error")
	}
}

// The oversized ones are refused by a queue opened with the default
// limit (inproc enforces it at publish), and pass with MaxBody.
func TestOversizedNeedsALargerLimit(t *testing.T) {
	ctx := context.Background()
	be, err := all.Registry().Resolve("inproc")
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := chaos.BadMessages(chaos.Oversized, 1, 0)
	q, err := be.Open(ctx, backends.Config{Queue: "chaos"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := chaos.PublishBad(ctx, q, bad); !errors.Is(err, backends.ErrTooLarge) {
		t.Errorf("publish oversized at the default limit: %v, want ErrTooLarge", err)
	}
	big, err := be.Open(ctx, backends.Config{Queue: "chaos-big", MaxMessageBytes: chaos.MaxBody(bad)})
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	if err := chaos.PublishBad(ctx, big, bad); err != nil {
		t.Errorf("publish oversized with MaxBody: %v", err)
	}
}

type badJSON struct {
	ID     string
	Kind   string
	Bytes  int
	Detail string
}

// TestChaosPublishOnRedis publishes each kind with the command, checks
// what reached the stream, and that a worker dead-letters the malformed
// ones and carries on.
func TestChaosPublishOnRedis(t *testing.T) {
	l := newRedisLab(t)
	ctx := context.Background()
	published := map[string][]badJSON{}
	for _, kind := range []string{"malformed", "oversized", "rejected"} {
		code, out, errs := l.palantir("chaos", "publish", kind, "--count", "3", "-o", "json")
		if code != 0 {
			t.Fatalf("chaos publish %s: exit %d: %s", kind, code, errs)
		}
		var rows []badJSON
		if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 3 {
			t.Fatalf("chaos publish %s -o json: %v: %q", kind, err, out)
		}
		published[kind] = rows
	}

	// What the command guarantees: every message is on the stream, with
	// the id and size it printed.
	entries, err := l.redis.XRange(ctx, redis.Keys(l.queue).Stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	onStream := map[string]int{}
	for _, e := range entries {
		id, _ := e.Values["id"].(string)
		body, _ := e.Values["body"].(string)
		onStream[id] = len(body)
	}
	for kind, rows := range published {
		for _, r := range rows {
			if n, ok := onStream[r.ID]; !ok || n != r.Bytes {
				t.Errorf("%s %s: on the stream %v with %d bytes, printed %d", kind, r.ID, ok, n, r.Bytes)
			}
			if kind == "oversized" && r.Bytes <= backends.DefaultMaxMessageBytes {
				t.Errorf("oversized %s is %d bytes, not over %d", r.ID, r.Bytes, backends.DefaultMaxMessageBytes)
			}
		}
	}

	// A worker dead-letters every one of them, unrun, saying why, and
	// carries on.
	w := l.start("eagle1", "worker", "--name", "eagle1")
	want := map[string]string{"malformed": "malformed", "oversized": "over the limit", "rejected": "id "}
	var dead []struct{ ID, Reason string }
	waitFor(t, 30*time.Second, "every bad message in the dead letters", func() bool {
		_, out, _ := l.palantir("dlq", "list", "-o", "json")
		dead = nil
		_ = json.Unmarshal([]byte(out), &dead)
		return len(dead) >= 9
	})
	_ = w.Process.Signal(syscall.SIGTERM)
	_ = w.Wait()
	for kind, rows := range published {
		for _, r := range rows {
			i := slices.IndexFunc(dead, func(d struct{ ID, Reason string }) bool { return d.ID == r.ID })
			if i < 0 || !strings.Contains(dead[i].Reason, want[kind]) {
				t.Errorf("%s %s: dead letter %v, want a reason with %q", kind, r.ID, i >= 0 && dead[i].Reason != "", want[kind])
			}
		}
	}
	if _, status, _ := l.palantir("history", "-o", "json"); strings.Contains(status, "SUCCESS") {
		t.Errorf("a bad message was run to an outcome: %s", status)
	}
}

// TestChaosPublishOnRabbitMQ: the same command on another broker puts
// every kind on its queue (nothing in chaos knows which broker it is).
func TestChaosPublishOnRabbitMQ(t *testing.T) {
	url := testservices.AMQPURL()
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(3 * time.Second)})
	if err != nil {
		testservices.Unavailable(t, "RabbitMQ", url, err)
	}
	l := &lab{t: t, dir: t.TempDir(), queue: fmt.Sprintf("chaos-test-%d-%x", os.Getpid(), rand.Uint32())}
	l.store = filepath.Join(l.dir, "palantir.db")
	t.Cleanup(func() {
		defer conn.Close()
		for _, name := range rabbitmq.QueueNames(l.queue) {
			ch, err := conn.Channel()
			if err != nil {
				t.Errorf("delete RabbitMQ queue %s: %v", name, err)
				return
			}
			if _, err := ch.QueueDelete(name, false, false, false); err != nil {
				t.Errorf("delete RabbitMQ queue %s: %v", name, err)
			}
			ch.Close()
		}
	})
	for _, kind := range []string{"malformed", "oversized", "rejected"} {
		code, _, errs := l.palantir("chaos", "publish", kind, "--backend", "rabbitmq", "--amqp-url", url)
		if code != 0 {
			t.Fatalf("chaos publish %s on RabbitMQ: exit %d: %s", kind, code, errs)
		}
	}
	be, _ := all.Registry().Resolve("rabbitmq")
	q, err := be.Open(context.Background(), backends.Config{URL: url, Queue: l.queue})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	waitFor(t, 10*time.Second, "three ready messages", func() bool {
		s, err := q.Stats(context.Background())
		return err == nil && s.Ready == 3
	})
}
