package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
	"github.com/palantir-lab/palantir/backends/redis"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMaxMemory: a Redis at maxmemory with policy noeviction refuses
// writes. Consuming and acking, which free memory, must still work; a
// due retry that cannot be moved waits (logged once) instead of failing
// every poll; a new worker can still join the existing group; and
// refused writes say what is wrong and how to fix it.
func TestMaxMemory(t *testing.T) {
	port := privateRedis(t, "--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
	url := "redis://127.0.0.1:" + port + "/0"
	ctx := context.Background()
	var logs syncBuffer
	cfg := backends.Config{
		URL: url, Queue: "full", Lease: time.Minute,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	q, err := redis.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	const n = 20
	if err := q.Publish(ctx, messages("m", n)...); err != nil {
		t.Fatal(err)
	}
	first := backendtest.Subscribe(t, q, "first", 1)
	d := backendtest.Receive(t, first, 5*time.Second)
	if err := d.Retry(ctx, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the retry is due, not yet moved

	plain := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + port})
	defer plain.Close()
	fill(t, plain)
	err = q.Publish(ctx, messages("late", 1)...)
	if !errors.Is(err, backends.ErrUnreachable) || !strings.Contains(err.Error(), "maxmemory") {
		t.Errorf("Publish to a full Redis: %v, want ErrUnreachable naming maxmemory", err)
	}

	// A new worker joins the group that exists.
	q2, err := redis.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open of a full Redis: %v", err)
	}
	defer q2.Close()
	c, err := q2.Subscribe(ctx, backends.ConsumerOptions{Name: "second", Prefetch: 4})
	if err != nil {
		t.Fatalf("Subscribe to the existing group of a full Redis: %v", err)
	}
	defer c.Close()

	// It receives and acks what is ready. The acks free a little memory,
	// so the retry may be moved meanwhile, or only once the fillers go.
	got := map[string]int{}
	for range n - 1 {
		d := backendtest.Receive(t, c, 10*time.Second)
		got[d.Received().ID] = d.Received().Attempt
		if err := d.Ack(ctx); err != nil {
			t.Fatalf("Ack in a full Redis: %v", err)
		}
	}
	warned := strings.Count(logs.String(), "level=WARN")
	if warned < 1 || warned > 2 {
		t.Errorf("%d warnings, want the refused writes said once per change of state:\n%s", warned, logs.String())
	}
	if !strings.Contains(logs.String(), "maxmemory") {
		t.Errorf("no log line names maxmemory:\n%s", logs.String())
	}
	if err := plain.Eval(ctx, "for _, k in ipairs(redis.call('KEYS', 'filler:*')) do redis.call('DEL', k) end return 0", nil).Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["m-000"]; !ok {
		d := backendtest.Receive(t, c, 10*time.Second)
		got[d.Received().ID] = d.Received().Attempt
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != n || got["m-000"] != 2 {
		t.Errorf("received %v, want the %d messages, m-000 as attempt 2", got, n)
	}
	if err := q.Publish(ctx, messages("again", 1)...); err != nil {
		t.Errorf("Publish after memory was freed: %v", err)
	}
}

// fill writes keys into a private Redis with maxmemory until it refuses
// even a small write.
func fill(t *testing.T, c *goredis.Client) {
	t.Helper()
	ctx := context.Background()
	i := 0
	for _, size := range []int{1 << 10, 16} {
		v := strings.Repeat("f", size)
		for full := false; !full; {
			cmds, _ := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
				for range 100 {
					i++
					p.Set(ctx, fmt.Sprintf("filler:%d", i), v, 0)
				}
				return nil
			})
			for _, cmd := range cmds {
				if err := cmd.Err(); err != nil {
					if !strings.Contains(err.Error(), "OOM") {
						t.Fatalf("filling Redis: %v", err)
					}
					full = true
				}
			}
			if i > 1e6 {
				t.Fatal("Redis never refused a write: is maxmemory set?")
			}
		}
	}
}

// A batch refused at maxmemory is refused whole: nothing of it is on the
// stream, so a launch that fails has published nothing its user cannot
// see (a pipeline appended the first part of the batch before the OOM).
func TestPublishAtMaxMemoryIsAllOrNothing(t *testing.T) {
	port := privateRedis(t, "--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
	ctx := context.Background()
	q, err := redis.Open(ctx, backends.Config{URL: "redis://127.0.0.1:" + port + "/0", Queue: "batches", Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	plain := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + port})
	defer plain.Close()
	const batch = 200
	body := []byte(strings.Repeat("b", 1024))
	for i := 0; ; i++ {
		msgs := make([]backends.Message, batch)
		for j := range msgs {
			msgs[j] = backends.Message{ID: fmt.Sprintf("b%d-%d", i, j), Body: body}
		}
		err := q.Publish(ctx, msgs...)
		if err == nil {
			if i > 1000 {
				t.Fatal("Redis never refused a batch: is maxmemory set?")
			}
			continue
		}
		if !errors.Is(err, backends.ErrUnreachable) {
			t.Fatalf("Publish at maxmemory: %v", err)
		}
		n, err := plain.XLen(ctx, redis.Keys("batches").Stream).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(i*batch) {
			t.Errorf("the stream holds %d entries after %d whole batches of %d: part of the refused batch was appended", n, i, batch)
		}
		return
	}
}
