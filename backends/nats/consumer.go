package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/internal/prefetch"
)

// Subscribe joins the queue's durable pull consumer, setting its AckWait
// to this queue's lease and its MaxDeliver from its delivery limit (the
// last process to subscribe wins; every palantir process of one
// configuration sets the same), and starts the mover of delayed retries
// and the MaxDeliver watch if this Queue does not run them yet. Each
// consumer pulls on its own, so that Prefetch bounds what it holds. Safe
// for concurrent use.
func (q *Queue) Subscribe(ctx context.Context, opts backends.ConsumerOptions) (backends.Consumer, error) {
	if q.closed() {
		return nil, fmt.Errorf("nats subscribe %s: %w", q.names.Work, backends.ErrClosed)
	}
	cons, err := q.durable(ctx, q.names.Work, q.workConsumerConfig())
	if err != nil {
		return nil, q.fail(ctx, "subscribe", q.names.Work+" "+q.names.Consumer, err)
	}
	if err := q.startBackground(ctx); err != nil {
		return nil, err
	}
	c := &consumer{
		q:        q,
		name:     opts.Name,
		cons:     cons,
		prefetch: max(opts.Prefetch, 1),
		buf:      prefetch.NewBuffer[*delivery](q.cfg.Lease),
		wake:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return nil, fmt.Errorf("nats subscribe %s: %w", q.names.Work, backends.ErrClosed)
	}
	q.consumers[c] = struct{}{}
	return c, nil
}

// consumer pulls from the shared durable consumer.
//
// Receive callers take deliveries from buf. When it is empty, one of
// them starts a pull request (fetch, in a goroutine of its own, so that
// a caller whose ctx ends returns at once while the messages already on
// their way still arrive); messages go into buf as they arrive, and
// every waiting caller is woken. (So this consumer uses prefetch.Buffer
// but not prefetch.Consumer, whose fetch is the waiting caller's own.)
type consumer struct {
	q        *Queue
	name     string
	cons     jetstream.Consumer
	prefetch int

	// buf counts the deliveries handed out and not yet settled too; a
	// pull asks for no more than prefetch minus those and the buffered
	// ones. It has a lock of its own, but is changed only under mu, so
	// that it changes together with the fields below.
	buf *prefetch.Buffer[*delivery]

	mu       sync.Mutex // guards the fields below, and changes of buf
	fetching bool
	fetched  chan struct{}      // closed when the running pull ends
	stopPull context.CancelFunc // cancels the running pull (Close)
	wake     chan struct{}      // closed and replaced when buf grows or a pull ends
	gen      int                // pulls started
	ended    int                // the last pull that ended
	err      error              // how it ended
	failures int                // pulls that failed in a row
	retryAt  time.Time          // no pull before this after a failure

	once sync.Once
	done chan struct{}
}

// Receive returns the next delivery. It blocks until one is available,
// ctx ends (ctx's error, at once) or the consumer or queue is closed
// (ErrClosed). A pull that fails (the server is away) is returned as an
// error wrapping ErrUnreachable to the callers that waited for it, and
// the next pull waits for a backoff of 100 ms doubling to 5 s, so that no
// caller can make the consumer spin. Safe for concurrent use.
func (c *consumer) Receive(ctx context.Context) (backends.Delivery, error) {
	for {
		if c.closed() {
			return nil, fmt.Errorf("nats receive %s: %w", c.q.names.Work, backends.ErrClosed)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c.mu.Lock()
		if d, ok := c.buf.Pop(); ok {
			c.mu.Unlock()
			if c.buf.Vet(ctx, d) {
				return d, nil
			}
			continue
		}
		var timer *time.Timer
		var retry <-chan time.Time
		waitedOn := -1
		switch {
		case c.fetching:
			waitedOn = c.gen
		case time.Now().Before(c.retryAt):
			timer = time.NewTimer(time.Until(c.retryAt))
			retry = timer.C
		default:
			c.startFetchLocked()
			waitedOn = c.gen
		}
		wake := c.wake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-retry:
		case <-ctx.Done():
		case <-c.done:
		case <-c.q.done:
		}
		if timer != nil {
			timer.Stop()
		}
		c.mu.Lock()
		failed := c.ended == waitedOn && c.err != nil && c.buf.Len() == 0
		err := c.err
		c.mu.Unlock()
		if failed && !c.closed() {
			return nil, err
		}
	}
}

// wakeLocked wakes every waiting Receive.
func (c *consumer) wakeLocked() {
	close(c.wake)
	c.wake = make(chan struct{})
}

func (c *consumer) startFetchLocked() {
	want := max(c.prefetch-c.buf.Outstanding()-c.buf.Len(), 1)
	ctx, cancel := pullContext()
	c.fetching = true
	c.fetched = make(chan struct{})
	c.stopPull = cancel
	c.gen++
	go c.fetch(ctx, c.gen, want)
}

// fetch makes one pull request for up to want messages (see pull) and
// puts each message in buf as it arrives. No caller's ctx cancels it: a
// pull abandoned mid-way would leave the messages on their way pending
// until the lease ran out. Only Close does (ctx), when nobody will read
// them anyway.
func (c *consumer) fetch(ctx context.Context, gen, want int) {
	q := c.q
	batch, err := pull(ctx, c.cons, want)
	if err == nil {
		for m := range batch.Messages() {
			c.accept(m)
		}
		err = batch.Error()
	}
	if c.closed() {
		err = nil // cancelled by Close: not a failure
	}
	if err != nil {
		err = q.recoverPull(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopPull()
	c.fetching = false
	c.ended = gen
	c.err = nil
	if err != nil {
		c.failures++
		c.retryAt = time.Now().Add(backoff(c.failures, 100*time.Millisecond, 5*time.Second))
		c.err = q.fail(context.Background(), "receive", q.names.Work, err)
		if c.failures == 1 {
			q.log.Warn("nats: pull request failed; trying again with backoff", "err", c.err)
		}
	} else {
		if c.failures > 0 {
			q.log.Info("nats: pull requests answered again")
		}
		c.failures = 0
	}
	close(c.fetched)
	c.wakeLocked()
}

// recoverPull looks at a failed pull. If the work consumer or its stream
// was deleted (said outright, or by a pull request that stopped getting
// heartbeats), it makes them again, as Redis makes its group again, and
// returns nil: pull again. If the request was lost while the consumer is
// there (the server restarted), it returns nil too. Otherwise (the server
// does not answer) it returns err.
func (q *Queue) recoverPull(err error) error {
	if q.destroyed.Load() {
		return fmt.Errorf("nats receive %s: the queue was destroyed: %w", q.names.Work, backends.ErrClosed)
	}
	gone := errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrStreamNotFound) || noStream(err)
	if !gone && !errors.Is(err, jetstream.ErrNoHeartbeat) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	_, cerr := q.js.Consumer(ctx, q.names.Work, q.names.Consumer)
	switch {
	case cerr == nil:
		return nil
	case errors.Is(cerr, jetstream.ErrConsumerNotFound) || errors.Is(cerr, jetstream.ErrStreamNotFound):
		if q.remake() == nil {
			return nil
		}
	}
	return err
}

// remake creates the streams and the work consumer again, as Redis
// makes its group again.
func (q *Queue) remake() error {
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	if err := q.ensure(ctx); err != nil {
		return err
	}
	_, err := q.durable(ctx, q.names.Work, q.workConsumerConfig())
	return err
}

// accept turns a pulled message into a delivery in buf. A message over
// the size limit is dead-lettered here, never handed out: the worker
// would refuse it anyway, and it must not cost a worker its memory.
func (c *consumer) accept(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		c.q.log.Warn("nats: a pulled message has no JetStream metadata; ignored", "subject", m.Subject(), "err", err)
		return
	}
	if len(m.Data()) > c.q.cfg.MaxBytes() {
		c.q.deadLetterTooLarge(m, md)
		return
	}
	s := decode(m.Headers(), m.Data(), md.Sequence.Stream)
	now := time.Now()
	d := &delivery{
		c:        c,
		msg:      m,
		received: now,
		deadline: now.Add(c.q.leaseKnown()),
		rec: backends.Received{
			Message:     s.msg,
			EnqueuedAt:  md.Timestamp,
			Redelivered: md.NumDelivered > 1 || s.redelivered,
			Deliveries:  int(md.NumDelivered) + s.prior,
		},
	}
	c.mu.Lock()
	if c.closed() {
		c.mu.Unlock()
		c.giveBack([]*delivery{d}) // pulled after Close began
		return
	}
	c.buf.Push(d)
	c.wakeLocked()
	c.mu.Unlock()
}

// leaseKnown is how long this client may count on a delivery's lease
// from the moment it arrived: the AckWait, less a margin for the time
// the message spent on the wire (the server's timer started when it
// sent it).
func (q *Queue) leaseKnown() time.Duration {
	return q.cfg.Lease - q.cfg.Lease/20
}

func (c *consumer) closed() bool {
	select {
	case <-c.done:
		return true
	case <-c.q.done:
		return true
	default:
		return false
	}
}

// Close stops the consumer: Receive returns ErrClosed. It cancels a
// running pull request (a message on its way at that instant comes back
// after the lease) and gives back what was pulled but not handed out
// (see giveBack). Deliveries handed out are not settled and come back
// after the lease. Idempotent.
func (c *consumer) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		close(c.done)
		fetched, fetching := c.fetched, c.fetching
		if fetching {
			c.stopPull()
		}
		c.mu.Unlock()
		if fetching {
			select {
			case <-fetched:
			case <-time.After(apiTimeout):
			}
		}
		c.mu.Lock()
		rest := c.buf.Drain()
		c.mu.Unlock()
		c.giveBack(rest)
		c.q.mu.Lock()
		delete(c.q.consumers, c)
		c.q.mu.Unlock()
	})
	return nil
}

// giveBack returns deliveries pulled but never handed out, at once: for
// each, a copy on the work subject carrying its count less this delivery
// (which no worker saw), then an ack of the original. Best effort: one
// not given back comes back after the lease.
//
// Not a NAK, which would be simpler: nats-server before 2.10.14 mishandles
// a redelivery (a NAKed message is one) that finds only a pull request
// nobody listens to any more, such as the one this consumer just
// cancelled: it skips the message until its AckWait runs out and hands
// out an earlier one a second time (nats-server#5305). New messages are
// not affected.
func (c *consumer) giveBack(ds []*delivery) {
	if len(ds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	for _, d := range ds {
		o := outgoing{subject: c.q.names.WorkSubject, msg: d.rec.Message,
			prior: max(d.rec.Deliveries-1, 0), redelivered: d.rec.Redelivered}
		if _, err := c.q.publishOne(ctx, o); err != nil {
			continue
		}
		_ = d.msg.DoubleAck(ctx)
	}
}
