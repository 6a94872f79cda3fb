package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/palantir-lab/palantir/backends"
)

// ceiling is JetStream at its best with nats.go alone: one producer
// publishing asynchronously (a batch of publish acks outstanding at
// once), and run.Concurrency pull iterators (Messages, keeping
// run.Prefetch messages buffered with pipelined pull requests) on one
// durable consumer, each acking every message (+ACK, not awaited). The
// scratch stream is a work queue with file storage and the URL's
// replicas, like a palantir queue's, named from run.Queue, and is
// deleted afterwards.
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
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: set.replicas})
	if err != nil {
		return 0, fmt.Errorf("nats ceiling: create stream %s: %w", n.Work, err)
	}
	defer js.DeleteStream(context.WithoutCancel(ctx), n.Work)
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "ceiling",
		AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1})
	if err != nil {
		return 0, fmt.Errorf("nats ceiling: create consumer: %w", err)
	}
	iters := make([]jetstream.MessagesContext, run.Concurrency)
	for i := range iters {
		if iters[i], err = cons.Messages(jetstream.PullMaxMessages(max(run.Prefetch, 1))); err != nil {
			return 0, fmt.Errorf("nats ceiling: pull: %w", err)
		}
		defer iters[i].Stop()
	}
	return backends.MeasureCeiling(ctx, run, "nats", publishWindow,
		func(ctx context.Context, count int) error {
			futures := make([]jetstream.PubAckFuture, count)
			for i := range futures {
				f, err := js.PublishAsync(n.WorkSubject, run.Body, jetstream.WithStallWait(publishWait))
				if err != nil {
					return err
				}
				futures[i] = f
			}
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					return err
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		},
		func(ctx context.Context, consumer int) (int, error) {
			m, err := iters[consumer].Next(jetstream.NextMaxWait(100 * time.Millisecond))
			if errors.Is(err, natsgo.ErrTimeout) {
				return 0, nil
			}
			if err != nil {
				return 0, err
			}
			if err := m.Ack(); err != nil {
				return 0, fmt.Errorf("ack: %w", err)
			}
			return 1, nil
		})
}
