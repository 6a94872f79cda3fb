package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/palantir-lab/palantir/backends"
)

// delivery is one message pending on the durable consumer. Its methods
// are safe for concurrent use (mu serialises settlement and Extend).
// Cancelling ctx abandons a wait; a call that failed without settling
// may be made again.
type delivery struct {
	c        *consumer
	msg      jetstream.Msg
	rec      backends.Received
	received time.Time

	mu       sync.Mutex
	settled  bool
	deadline time.Time // when the lease may have run out, on this client's clock
}

// Received returns the message and its metadata.
func (d *delivery) Received() backends.Received { return d.rec }

// FetchedAt returns when the message arrived (prefetch.Delivery).
func (d *delivery) FetchedAt() time.Time { return d.received }

// Drop marks the delivery settled; the buffer calls it when its lease may
// have run out before it was handed out (prefetch.Delivery).
func (d *delivery) Drop() {
	d.mu.Lock()
	d.settled = true
	d.mu.Unlock()
}

// begin checks that the delivery may still be settled or extended; it
// is called with mu held.
func (d *delivery) begin(op string) error {
	if d.settled {
		return fmt.Errorf("nats %s %s: %w", op, d.rec.ID, backends.ErrSettled)
	}
	if d.c.q.closed() {
		return fmt.Errorf("nats %s %s: %w", op, d.rec.ID, backends.ErrClosed)
	}
	return nil
}

func (d *delivery) finish() {
	d.settled = true
	d.c.buf.Settled()
}

// Ack acknowledges the message and waits for the server to confirm
// (+ACK with a reply, "AckSync"): the work queue then deletes it. A
// failed round trip leaves the delivery unsettled.
//
// JetStream does not tell an ack of the current delivery from an ack of
// an earlier one whose lease ran out: an Ack after the lease still
// deletes the message, even if another consumer holds it now (that
// consumer's outcome is then a duplicate, which the store records once).
func (d *delivery) Ack(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin("ack"); err != nil {
		return err
	}
	actx, cancel := withTimeout(ctx, apiTimeout)
	defer cancel()
	if err := d.msg.DoubleAck(actx); err != nil {
		return d.c.q.fail(ctx, "ack", d.rec.ID, err)
	}
	d.finish()
	return nil
}

// Retry publishes a copy of the message as attempt+1 and then acks this
// one. With a delay the copy goes to the delayed stream, stamped with its
// due time, where the mover (mover.go) holds it with NakWithDelay until
// it is due and then publishes it to the work subject; without one it
// goes to the work subject at once.
//
// Why a new copy rather than NakWithDelay on this message: a NAK
// redelivers the same stored message, whose headers (its attempt) cannot
// change and whose delivery count keeps growing, while a retry is a new
// attempt whose deliveries are counted from 1 (backends.Received). A NAK
// would also keep the delayed retry pending on the work consumer, where
// it would count as in flight.
//
// If the copy cannot be published, the original is given back at once
// (NAK), as the same attempt, and the error returned. If the copy is
// published but the ack is lost, Retry returns nil and logs it: the copy
// is what counts, and the original comes back after the lease as a stale
// attempt the store ignores.
func (d *delivery) Retry(ctx context.Context, delay time.Duration) error {
	o := outgoing{subject: d.c.q.names.WorkSubject, msg: d.rec.Message}
	o.msg.Attempt++
	if delay > 0 {
		o.subject, o.due = d.c.q.names.DelayedSubject, time.Now().Add(delay)
	}
	return d.replace(ctx, "retry", o, false)
}

// Release gives the message back as the same attempt: it publishes a
// copy to the work subject, marked redelivered and carrying this copy's
// deliveries less this one (a release is not a delivery without an
// outcome), and acks this one. The copy waits at the tail of the queue.
// If the copy cannot be published, the message is NAKed instead: given
// back all the same, but counted as a delivery.
func (d *delivery) Release(ctx context.Context) error {
	o := outgoing{subject: d.c.q.names.WorkSubject, msg: d.rec.Message,
		prior: max(d.rec.Deliveries-1, 0), redelivered: true}
	return d.replace(ctx, "release", o, true)
}

// DeadLetter publishes the message with reason and time to the
// dead-letter stream, then acks it. As with Retry, a copy that cannot be
// published gives the original back.
func (d *delivery) DeadLetter(ctx context.Context, reason string) error {
	o := outgoing{subject: d.c.q.names.DeadSubject, msg: d.rec.Message, reason: reason, deadAt: time.Now()}
	return d.replace(ctx, "dead-letter", o, false)
}

// replace publishes o, awaiting its publish ack, then acks the delivery.
// nakIsSuccess: the operation's aim (giving the message back) is met by a
// NAK when the copy fails.
func (d *delivery) replace(ctx context.Context, op string, o outgoing, nakIsSuccess bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(op); err != nil {
		return err
	}
	q := d.c.q
	if _, err := q.publishOne(ctx, o); err != nil {
		if nerr := d.msg.Nak(); nerr == nil {
			d.finish()
			if nakIsSuccess {
				q.log.Warn("nats: could not publish the released copy; gave the message back with a NAK instead (counted as a delivery)",
					"id", d.rec.ID, "err", err)
				return nil
			}
		}
		return q.fail(ctx, op, d.rec.ID, err)
	}
	d.finish()
	actx, cancel := withTimeout(ctx, apiTimeout)
	defer cancel()
	if err := d.msg.DoubleAck(actx); err != nil {
		q.log.Warn("nats: copy published but the original not acked: it will come back beside its copy after the lease",
			"op", op, "id", d.rec.ID, "err", err)
	}
	return nil
}

// Extend renews the lease: an in-progress ack (+WPI) sent as a request,
// so that its reply confirms the server restarted the AckWait. It
// returns ErrLeaseLost when the lease may already have run out on this
// client's clock (the server does not say whether it gave the message to
// another consumer meanwhile, so the client assumes it did), ErrSettled
// after settlement.
func (d *delivery) Extend(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin("extend"); err != nil {
		return err
	}
	if time.Now().After(d.deadline) {
		return fmt.Errorf("nats extend %s: %w", d.rec.ID, backends.ErrLeaseLost)
	}
	q := d.c.q
	sent := time.Now()
	rctx, cancel := withTimeout(ctx, apiTimeout)
	defer cancel()
	if _, err := q.nc.RequestWithContext(rctx, d.msg.Reply(), []byte("+WPI")); err != nil {
		return q.fail(ctx, "extend", d.rec.ID, err)
	}
	d.deadline = sent.Add(q.leaseKnown())
	return nil
}

// deadLetterTooLarge moves m, whose body is over the size limit, to the
// dead letters without handing it out, and says so once. If the dead
// letter cannot be published whole (the body and the headers together
// are over the server's max_payload), it is published without its body.
// If it cannot be published at all, m is NAKed for a lease and tried
// again then.
func (q *Queue) deadLetterTooLarge(m jetstream.Msg, md *jetstream.MsgMetadata) {
	s := decode(m.Headers(), m.Data(), md.Sequence.Stream)
	size := len(s.msg.Body)
	reason := fmt.Sprintf("message of %d bytes is over the limit of %d (max_message_size)", size, q.cfg.MaxBytes())
	o := outgoing{subject: q.names.DeadSubject, msg: s.msg, reason: reason, deadAt: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	_, err := q.publishOne(ctx, o)
	if errors.Is(err, natsgo.ErrMaxPayload) {
		o.msg.Body, o.reason = nil, reason+"; body dropped: over the server's max_payload with the headers"
		_, err = q.publishOne(ctx, o)
	}
	if err != nil {
		q.log.Warn("nats: could not dead-letter a message over the size limit; it will be tried again after the lease",
			"id", s.msg.ID, "err", err)
		_ = m.NakWithDelay(q.cfg.Lease)
		return
	}
	if err := m.DoubleAck(ctx); err != nil {
		q.log.Warn("nats: dead-lettered a message over the size limit, but could not ack it: it will come back after the lease",
			"id", s.msg.ID, "err", err)
	}
	q.log.Warn("nats: dead-lettered a message over the size limit without delivering it",
		"id", s.msg.ID, "bytes", size, "limit", q.cfg.MaxBytes(), "reason", reason)
}
