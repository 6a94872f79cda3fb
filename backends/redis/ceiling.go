package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/backends"
)

// ceilingClient connects with the same URL parser as Open (single
// server, Sentinel or Cluster), checking that the server answers within
// three seconds.
func ceilingClient(ctx context.Context, rawURL string) (goredis.UniversalClient, error) {
	spec, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	client := spec.newClient()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis %s: %w: %v", redact(rawURL), backends.ErrUnreachable, err)
	}
	return client, nil
}

// ceiling is Redis Streams at their best: pipelined XADD from one
// producer, and run.Concurrency consumer-group members each reading up to
// run.Prefetch entries per XREADGROUP and acknowledging them with one
// XACK. Its stream is named like a palantir queue's, so it can be
// inspected while it runs.
func ceiling(ctx context.Context, run backends.CeilingRun) (time.Duration, error) {
	client, err := ceilingClient(ctx, run.URL)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	key, group := Keys(run.Queue).Stream, "ceiling"
	defer client.Del(context.WithoutCancel(ctx), key)
	if err := client.XGroupCreateMkStream(ctx, key, group, "0").Err(); err != nil {
		return 0, fmt.Errorf("redis XGROUP CREATE %s: %w", key, err)
	}
	return backends.MeasureCeiling(ctx, run, "redis", 500,
		func(ctx context.Context, n int) error {
			pipe := client.Pipeline()
			for range n {
				pipe.XAdd(ctx, &goredis.XAddArgs{Stream: key, Values: []any{"body", run.Body}})
			}
			_, err := pipe.Exec(ctx)
			return err
		},
		func(ctx context.Context, consumer int) (int, error) {
			return ceilingTake(ctx, client, key, group, fmt.Sprintf("c%d", consumer), run.Prefetch)
		})
}

// ceilingTake reads up to prefetch entries with XREADGROUP (waiting up
// to 100 ms) and acks them with one XACK.
func ceilingTake(ctx context.Context, client goredis.UniversalClient, key, group, consumer string, prefetch int) (int, error) {
	streams, err := client.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: consumer,
		Streams: []string{key, ">"}, Count: int64(prefetch), Block: 100 * time.Millisecond}).Result()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("XREADGROUP: %w", err)
	}
	ids := make([]string, 0, len(streams[0].Messages))
	for _, m := range streams[0].Messages {
		ids = append(ids, m.ID)
	}
	if err := client.XAck(ctx, key, group, ids...).Err(); err != nil {
		return 0, fmt.Errorf("XACK: %w", err)
	}
	return len(ids), nil
}

// Destroy deletes the queue's stream (with its consumer group), its
// delayed retries and its dead letters.
func (q *Queue) Destroy(ctx context.Context) error {
	k := q.keys
	if err := q.client.Del(ctx, k.Stream, k.Delayed, k.Dead).Err(); err != nil {
		return q.fail(ctx, "DEL", k.Stream, err)
	}
	return nil
}
