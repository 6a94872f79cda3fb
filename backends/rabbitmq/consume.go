package rabbitmq

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/palantir-lab/palantir/backends"
)

// Subscribe opens a consumer on its own channel, with basic.qos prefetch =
// opts.Prefetch (at least 1), manual acks and the consumer tag
// opts.Name-pid-random. It returns once the broker has registered the
// consumer; if the channel is lost later, the consumer resubscribes by
// itself. Safe for concurrent use.
func (q *Queue) Subscribe(ctx context.Context, opts backends.ConsumerOptions) (backends.Consumer, error) {
	if q.isClosed() {
		return nil, fmt.Errorf("rabbitmq subscribe %s: %w", q.names.work, backends.ErrClosed)
	}
	name := opts.Name
	if name == "" {
		name = "palantir"
	}
	if len(name) > 200 {
		name = name[:200] // a consumer tag is at most 255 bytes
	}
	c := &consumer{
		q:        q,
		tag:      fmt.Sprintf("%s-%d-%08x", name, os.Getpid(), rand.Uint32()),
		prefetch: max(opts.Prefetch, 1),
		out:      make(chan *delivery),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	s, deliveries, err := c.open(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq subscribe %s: %w", q.names.work, err)
	}
	q.mu.Lock()
	if q.isClosed() {
		q.mu.Unlock()
		c.end(s)
		return nil, fmt.Errorf("rabbitmq subscribe %s: %w", q.names.work, backends.ErrClosed)
	}
	q.wg.Add(1) // under mu, so never after Close started waiting
	q.mu.Unlock()
	go c.pump(s, deliveries)
	return c, nil
}

// consumer receives from one channel at a time. Its pump goroutine owns the
// channel: it reads every delivery the broker pushes (at most prefetch
// unsettled ones), hands them to Receive in order, and replaces the channel
// when it is lost.
type consumer struct {
	q        *Queue
	tag      string
	prefetch int
	out      chan *delivery // from the pump to Receive

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	stopped   chan struct{} // closed when the pump has ended
}

// session is one channel of a consumer and the deliveries it holds.
type session struct {
	q  *Queue
	ch *amqp.Channel

	mu   sync.Mutex
	dead bool                 // the channel is closed or closing: the broker requeued held
	held map[uint64]*delivery // unsettled, counted in q.inflight
}

// open opens a channel, sets its prefetch and starts consuming; declare
// redeclares the topology first (when resubscribing, in case the queue
// was deleted).
func (c *consumer) open(ctx context.Context, declare bool) (*session, <-chan amqp.Delivery, error) {
	ch, err := c.q.channel(ctx)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*session, <-chan amqp.Delivery, error) {
		_ = ch.Close()
		return nil, nil, classify(err)
	}
	if declare {
		if _, err := c.q.declare(ch); err != nil {
			return fail(err)
		}
	}
	if err := ch.Qos(c.prefetch, 0, false); err != nil {
		return fail(err)
	}
	deliveries, err := ch.Consume(c.q.names.work, c.tag, false, false, false, false, nil)
	if err != nil {
		return fail(err)
	}
	c.q.consumers.Add(1)
	return &session{q: c.q, ch: ch, held: map[uint64]*delivery{}}, deliveries, nil
}

// end closes the session's channel without settling anything: the broker
// requeues what it held, and settling those deliveries now reports
// ErrLeaseLost.
func (c *consumer) end(s *session) {
	s.mu.Lock()
	s.dead = true
	for tag := range s.held {
		delete(s.held, tag)
		c.q.inflight.Add(-1)
	}
	s.mu.Unlock()
	_ = s.ch.Close() // an error only says it was closed already
	c.q.consumers.Add(-1)
}

func (c *consumer) isDone() bool {
	select {
	case <-c.done:
		return true
	case <-c.q.done:
		return true
	default:
		return false
	}
}

// pump serves sessions until the consumer or its Queue is closed.
func (c *consumer) pump(s *session, deliveries <-chan amqp.Delivery) {
	defer c.q.wg.Done()
	defer close(c.stopped)
	for {
		c.serve(s, deliveries)
		c.end(s)
		if c.isDone() {
			return
		}
		c.q.log.Warn("rabbitmq consumer channel lost; resubscribing", "consumer", c.tag)
		if s, deliveries = c.reopen(); s == nil {
			return
		}
		c.q.log.Info("rabbitmq consumer resubscribed", "consumer", c.tag)
	}
}

// serve moves deliveries from the channel to Receive until the channel is
// lost or the consumer closed.
func (c *consumer) serve(s *session, deliveries <-chan amqp.Delivery) {
	var buf []*delivery // bounded by the prefetch
	for {
		var out chan *delivery
		var head *delivery
		if len(buf) > 0 {
			out, head = c.out, buf[0]
		}
		select {
		case ad, ok := <-deliveries:
			if !ok {
				return // channel or connection closed, or consumer cancelled by the broker
			}
			buf = append(buf, s.hold(ad))
		case out <- head:
			buf[0] = nil
			buf = buf[1:]
		case <-c.done:
			return
		case <-c.q.done:
			return
		}
	}
}

// reopen resubscribes with capped exponential backoff; nil once closed.
func (c *consumer) reopen() (*session, <-chan amqp.Delivery) {
	backoff := minBackoff
	for {
		t := time.NewTimer(backoff)
		select {
		case <-c.done:
			t.Stop()
			return nil, nil
		case <-c.q.done:
			t.Stop()
			return nil, nil
		case <-t.C:
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-c.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		s, deliveries, err := c.open(ctx, true)
		cancel()
		if err == nil {
			return s, deliveries
		}
		c.q.log.Warn("rabbitmq resubscribe failed", "consumer", c.tag, "retry_in", min(2*backoff, maxBackoff), "err", err)
		backoff = min(2*backoff, maxBackoff)
	}
}

// Receive returns the next delivery, blocking until one arrives, ctx ends
// (ctx's error) or the consumer or its Queue is closed (ErrClosed). Safe to
// call from several goroutines; each delivery goes to one caller.
func (c *consumer) Receive(ctx context.Context) (backends.Delivery, error) {
	if c.isDone() {
		return nil, fmt.Errorf("rabbitmq receive %s: %w", c.q.names.work, backends.ErrClosed)
	}
	for {
		var d *delivery
		select {
		case d = <-c.out:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, fmt.Errorf("rabbitmq receive %s: %w", c.q.names.work, backends.ErrClosed)
		case <-c.q.done:
			return nil, fmt.Errorf("rabbitmq receive %s: %w", c.q.names.work, backends.ErrClosed)
		}
		if !d.uncounted {
			return d, nil
		}
		replaced, err := d.recount(ctx)
		switch {
		case err != nil:
			return nil, err
		case !replaced:
			return d, nil
		}
		// Its counted copy will come in its turn.
	}
}

// recount puts a counted copy of a redelivered message whose count the
// broker does not know (see deliveries) in its place: it publishes the
// copy, confirmed, then acks the original, and reports true. If the copy
// cannot be published (the broker refuses, or blocks publishers), it
// reports false and the delivery is handed out as it is, counted at
// least: a redelivered message must not loop between the queue and a
// failing publish. If ctx ends first, it releases the original and
// returns ctx's error.
func (d *delivery) recount(ctx context.Context) (bool, error) {
	if err := d.begin(); err != nil {
		// The channel is gone and the broker has it back already.
		return true, nil
	}
	q := d.s.q
	out := outgoing{queue: q.names.work, msg: publishing(d.rec.Message, time.Now(), d.rec.EnqueuedAt)}
	out.msg.Headers[hdrDeliveries] = int32(min(d.rec.Deliveries-1, 1<<31-1))
	if err := q.publish(ctx, []outgoing{out}); err != nil {
		if ctx.Err() != nil {
			_ = d.finish(requeue) // if it fails, the broker has it back anyway
			return false, ctx.Err()
		}
		d.unclaim()
		q.log.Warn("rabbitmq could not republish a redelivered message to count its deliveries; handing it out as it is",
			"id", d.rec.ID, "deliveries_at_least", d.rec.Deliveries, "err", err)
		return false, nil
	}
	if err := d.finish(ack); err != nil {
		q.log.Warn("rabbitmq redelivered message counted, but the original could not be acked: it will come back beside its copy",
			"id", d.rec.ID, "err", err)
	}
	return true, nil
}

// Close cancels the consumer by closing its channel, without settling
// anything: the broker requeues its unsettled deliveries at once, and
// settling them afterwards returns ErrLeaseLost. Idempotent; returns once
// the channel is closed.
func (c *consumer) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	<-c.stopped
	return nil
}

// settleState is where a delivery is in its settlement.
type settleState int

const (
	unsettled settleState = iota
	settling              // Retry or DeadLetter is publishing its copy first
	settled
)

// delivery is one message received on a session's channel.
type delivery struct {
	s   *session
	ad  amqp.Delivery
	rec backends.Received
	// uncounted: redelivered without a broker count; Receive republishes
	// it counted rather than hand it out (see deliveries).
	uncounted bool

	state settleState // guarded by s.mu
}

// hold registers a delivery the broker just pushed.
func (s *session) hold(ad amqp.Delivery) *delivery {
	d := &delivery{s: s, ad: ad, rec: received(ad, time.Now())}
	_, d.uncounted = deliveries(ad)
	s.mu.Lock()
	s.held[ad.DeliveryTag] = d
	s.q.inflight.Add(1)
	s.mu.Unlock()
	return d
}

func (d *delivery) Received() backends.Received { return d.rec }

// begin claims the delivery for a settlement that first publishes a copy.
func (d *delivery) begin() error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	switch {
	case d.state != unsettled:
		return backends.ErrSettled
	case d.s.dead:
		return backends.ErrLeaseLost
	}
	d.state = settling
	return nil
}

// unclaim undoes begin when nothing was sent.
func (d *delivery) unclaim() {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.state == settling {
		d.state = unsettled
	}
}

// finish sends the ack or nack on the delivery's own channel. Holding s.mu
// while sending means a settlement that succeeds was sent before end
// closed the channel; one that cannot be sent was requeued by the broker.
func (d *delivery) finish(send func(amqp.Delivery) error) error {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		d.state = unsettled
		return backends.ErrLeaseLost
	}
	if err := send(d.ad); err != nil {
		// The channel is gone, and its unacked deliveries with it.
		d.state = unsettled
		return fmt.Errorf("%w: %w", backends.ErrLeaseLost, err)
	}
	d.state = settled
	if _, ok := s.held[d.ad.DeliveryTag]; ok {
		delete(s.held, d.ad.DeliveryTag)
		s.q.inflight.Add(-1)
	}
	return nil
}

// settleNow claims and finishes in one step (Ack, Release).
func (d *delivery) settleNow(send func(amqp.Delivery) error) error {
	if err := d.begin(); err != nil {
		return err
	}
	return d.finish(send)
}

func ack(ad amqp.Delivery) error     { return ad.Ack(false) }
func requeue(ad amqp.Delivery) error { return ad.Nack(false, true) }

// Ack acks the delivery on its channel.
func (d *delivery) Ack(ctx context.Context) error {
	if err := d.settleNow(ack); err != nil {
		return fmt.Errorf("rabbitmq ack %s: %w", d.rec.ID, err)
	}
	return nil
}

// Release nacks the delivery with requeue: the broker gives it back to the
// queue as the same attempt, marked redelivered.
func (d *delivery) Release(ctx context.Context) error {
	if err := d.settleNow(requeue); err != nil {
		return fmt.Errorf("rabbitmq release %s: %w", d.rec.ID, err)
	}
	return nil
}

// Retry publishes a confirmed copy as attempt+1 to the retry ladder (to
// the work queue when delay <= 0), then acks the original. If the copy
// cannot be published, the original is released back to the queue (left
// unsettled it would hold a prefetch slot until the channel closed). If
// the copy is confirmed but the ack cannot be sent (the channel is gone),
// Retry still returns nil: the copy is what counts, and the original comes
// back as a stale redelivery of the old attempt (logged as a warning).
func (d *delivery) Retry(ctx context.Context, delay time.Duration) error {
	names := d.s.q.names
	m := d.rec.Message
	m.Attempt++
	now := time.Now()
	out := outgoing{queue: names.work, msg: publishing(m, now, now)}
	if delay > 0 {
		out.queue = names.retryFor(delay)
		out.msg = publishing(m, now, now.Add(delay))
		out.msg.Expiration = expiration(delay)
	}
	return d.replace(ctx, "retry", out)
}

// DeadLetter publishes a confirmed copy to the dead-letter queue with the
// reason and the time, then acks the original. Failures are handled as in
// Retry.
func (d *delivery) DeadLetter(ctx context.Context, reason string) error {
	now := time.Now()
	msg := publishing(d.rec.Message, now, now)
	msg.Headers[hdrReason] = reason
	msg.Headers[hdrDeadAt] = now.UTC().Format(time.RFC3339Nano)
	return d.replace(ctx, "dead-letter", outgoing{queue: d.s.q.names.dead, msg: msg})
}

// replace publishes out in the delivery's place, then acks the delivery.
func (d *delivery) replace(ctx context.Context, op string, out outgoing) error {
	if err := d.begin(); err != nil {
		return fmt.Errorf("rabbitmq %s %s: %w", op, d.rec.ID, err)
	}
	if err := d.s.q.publish(ctx, []outgoing{out}); err != nil {
		if rerr := d.finish(requeue); rerr != nil {
			return fmt.Errorf("rabbitmq %s %s: publish to %s: %w (the original was already back in the queue: %v)", op, d.rec.ID, out.queue, err, rerr)
		}
		return fmt.Errorf("rabbitmq %s %s: publish to %s: %w (the original was released back to the queue)", op, d.rec.ID, out.queue, err)
	}
	if d.s.q.afterCopy != nil {
		d.s.q.afterCopy(d)
	}
	if err := d.finish(ack); err != nil {
		// The copy is what counts: reporting a failure here would have the
		// worker keep the old attempt current while the copy runs the
		// next one, and the original, redelivered, start a second retry
		// chain. Succeeding lets the worker record the next attempt (or
		// the dead letter); the original comes back as a stale
		// redelivery of an attempt already settled, which the worker
		// acks without running it.
		d.settleLost()
		d.s.q.log.Warn("rabbitmq "+op+": the copy is confirmed but the original could not be acked; it will be delivered again, stale",
			"id", d.rec.ID, "attempt", d.rec.Attempt, "copy_in", out.queue, "err", err)
	}
	return nil
}

// settleLost marks the delivery settled after a settlement whose copy
// counts although the ack was lost with the channel (the broker has the
// original back already).
func (d *delivery) settleLost() {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.state = settled
	if _, ok := d.s.held[d.ad.DeliveryTag]; ok {
		delete(d.s.held, d.ad.DeliveryTag)
		d.s.q.inflight.Add(-1)
	}
}

// Extend has no lease to renew: the delivery is the consumer's for as long
// as its channel lives. It returns nil while that holds, ErrSettled after
// a settlement, and ErrLeaseLost once the channel is gone (the broker has
// requeued the message), so a worker can stop early.
func (d *delivery) Extend(ctx context.Context) error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	switch {
	case d.state == settled:
		return fmt.Errorf("rabbitmq extend %s: %w", d.rec.ID, backends.ErrSettled)
	case d.s.dead || d.s.ch.IsClosed():
		return fmt.Errorf("rabbitmq extend %s: %w", d.rec.ID, backends.ErrLeaseLost)
	}
	return nil
}
