package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var end atomic.Int64 // when the last message was acked (unix ns)
	errs := make(chan error, run.Concurrency+1)
	start := time.Now()
	go func() { errs <- ceilingProduce(ctx, client, key, run, cancel) }()
	var wg sync.WaitGroup
	for i := range run.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ceilingConsume(ctx, client, key, group, fmt.Sprintf("c%d", i), run, &end); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	if run.Acked.Load() < int64(run.Messages) {
		cancel()
		select {
		case err := <-errs:
			if err != nil {
				return 0, err
			}
		default:
		}
		return 0, fmt.Errorf("redis: %d of %d messages acked: %w", run.Acked.Load(), run.Messages, context.Cause(ctx))
	}
	if err := <-errs; err != nil {
		return 0, err
	}
	return time.Unix(0, end.Load()).Sub(start), nil
}

// ceilingProduce XADDs run.Messages entries in pipelines of 500.
func ceilingProduce(ctx context.Context, client goredis.UniversalClient, key string, run backends.CeilingRun, cancel func()) error {
	const batch = 500
	for sent := 0; sent < run.Messages; sent += batch {
		pipe := client.Pipeline()
		for range min(batch, run.Messages-sent) {
			pipe.XAdd(ctx, &goredis.XAddArgs{Stream: key, Values: []any{"body", run.Body}})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			cancel()
			return fmt.Errorf("redis pipelined XADD: %w", err)
		}
	}
	return nil
}

// ceilingConsume reads and acks until every message is acked.
func ceilingConsume(ctx context.Context, client goredis.UniversalClient, key, group, consumer string, run backends.CeilingRun, end *atomic.Int64) error {
	for ctx.Err() == nil && run.Acked.Load() < int64(run.Messages) {
		streams, err := client.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: consumer,
			Streams: []string{key, ">"}, Count: int64(run.Prefetch), Block: 100 * time.Millisecond}).Result()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				return fmt.Errorf("redis XREADGROUP: %w", err)
			}
			return nil
		}
		ids := make([]string, 0, len(streams[0].Messages))
		for _, m := range streams[0].Messages {
			ids = append(ids, m.ID)
		}
		if err := client.XAck(ctx, key, group, ids...).Err(); err != nil {
			return fmt.Errorf("redis XACK: %w", err)
		}
		if run.Acked.Add(int64(len(ids))) >= int64(run.Messages) {
			end.CompareAndSwap(0, time.Now().UnixNano())
		}
	}
	return nil
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
