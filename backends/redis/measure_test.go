package redis_test

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/redis"
)

// TestMeasureHugeEntries measures what four 100 MB entries XADDed by a
// stranger cost (docs/redis.md quotes it): the time until the message
// behind them is delivered, the worker's allocations, and the slow log of
// a private server. It writes 400 MB, so it runs only when asked:
// PALANTIR_MEASURE=1 go test -run TestMeasureHugeEntries -v ./backends/redis
func TestMeasureHugeEntries(t *testing.T) {
	if os.Getenv("PALANTIR_MEASURE") != "1" {
		t.Skip("set PALANTIR_MEASURE=1 to measure (writes 400 MB to a private redis-server)")
	}
	port := privateRedis(t)
	url := "redis://127.0.0.1:" + port + "/0"
	ctx := context.Background()
	plain := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + port, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	defer plain.Close()
	q, err := redis.Open(ctx, backends.Config{URL: url, Queue: "big", Lease: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: "w", Prefetch: 4})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 100<<20)
	for range 4 {
		if err := plain.XAdd(ctx, &goredis.XAddArgs{Stream: redis.Keys("big").Stream, Values: []any{"body", big}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	big = ""
	if err := q.Publish(ctx, backends.Message{ID: "ok", Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	d, err := c.Receive(rctx)
	took := time.Since(start)
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	if err != nil {
		t.Fatalf("after %v: %v", took, err)
	}
	t.Logf("received %s (%d bytes) after %v; worker allocated %d MB meanwhile", d.Received().ID, len(d.Received().Body), took, (m1.TotalAlloc-m0.TotalAlloc)>>20)
	sl, _ := plain.SlowLogGet(ctx, 10).Result()
	for _, e := range sl {
		if len(e.Args) > 0 {
			t.Logf("slowlog: %v %v", e.Duration, e.Args[0])
		}
	}
	n, _ := plain.XLen(ctx, redis.Keys("big").Dead).Result()
	t.Logf("dead letters: %d", n)
}
