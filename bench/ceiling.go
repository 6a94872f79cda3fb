package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/rabbitmq"
	"github.com/palantir-lab/palantir/backends/redis"
)

// kit is what bench knows of one broker beyond the Queue contract: how to
// measure its bare client library, and how to remove a queue's every
// trace from it.
type kit struct {
	// ceiling moves c.n messages through the broker with the bare client
	// library and returns how long that took, setup excluded. It adds
	// each settled message to c.acked.
	ceiling func(ctx context.Context, c ceilingRun) (time.Duration, error)
	// remove deletes what the backend created for queue (nil: Purge is
	// all there is).
	remove func(ctx context.Context, url, queue string) error
}

func kitFor(backend string) kit {
	switch backend {
	case "inproc":
		return kit{ceiling: channelCeiling}
	case "redis":
		return kit{ceiling: redisCeiling, remove: redisRemove}
	case "rabbitmq":
		return kit{ceiling: amqpCeiling, remove: amqpRemove}
	}
	return kit{}
}

// ceilingRun is one ceiling measurement.
type ceilingRun struct {
	url, queue               string
	n, concurrency, prefetch int
	body                     []byte
	acked                    *atomic.Int64
}

// DefaultPrefetch is Options.Prefetch unless set: enough unsettled
// messages to keep the connection busy, as a tuned client would.
func DefaultPrefetch(concurrency int) int { return max(concurrency, 100) }

// runCeiling measures t's ceiling on its own queue and returns msgs/s.
func runCeiling(ctx context.Context, o Options, t target, k kit, body []byte) (float64, error) {
	c := ceilingRun{url: t.url, queue: t.queue + "-ceiling", n: o.Missions, concurrency: o.Concurrency,
		prefetch: o.Prefetch, body: body, acked: new(atomic.Int64)}
	stop := reportProgress(o, t.backend.Name, PhaseCeiling, o.Missions, func() int { return int(c.acked.Load()) })
	elapsed, err := k.ceiling(ctx, c)
	stop()
	if err != nil {
		return 0, err
	}
	return float64(o.Missions) / max(elapsed.Seconds(), 1e-9), nil
}

// reportProgress tells o.Progress about a phase until stop is called,
// which sends the final report.
func reportProgress(o Options, backend string, phase Phase, total int, done func() int) (stop func()) {
	start := time.Now()
	report := func(finished bool) {
		o.Progress(Progress{Backend: backend, Phase: phase, Done: done(), Total: total, Elapsed: time.Since(start), Finished: finished})
	}
	report(false)
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				report(false)
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
		report(true)
	}
}

// channelCeiling is the in-process ceiling: a buffered Go channel from one
// producer to c.concurrency consumers.
func channelCeiling(ctx context.Context, c ceilingRun) (time.Duration, error) {
	ch := make(chan []byte, 1024)
	start := time.Now()
	var wg sync.WaitGroup
	for range c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int64
			for range ch {
				n++
				if n == 256 {
					c.acked.Add(n)
					n = 0
				}
			}
			c.acked.Add(n)
		}()
	}
	for i := 0; i < c.n; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			break
		}
		ch <- c.body
	}
	close(ch)
	wg.Wait()
	return time.Since(start), ctx.Err()
}

// redisClient connects to a plain redis:// or rediss:// URL, checking
// that the server answers within three seconds.
func redisClient(ctx context.Context, rawURL string) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", backends.ErrBadURL, backends.Redact(rawURL), err)
	}
	client := goredis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis %s: %w: %v", backends.Redact(rawURL), backends.ErrUnreachable, err)
	}
	return client, nil
}

// redisCeiling is Redis Streams at their best: pipelined XADD from one
// producer, and c.concurrency consumer-group members each reading up to
// c.prefetch entries per XREADGROUP and acknowledging them with one
// XACK. Its stream is named like a palantir queue's, so it can be
// inspected while it runs.
func redisCeiling(ctx context.Context, c ceilingRun) (time.Duration, error) {
	client, err := redisClient(ctx, c.url)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	key, group := redis.Keys(c.queue).Stream, "ceiling"
	defer client.Del(context.WithoutCancel(ctx), key)
	if err := client.XGroupCreateMkStream(ctx, key, group, "0").Err(); err != nil {
		return 0, fmt.Errorf("redis XGROUP CREATE %s: %w", key, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var end atomic.Int64 // when the last message was acked (unix ns)
	errs := make(chan error, c.concurrency+1)
	start := time.Now()

	go func() {
		const batch = 500
		for sent := 0; sent < c.n; sent += batch {
			pipe := client.Pipeline()
			for range min(batch, c.n-sent) {
				pipe.XAdd(ctx, &goredis.XAddArgs{Stream: key, Values: []any{"body", c.body}})
			}
			if _, err := pipe.Exec(ctx); err != nil {
				errs <- fmt.Errorf("redis pipelined XADD: %w", err)
				cancel()
				return
			}
		}
		errs <- nil
	}()
	var wg sync.WaitGroup
	for i := range c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumer := fmt.Sprintf("c%d", i)
			for ctx.Err() == nil && c.acked.Load() < int64(c.n) {
				streams, err := client.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: consumer,
					Streams: []string{key, ">"}, Count: int64(c.prefetch), Block: 100 * time.Millisecond}).Result()
				if errors.Is(err, goredis.Nil) {
					continue
				}
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("redis XREADGROUP: %w", err)
					}
					return
				}
				ids := make([]string, 0, len(streams[0].Messages))
				for _, m := range streams[0].Messages {
					ids = append(ids, m.ID)
				}
				if err := client.XAck(ctx, key, group, ids...).Err(); err != nil {
					errs <- fmt.Errorf("redis XACK: %w", err)
					return
				}
				if c.acked.Add(int64(len(ids))) >= int64(c.n) {
					end.CompareAndSwap(0, time.Now().UnixNano())
				}
			}
		}()
	}
	wg.Wait()
	if c.acked.Load() < int64(c.n) {
		cancel()
		select {
		case err := <-errs:
			if err != nil {
				return 0, err
			}
		default:
		}
		return 0, fmt.Errorf("redis: %d of %d messages acked: %w", c.acked.Load(), c.n, context.Cause(ctx))
	}
	if err := <-errs; err != nil {
		return 0, err
	}
	return time.Unix(0, end.Load()).Sub(start), nil
}

func redisRemove(ctx context.Context, rawURL, queue string) error {
	client, err := redisClient(ctx, rawURL)
	if err != nil {
		return err
	}
	defer client.Close()
	k := redis.Keys(queue)
	return client.Del(ctx, k.Stream, k.Delayed, k.Dead).Err()
}

// amqpDial connects to an amqp:// URL, dropping palantir's own query
// parameters; it returns the queue arguments the URL asks for.
func amqpDial(rawURL string) (*amqp.Connection, amqp.Table, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s", backends.ErrBadURL, backends.Redact(rawURL))
	}
	args := amqp.Table{}
	q := u.Query()
	if qt := q.Get("queue_type"); qt != "" {
		args["x-queue-type"] = qt
	}
	q.Del("queue_type")
	u.RawQuery = q.Encode()
	conn, err := amqp.DialConfig(u.String(), amqp.Config{Dial: amqp.DefaultDial(3 * time.Second)})
	if err != nil {
		return nil, nil, fmt.Errorf("rabbitmq %s: %w: %v", backends.Redact(rawURL), backends.ErrUnreachable, err)
	}
	return conn, args, nil
}

// amqpConfirmWindow bounds the published messages awaiting their confirm.
const amqpConfirmWindow = 512

// amqpCeiling is RabbitMQ with palantir's guarantees and none of its
// code: a durable queue, persistent messages published with confirms (a
// window of amqpConfirmWindow outstanding), one consumer channel with
// prefetch c.prefetch shared by c.concurrency goroutines, each
// message acked on its own.
func amqpCeiling(ctx context.Context, c ceilingRun) (time.Duration, error) {
	conn, args, err := amqpDial(c.url)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	pub, err := conn.Channel()
	if err != nil {
		return 0, fmt.Errorf("rabbitmq channel: %w", err)
	}
	if _, err := pub.QueueDeclare(c.queue, true, false, false, false, args); err != nil {
		return 0, fmt.Errorf("rabbitmq declare %s: %w", c.queue, err)
	}
	defer amqpRemove(context.WithoutCancel(ctx), c.url, c.queue)
	if err := pub.Confirm(false); err != nil {
		return 0, fmt.Errorf("rabbitmq confirm mode: %w", err)
	}
	sub, err := conn.Channel()
	if err != nil {
		return 0, fmt.Errorf("rabbitmq channel: %w", err)
	}
	if err := sub.Qos(c.prefetch, 0, false); err != nil {
		return 0, fmt.Errorf("rabbitmq qos: %w", err)
	}
	deliveries, err := sub.Consume(c.queue, "", false, false, false, false, nil)
	if err != nil {
		return 0, fmt.Errorf("rabbitmq consume %s: %w", c.queue, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	finished := make(chan struct{})
	var end time.Time
	var once sync.Once
	start := time.Now()

	pubErr := make(chan error, 1)
	go func() {
		pending := make([]*amqp.DeferredConfirmation, 0, amqpConfirmWindow)
		wait := func(dc *amqp.DeferredConfirmation) error {
			ok, err := dc.WaitContext(ctx)
			if err == nil && !ok {
				err = errors.New("message nacked by the broker")
			}
			return err
		}
		msg := amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: c.body}
		for i := 0; i < c.n; i++ {
			if len(pending) == amqpConfirmWindow {
				if err := wait(pending[0]); err != nil {
					pubErr <- fmt.Errorf("rabbitmq confirm: %w", err)
					return
				}
				pending = pending[1:]
			}
			dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, "", c.queue, false, false, msg)
			if err != nil {
				pubErr <- fmt.Errorf("rabbitmq publish: %w", err)
				return
			}
			pending = append(pending, dc)
		}
		for _, dc := range pending {
			if err := wait(dc); err != nil {
				pubErr <- fmt.Errorf("rabbitmq confirm: %w", err)
				return
			}
		}
		pubErr <- nil
	}()
	var wg sync.WaitGroup
	for range c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-finished:
					return
				case d, ok := <-deliveries:
					if !ok {
						return
					}
					if err := d.Ack(false); err != nil {
						return
					}
					if c.acked.Add(1) == int64(c.n) {
						once.Do(func() { end = time.Now(); close(finished) })
					}
				}
			}
		}()
	}
	select {
	case <-finished:
	case <-ctx.Done():
	case err := <-pubErr:
		if err != nil {
			cancel()
			wg.Wait()
			return 0, err
		}
		select {
		case <-finished:
		case <-ctx.Done():
		}
	}
	cancel()
	wg.Wait()
	if c.acked.Load() < int64(c.n) {
		return 0, fmt.Errorf("rabbitmq: %d of %d messages acked: %w", c.acked.Load(), c.n, context.Cause(ctx))
	}
	return end.Sub(start), nil
}

func amqpRemove(ctx context.Context, rawURL, queue string) error {
	conn, _, err := amqpDial(rawURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	names := append(rabbitmq.QueueNames(queue), queue)
	for _, name := range names {
		if _, err := ch.QueueDelete(name, false, false, false); err != nil {
			// A failed delete closes the channel; open another for the rest.
			if ch, err = conn.Channel(); err != nil {
				return err
			}
		}
	}
	return nil
}
