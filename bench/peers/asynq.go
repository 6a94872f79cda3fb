package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

const (
	asynqQueue              = "default"
	asynqDefaultWorkers     = 4
	asynqDefaultEnqueuers   = 4
	asynqTunedCheckInterval = 10 * time.Millisecond
)

// AsynqOptions configure one asynq run.
type AsynqOptions struct {
	// RedisURL is redis://[:password@]host:port/db with db other than 0:
	// that database is flushed before and after the run.
	RedisURL string
	Jobs     int
	// Workers is the server's Concurrency (0: 4, palantir bench's -c).
	Workers int
	// Enqueuers is how many goroutines call Client.Enqueue, one task per
	// call: asynq has no batch enqueue (0: 4).
	Enqueuers int
	// CheckInterval is the server's TaskCheckInterval, how long a worker
	// sleeps after finding every queue empty (0: 10 ms; asynq's default is
	// 1 s, which at the start of a run, before the first enqueue, would
	// idle every worker for up to 1.5 s).
	CheckInterval time.Duration
	Payload       int           // bytes of encoded task payload, about
	Timeout       time.Duration // for the whole run after the first enqueue (0: 5 minutes)
}

// RunAsynq enqueues o.Jobs no-op tasks into asynq on a scratch Redis
// database and processes them with one server.
func RunAsynq(ctx context.Context, o AsynqOptions) (r Result, err error) {
	o = o.withDefaults()
	r = Result{Peer: "asynq", Mode: "tuned", Jobs: o.Jobs, Workers: o.Workers, PayloadBytes: o.Payload,
		Insert:   fmt.Sprintf("Enqueue per task (asynq has no batch enqueue), %d goroutines", o.Enqueuers),
		Settings: fmt.Sprintf("Concurrency %d, TaskCheckInterval %s", o.Workers, o.CheckInterval)}
	if o.CheckInterval == time.Second {
		r.Mode = "defaults"
	}
	u, err := url.Parse(o.RedisURL)
	if err != nil {
		return r, fmt.Errorf("redis url: %w", err)
	}
	r.Target = u.Redacted()
	connOpt, err := asynq.ParseRedisURI(o.RedisURL)
	if err != nil {
		return r, err
	}
	opt, ok := connOpt.(asynq.RedisClientOpt)
	if !ok {
		return r, fmt.Errorf("redis url %s: only a single server (redis://) is supported", u.Redacted())
	}
	if opt.DB == 0 {
		return r, fmt.Errorf("redis url %s: database 0 is refused (the run flushes its database; name another, such as /15)", u.Redacted())
	}
	rdb := redis.NewClient(&redis.Options{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: opt.DB})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return r, fmt.Errorf("ping %s: %w: %w", u.Redacted(), ErrUnreachable, err)
	}
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return r, fmt.Errorf("flush %s: %w", u.Redacted(), err)
	}
	defer func() {
		if ferr := rdb.FlushDB(context.WithoutCancel(ctx)).Err(); ferr != nil && err == nil {
			err = fmt.Errorf("flush %s: %w", u.Redacted(), ferr)
		}
	}()

	t := newTally(o.Jobs)
	mux := asynq.NewServeMux()
	mux.HandleFunc(noopArgs{}.Kind(), func(_ context.Context, task *asynq.Task) error {
		var a noopArgs
		if err := json.Unmarshal(task.Payload(), &a); err != nil {
			return fmt.Errorf("decode payload: %w", err)
		}
		t.record(a.I)
		return nil
	})
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:       o.Workers,
		Queues:            map[string]int{asynqQueue: 1},
		TaskCheckInterval: o.CheckInterval,
		LogLevel:          asynq.WarnLevel,
	})
	if err := srv.Start(mux); err != nil {
		return r, fmt.Errorf("asynq: start server: %w", err)
	}
	defer srv.Shutdown()
	client := asynq.NewClient(opt)
	defer client.Close()

	// Every task is built before the clock starts, as palantir bench does.
	padding := pad(o.Payload)
	tasks := make([]*asynq.Task, o.Jobs)
	for i := range tasks {
		payload, err := json.Marshal(noopArgs{I: i, Pad: padding})
		if err != nil {
			return r, err
		}
		tasks[i] = asynq.NewTask(noopArgs{}.Kind(), payload)
	}

	runCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		enqErr   error
		enqueued = make(chan time.Time, 1)
	)
	start := time.Now()
	for range o.Enqueuers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(tasks)); i = next.Add(1) - 1 {
				if _, err := client.EnqueueContext(runCtx, tasks[i], asynq.Queue(asynqQueue)); err != nil {
					errOnce.Do(func() { enqErr = fmt.Errorf("asynq: enqueue: %w", err); cancel() })
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); enqueued <- time.Now() }()

	var end time.Time
	select {
	case <-t.all:
		// Every handler has run; the task is settled when the server has
		// removed it from the active list (asynq's Done script, right after
		// the handler returns). Poll the queue's two lists until both are
		// empty.
		end, err = asynqDrained(runCtx, rdb)
	case <-runCtx.Done():
		err = fmt.Errorf("asynq: %d of %d tasks processed before the timeout (%s): %w", t.distinct.Load(), o.Jobs, o.Timeout, runCtx.Err())
	}
	insertedAt := <-enqueued
	if enqErr != nil {
		err = enqErr
	}
	if end.IsZero() {
		end = time.Now()
	}
	r.finish(start, insertedAt, end, t.distinct.Load())
	t.fill(&r)
	if err != nil {
		r.Error = err.Error()
	}
	return r, err
}

// asynqDrained waits until the queue's pending and active lists are empty
// and returns when it saw them so. The key names are asynq's
// (internal/base: asynq:{<queue>}:pending and :active).
func asynqDrained(ctx context.Context, rdb *redis.Client) (time.Time, error) {
	pending, active := "asynq:{"+asynqQueue+"}:pending", "asynq:{"+asynqQueue+"}:active"
	for {
		pipe := rdb.Pipeline()
		p, a := pipe.LLen(ctx, pending), pipe.LLen(ctx, active)
		if _, err := pipe.Exec(ctx); err != nil {
			return time.Time{}, fmt.Errorf("asynq: queue length: %w", err)
		}
		if p.Val() == 0 && a.Val() == 0 {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("asynq: queue not drained: %d pending, %d active: %w", p.Val(), a.Val(), ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

func (o AsynqOptions) withDefaults() AsynqOptions {
	if o.Workers <= 0 {
		o.Workers = asynqDefaultWorkers
	}
	if o.Enqueuers <= 0 {
		o.Enqueuers = asynqDefaultEnqueuers
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = asynqTunedCheckInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	return o
}
