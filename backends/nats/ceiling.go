package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/palantir-lab/palantir/backends"
)

// ceiling is JetStream at its best with nats.go alone: one producer
// publishing asynchronously (many publish acks outstanding at once),
// and run.Concurrency pull iterators (Messages, keeping run.Prefetch
// messages buffered with pipelined pull requests) on one durable
// consumer, each acking every message (+ACK, not awaited). The scratch
// stream is a work queue with file storage, like a palantir queue's,
// named from run.Queue, and is deleted afterwards.
func ceiling(ctx context.Context, run backends.CeilingRun) (time.Duration, error) {
	set, err := parseURL(run.URL)
	if err != nil {
		return 0, err
	}
	nc, err := connect(ctx, set, "palantir ceiling", nil)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxPending))
	if err != nil {
		return 0, fmt.Errorf("nats ceiling: %w", err)
	}
	n := NamesFor(run.Queue)
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: n.Work, Subjects: []string{n.WorkSubject},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage})
	if err != nil {
		return 0, fmt.Errorf("nats ceiling: create stream %s: %w", n.Work, err)
	}
	defer js.DeleteStream(context.WithoutCancel(ctx), n.Work)
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "ceiling",
		AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1})
	if err != nil {
		return 0, fmt.Errorf("nats ceiling: create consumer: %w", err)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var end atomic.Int64 // when the last message was acked (unix ns)
	var wg sync.WaitGroup
	iters := make([]jetstream.MessagesContext, 0, run.Concurrency)
	for range max(run.Concurrency, 1) {
		it, err := cons.Messages(jetstream.PullMaxMessages(max(run.Prefetch, 1)))
		if err != nil {
			cancel(err)
			break
		}
		iters = append(iters, it)
	}
	stopAll := context.AfterFunc(ctx, func() {
		for _, it := range iters {
			it.Stop()
		}
	})
	defer stopAll()
	start := time.Now()
	for _, it := range iters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := it.Next()
				if err != nil {
					if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
						cancel(fmt.Errorf("nats ceiling: pull: %w", err))
					}
					return
				}
				if err := m.Ack(); err != nil {
					cancel(fmt.Errorf("nats ceiling: ack: %w", err))
					return
				}
				if run.Acked.Add(1) == int64(run.Messages) {
					end.Store(time.Now().UnixNano())
					cancel(nil)
				}
			}
		}()
	}
	if err := ceilingProduce(ctx, js, n.WorkSubject, run); err != nil {
		cancel(err)
	}
	wg.Wait()
	if run.Acked.Load() < int64(run.Messages) {
		return 0, fmt.Errorf("nats: %d of %d messages acked: %w", run.Acked.Load(), run.Messages, context.Cause(ctx))
	}
	return time.Unix(0, end.Load()).Sub(start), nil
}

// ceilingProduce publishes run.Messages bodies asynchronously and waits
// for every publish ack.
func ceilingProduce(ctx context.Context, js jetstream.JetStream, subject string, run backends.CeilingRun) error {
	futures := make([]jetstream.PubAckFuture, 0, run.Messages)
	for range run.Messages {
		f, err := js.PublishAsync(subject, run.Body, jetstream.WithStallWait(publishWait))
		if err != nil {
			return fmt.Errorf("nats ceiling: publish: %w", err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("nats ceiling: publish ack: %w", err)
		case <-ctx.Done():
			return nil // done (every message acked) or failed elsewhere
		}
	}
	return nil
}
