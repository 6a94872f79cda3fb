package rabbitmq

import (
	"context"
	"fmt"
	"slices"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/palantir-lab/palantir/backends"
)

// Stats declares the topology (idempotently) and reports its counts:
// Ready from the work queue, Delayed summed over the retry ladder,
// DeadLetters from the dead-letter queue. InFlight is exact only when this
// Queue's consumers are all the consumers the work queue has (see the
// package comment); otherwise it is -1. Safe for concurrent use; a few
// round trips.
func (q *Queue) Stats(ctx context.Context) (backends.Stats, error) {
	var st backends.Stats
	err := q.withChannel(ctx, func(ch *amqp.Channel) error {
		ours := q.consumers.Load()
		var c counts
		var err error
		if q.cfg.Inspect {
			// Looked at, not declared: a mistyped --queue leaves nothing.
			c, err = q.names.inspect(func() (*amqp.Channel, error) { return q.channel(ctx) })
		} else {
			c, err = q.declare(ch)
		}
		if err != nil {
			return err
		}
		st = backends.Stats{
			Ready:       int64(c.work.Messages),
			InFlight:    -1,
			Delayed:     c.delayed,
			DeadLetters: int64(c.dead.Messages),
		}
		// Equal to the broker's count, and unchanged on our side while it
		// counted: every consumer of the queue is ours, so every unacked
		// message is one that we hold.
		if int64(c.work.Consumers) == ours && q.consumers.Load() == ours {
			st.InFlight = q.inflight.Load()
		}
		return nil
	})
	if err != nil {
		return backends.Stats{}, fmt.Errorf("rabbitmq stats %s: %w", q.names.work, err)
	}
	return st, nil
}

// DeadLetters lists up to limit dead letters (all when limit <= 0), oldest
// first. It takes them with basic.get without acking and then closes the
// channel, which puts them back in their order; a concurrent listing or
// Replay may miss the ones this call holds meanwhile.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]backends.DeadLetter, error) {
	var out []backends.DeadLetter
	err := q.withChannel(ctx, func(ch *amqp.Channel) error {
		return q.eachDead(ctx, ch, limit, func(ad amqp.Delivery) {
			out = append(out, deadLetter(ad))
		})
	})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq dead letters %s: %w", q.names.dead, notFound(q.names.dead, err))
	}
	return out, nil
}

// Replay moves the dead letters with the given ids (all when none is
// given) back to the work queue as attempt 1: it publishes confirmed copies
// and then acks the dead ones; the others go back unchanged. It returns the
// ids it replayed, in dead-letter order. If acking fails after the copies
// were confirmed, the error says so: they may be replayed twice.
func (q *Queue) Replay(ctx context.Context, ids ...string) ([]string, error) {
	return q.ReplayRewritten(ctx, nil, ids...)
}

// ReplayRewritten is Replay with each copy's body rewritten, before
// anything is published: a rewrite that fails puts every dead letter
// back as it was.
func (q *Queue) ReplayRewritten(ctx context.Context, rewrite backends.Rewrite, ids ...string) ([]string, error) {
	return q.takeDead(ctx, "replay", rewrite, true, ids)
}

// DeleteDeadLetters acks the dead letters with these ids off the dead
// queue; the others go back unchanged.
func (q *Queue) DeleteDeadLetters(ctx context.Context, ids ...string) ([]string, error) {
	return q.takeDead(ctx, "delete dead letters", nil, false, ids)
}

// takeDead takes the dead letters ids name (all when none) and, with
// requeue, publishes their copies, rewritten, as attempt 1 (confirmed)
// before acking them off the dead queue.
func (q *Queue) takeDead(ctx context.Context, op string, rewrite backends.Rewrite, requeue bool, ids []string) ([]string, error) {
	var replayed []string
	err := q.withChannel(ctx, func(ch *amqp.Channel) error {
		var take []amqp.Delivery
		err := q.eachDead(ctx, ch, 0, func(ad amqp.Delivery) {
			if len(ids) == 0 || slices.Contains(ids, message(ad).ID) {
				take = append(take, ad)
			}
		})
		if err != nil || len(take) == 0 {
			return err
		}
		now := time.Now()
		outs := make([]outgoing, len(take))
		for i, ad := range take {
			m := message(ad)
			m.Attempt = 1
			if rewrite != nil {
				var err error
				if m.Body, err = rewrite(m.Body); err != nil {
					return fmt.Errorf("rewrite %s: %w", m.ID, err)
				}
			}
			outs[i] = outgoing{queue: q.names.work, msg: publishing(m, now, now)}
		}
		if !requeue {
			outs = nil
		}
		if err := q.publish(ctx, outs); err != nil {
			return fmt.Errorf("publish to %s: %w", q.names.work, err)
		}
		for _, ad := range take {
			if err := ad.Ack(false); err != nil {
				return fmt.Errorf("%d messages were replayed but remain dead letters, so they may be replayed again: %w", len(take), classify(err))
			}
			replayed = append(replayed, message(ad).ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq %s %s: %w", op, q.names.dead, err)
	}
	return replayed, nil
}

// Purge empties the work queue and the retry ladder and returns how many
// messages it removed. Dead letters and in-flight deliveries stay.
func (q *Queue) Purge(ctx context.Context) (int64, error) {
	var n int64
	err := q.withChannel(ctx, func(ch *amqp.Channel) error {
		if _, err := q.declare(ch); err != nil {
			return err
		}
		for _, name := range append([]string{q.names.work}, q.names.retry...) {
			k, err := ch.QueuePurge(name, false)
			if err != nil {
				return fmt.Errorf("purge %s: %w", name, err)
			}
			n += int64(k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rabbitmq purge %s: %w", q.names.work, err)
	}
	return n, nil
}

// eachDead takes up to limit messages (all when limit <= 0) from the
// dead-letter queue with basic.get, unacked, and calls fn for each, oldest
// first. Closing ch returns whatever was not acked.
func (q *Queue) eachDead(ctx context.Context, ch *amqp.Channel, limit int, fn func(amqp.Delivery)) error {
	for n := 0; limit <= 0 || n < limit; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		ad, ok, err := ch.Get(q.names.dead, false)
		if err != nil {
			return fmt.Errorf("get from %s: %w", q.names.dead, err)
		}
		if !ok {
			return nil
		}
		fn(ad)
	}
	return nil
}

// withChannel runs fn on a channel of its own, closed afterwards (which
// requeues anything fn took and did not ack).
func (q *Queue) withChannel(ctx context.Context, fn func(*amqp.Channel) error) error {
	if q.isClosed() {
		return backends.ErrClosed
	}
	ch, err := q.channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	return classify(fn(ch))
}
