package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/backends/redis"
	"github.com/palantir-lab/palantir/internal/testservices"
)

// purge --all deletes the queue's every broker object, dead letters
// included, where plain purge keeps them.
func TestPurgeAllDeletesEveryBrokerObject(t *testing.T) {
	url, client := redisClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	dir := t.TempDir()
	queue := fmt.Sprintf("purge-all-%x", rand.Uint32())
	flags := []string{"--backend", "redis", "--redis-url", url, "--queue", queue}
	if r := cli(t, dir, append(flags, "launch", "raven", "--count", "3", "--fail-rate", "1", "--max-attempts", "1")...); r.code != 0 {
		t.Fatalf("launch: %d %s", r.code, r.err)
	}
	keys := redis.Keys(queue)
	t.Cleanup(func() { client.Del(context.Background(), keys.Stream, keys.Delayed, keys.Dead) })
	client.XAdd(ctx, &goredis.XAddArgs{Stream: keys.Dead, Values: []any{"body", "x", "id", "dead1", "reason", "test"}})

	r := cli(t, dir, append(flags, "purge", "--all", "--yes", "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("purge --all: %d %s", r.code, r.err)
	}
	rows := decode[[]map[string]any](t, r)
	if len(rows) != 1 || rows[0]["deleted"] != true || rows[0]["missions_marked"] != float64(3) {
		t.Errorf("purge --all -o json: %v", rows)
	}
	if n := client.Exists(ctx, keys.Stream, keys.Delayed, keys.Dead).Val(); n != 0 {
		t.Errorf("%d of the queue's keys are left after purge --all", n)
	}
	if r := cli(t, dir, "purge", "--all", "--yes"); r.code != 2 {
		t.Errorf("purge --all on inproc: exit %d (%s), want 2: it keeps nothing outside the process", r.code, r.err)
	}
}

// purge --dead empties the queue and deletes its dead letters, where plain
// purge keeps them; -o json counts them.
func TestPurgeDeadDeletesTheDeadLettersToo(t *testing.T) {
	url, client := redisClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	dir := t.TempDir()
	queue := fmt.Sprintf("purge-dead-%x", rand.Uint32())
	flags := []string{"--backend", "redis", "--redis-url", url, "--queue", queue}
	keys := redis.Keys(queue)
	t.Cleanup(func() { client.Del(context.Background(), keys.Stream, keys.Delayed, keys.Dead) })
	if r := cli(t, dir, append(flags, "launch", "raven", "--count", "2")...); r.code != 0 {
		t.Fatalf("launch: %d %s", r.code, r.err)
	}
	for _, id := range []string{"dead1", "dead2"} {
		client.XAdd(ctx, &goredis.XAddArgs{Stream: keys.Dead, Values: []any{"body", "x", "id", id, "reason", "test"}})
	}
	if r := cli(t, dir, append(flags, "purge", "--yes")...); r.code != 0 || client.XLen(ctx, keys.Dead).Val() != 2 {
		t.Fatalf("plain purge: exit %d %s, %d dead letters left, want 2 kept", r.code, r.err, client.XLen(ctx, keys.Dead).Val())
	}
	r := cli(t, dir, append(flags, "purge", "--dead", "--yes", "-o", "json")...)
	rows := decode[[]map[string]any](t, r)
	if r.code != 0 || len(rows) != 1 || rows[0]["dead_letters_deleted"] != float64(2) || rows[0]["deleted"] != false {
		t.Errorf("purge --dead -o json: exit %d %v %s", r.code, rows, r.err)
	}
	if n := client.XLen(ctx, keys.Dead).Val(); n != 0 {
		t.Errorf("%d dead letters left after purge --dead", n)
	}
	if r := cli(t, dir, append(flags, "purge", "--dead", "--all", "--yes")...); r.code != 2 {
		t.Errorf("--dead with --all: exit %d, want 2", r.code)
	}
}

// redisClient is a client of the test Redis (its URL too), closed when t
// ends; the test skips loudly (fails in CI) without one.
func redisClient(t *testing.T) (string, *goredis.Client) {
	t.Helper()
	url := testservices.RedisURL()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		testservices.Unavailable(t, "Redis", url, err)
	}
	return url, client
}
