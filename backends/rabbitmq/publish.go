package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/palantir-lab/palantir/backends"
)

// confirmWindow bounds the messages published but not yet confirmed.
const confirmWindow = 1024

// publisher owns the channel every publish of a Queue goes through, in
// confirm mode. mu serializes publishes, so that the confirms and returns
// read in one call belong to that call.
type publisher struct {
	mu      sync.Mutex
	ch      *amqp.Channel    // nil until first use and after a failure
	returns chan amqp.Return // messages that no queue took (mandatory flag)
	closed  bool
}

// outgoing is one message and the queue it goes to.
type outgoing struct {
	queue string
	msg   amqp.Publishing
}

// Publish enqueues msgs on the work queue and returns once the broker has
// confirmed all of them. It blocks for the confirms, at most 30 s (and up
// to 10 s more for a lost connection to come back); while the broker
// blocks publishers (a memory or disk alarm) it gives up after 10 s with
// an error wrapping ErrBlocked and backends.ErrUnreachable. Cancelling
// ctx abandons the wait. On
// error some messages may have been enqueued, except for a body over
// Config.MaxBytes: then nothing of the batch is sent and the error wraps
// backends.ErrTooLarge. Safe for concurrent use.
func (q *Queue) Publish(ctx context.Context, msgs ...backends.Message) error {
	if err := q.cfg.CheckSizes(msgs); err != nil {
		return fmt.Errorf("rabbitmq publish %s: %w", q.names.work, err)
	}
	now := time.Now()
	outs := make([]outgoing, len(msgs))
	for i, m := range msgs {
		outs[i] = outgoing{queue: q.names.work, msg: publishing(m, now, now)}
	}
	if err := q.publish(ctx, outs); err != nil {
		return fmt.Errorf("rabbitmq publish %s: %w", q.names.work, err)
	}
	return nil
}

// publish sends outs on the confirming channel and waits for every
// confirm.
func (q *Queue) publish(ctx context.Context, outs []outgoing) error {
	if q.isClosed() {
		return backends.ErrClosed
	}
	if err := ctx.Err(); err != nil || len(outs) == 0 {
		return err
	}
	start := time.Now()
	overall := time.NewTimer(confirmWait)
	defer overall.Stop()
	p := &q.pub
	p.mu.Lock()
	defer p.mu.Unlock()
	// Opening a channel waits for the broker's answer, which a blocked
	// connection does not give.
	if _, err := q.awaitPublish(ctx, nil, start, overall.C); err != nil {
		return err
	}
	ch, err := q.pubChannel(ctx)
	if err != nil {
		return err
	}
	pending := make([]*amqp.DeferredConfirmation, 0, min(len(outs), confirmWindow))
	returned := 0
	await := func(dc *amqp.DeferredConfirmation) error {
		acked, err := q.awaitPublish(ctx, dc, start, overall.C)
		if err != nil {
			// Confirms and returns may still arrive for this batch; a new
			// channel keeps them away from the next one.
			p.discard()
			return err
		}
		returned += drain(p.returns)
		if !acked {
			// amqp091-go also reports an unconfirmed message as a nack
			// when the channel closes.
			p.discard()
			switch {
			case q.isClosed():
				return backends.ErrClosed
			case ch.IsClosed():
				return fmt.Errorf("%w: connection lost before the broker confirmed", backends.ErrUnreachable)
			}
			return errors.New("the broker refused a message (nack)")
		}
		return nil
	}
	for _, o := range outs {
		// Nothing more is written to a blocked connection: the broker
		// reads none of it, and a full socket would block the write
		// beyond any deadline.
		if _, err := q.awaitPublish(ctx, nil, start, overall.C); err != nil {
			p.discard()
			return err
		}
		if len(pending) == confirmWindow {
			if err := await(pending[0]); err != nil {
				return err
			}
			pending = pending[1:]
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", o.queue, true, false, o.msg)
		if err != nil {
			p.discard()
			if q.isClosed() {
				return backends.ErrClosed
			}
			return classify(err)
		}
		pending = append(pending, dc)
	}
	for _, dc := range pending {
		if err := await(dc); err != nil {
			return err
		}
	}
	if returned > 0 {
		// The broker returns an unroutable message before confirming it,
		// so every return of this batch has arrived. Redeclaring puts back
		// a queue that someone deleted, for the next attempt.
		if err := q.redeclare(ctx); err != nil {
			q.log.Warn("rabbitmq redeclare after an unroutable publish failed", "err", err)
		}
		return fmt.Errorf("%d of %d messages were not routed to any queue (was a queue deleted?)", returned, len(outs))
	}
	return nil
}

// pubChannel returns the publishing channel, opening one in confirm mode if
// needed. Caller holds p.mu.
func (q *Queue) pubChannel(ctx context.Context) (*amqp.Channel, error) {
	p := &q.pub
	if p.closed {
		return nil, backends.ErrClosed
	}
	if p.ch != nil && !p.ch.IsClosed() {
		return p.ch, nil
	}
	ch, err := q.publishing.channel(ctx)
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, classify(err)
	}
	// Room for every return a full window can produce, so the library
	// never blocks delivering one.
	p.returns = ch.NotifyReturn(make(chan amqp.Return, 2*confirmWindow))
	p.ch = ch
	return ch, nil
}

// discard abandons the publishing channel. Caller holds p.mu. The close
// runs in the background: channel.close waits for the broker's answer,
// which a blocked connection does not give until the alarm clears (or the
// connection closes).
func (p *publisher) discard() {
	if ch := p.ch; ch != nil {
		p.ch = nil
		go func() { _ = ch.Close() }()
	}
}

// close discards the channel for good.
func (p *publisher) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.discard()
}

// drain counts and empties what is waiting in returns.
func drain(returns chan amqp.Return) int {
	n := 0
	for {
		select {
		case _, ok := <-returns:
			if !ok {
				return n
			}
			n++
		default:
			return n
		}
	}
}

// redeclare declares the topology on a channel of its own.
func (q *Queue) redeclare(ctx context.Context) error {
	conn, err := q.connection(ctx)
	if err != nil {
		return err
	}
	return q.declareOn(conn)
}
