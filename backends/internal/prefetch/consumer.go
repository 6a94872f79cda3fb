package prefetch

import (
	"context"
	"fmt"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// Fetcher is a backend's side of a Consumer: the broker calls.
type Fetcher[D Delivery] interface {
	// Fetch fetches up to want deliveries (want is at least 1) and returns
	// them in the order to hand them out. It may return none, and may wait
	// a while for some to arrive (a bound of the backend's choosing; it
	// should also stop waiting when ctx ends or Consumer.Done is closed).
	//
	// Consumer calls it from one goroutine at a time, so its state needs
	// no lock of its own. ctx is the waiting Receive's; cancelling it
	// should not abandon a reply the broker is sending (its deliveries
	// would stay leased to nobody): Fetch returns them, and they are
	// buffered for the next Receive. What Fetch returns is buffered, with
	// or without an error; the error goes to the Receive that called it,
	// unless ctx ended (ctx's error) or the consumer was closed meanwhile.
	Fetch(ctx context.Context, want int) ([]D, error)
	// GiveBack returns to the broker, best effort, deliveries fetched but
	// never handed out, so that they need not wait for their lease. It is
	// called when a Fetch returns after the consumer was closed, with a
	// ctx bounded by Options.GiveBackWithin. What it fails to give back
	// comes back after the lease.
	GiveBack(ctx context.Context, ds []D)
}

// Options configure a Consumer.
type Options struct {
	// Prefetch bounds what the consumer holds: a Fetch asks for Prefetch
	// less the deliveries handed out and not yet settled (at least one).
	Prefetch int
	// Lease is the deliveries' lease (see Buffer).
	Lease time.Duration
	// QueueDone is closed when the consumer's queue is closed, which
	// closes the consumer too.
	QueueDone <-chan struct{}
	// Op names the operation and target in Receive's ErrClosed, as in
	// "redis receive palantir:q".
	Op string
	// GiveBackWithin bounds a GiveBack.
	GiveBackWithin time.Duration
}

// Consumer is the Receive side of a backend consumer whose fetch is one
// synchronous call. Receive callers take deliveries from a Buffer; when
// it is empty, one of them (the holder of a one-slot token) calls Fetch
// while the others wait for it.
type Consumer[D Delivery] struct {
	f              Fetcher[D]
	buf            *Buffer[D]
	prefetch       int
	queueDone      <-chan struct{}
	op             string
	giveBackWithin time.Duration

	fetching chan struct{} // the token: a one-slot semaphore
	done     chan struct{} // closed by Stop, under buf.mu
}

// New returns a consumer that fetches with f.
func New[D Delivery](f Fetcher[D], opts Options) *Consumer[D] {
	return &Consumer[D]{
		f:              f,
		buf:            NewBuffer[D](opts.Lease),
		prefetch:       max(opts.Prefetch, 1),
		queueDone:      opts.QueueDone,
		op:             opts.Op,
		giveBackWithin: opts.GiveBackWithin,
		fetching:       make(chan struct{}, 1),
		done:           make(chan struct{}),
	}
}

// Receive returns the next delivery: from the buffer (vetted, see
// Buffer.Vet), or else from a Fetch, its own or another caller's. It
// blocks until one is available, ctx ends (ctx's error; at once while
// waiting for another caller's Fetch, when its own Fetch returns
// otherwise), a Fetch fails (its error) or the consumer is closed (an
// error wrapping backends.ErrClosed). Safe for concurrent use; each
// delivery goes to one caller.
func (c *Consumer[D]) Receive(ctx context.Context) (D, error) {
	var zero D
	for {
		if c.Closed() {
			return zero, fmt.Errorf("%s: %w", c.op, backends.ErrClosed)
		}
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		if d, ok := c.buf.Pop(); ok {
			if c.buf.Vet(ctx, d) {
				return d, nil
			}
			continue
		}
		select {
		case c.fetching <- struct{}{}:
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-c.done:
			continue
		case <-c.queueDone:
			continue
		}
		if d, ok := c.buf.Pop(); ok { // fetched while we waited
			<-c.fetching
			if c.buf.Vet(ctx, d) {
				return d, nil
			}
			continue
		}
		ds, err := c.f.Fetch(ctx, max(c.prefetch-c.buf.Outstanding(), 1))
		c.deposit(ds)
		<-c.fetching
		if err != nil {
			if c.Closed() {
				continue
			}
			if ctx.Err() != nil {
				return zero, ctx.Err()
			}
			return zero, err
		}
	}
}

// deposit buffers ds, or gives them back if the consumer was closed
// meanwhile (Stop has already drained the buffer).
func (c *Consumer[D]) deposit(ds []D) {
	if len(ds) == 0 {
		return
	}
	c.buf.mu.Lock()
	if !c.Closed() {
		c.buf.buf = append(c.buf.buf, ds...)
		c.buf.mu.Unlock()
		return
	}
	c.buf.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.giveBackWithin)
	defer cancel()
	c.f.GiveBack(ctx, ds)
}

// Done returns a channel closed when the consumer is stopped (not when
// only its queue is closed: see Closed).
func (c *Consumer[D]) Done() <-chan struct{} { return c.done }

// Closed reports whether the consumer or its queue is closed.
func (c *Consumer[D]) Closed() bool {
	select {
	case <-c.done:
		return true
	case <-c.queueDone:
		return true
	default:
		return false
	}
}

// Stop closes the consumer: Receive returns ErrClosed, waiting callers
// included, and what a Fetch in flight returns is given back. It returns
// what the buffer held, for the backend to give back; nil when already
// stopped. Safe for concurrent use; does not block.
func (c *Consumer[D]) Stop() []D {
	c.buf.mu.Lock()
	defer c.buf.mu.Unlock()
	select {
	case <-c.done:
		return nil
	default:
	}
	close(c.done)
	rest := c.buf.buf
	c.buf.buf = nil
	return rest
}

// AwaitFetch waits until no Fetch is in flight, or ctx ends. After Stop,
// a Fetch that returns has given back what it fetched when AwaitFetch
// returns. Safe for concurrent use.
func (c *Consumer[D]) AwaitFetch(ctx context.Context) {
	select {
	case c.fetching <- struct{}{}:
		<-c.fetching
	case <-ctx.Done():
	}
}

// Settled counts one delivery handed out by Receive as settled; see
// Buffer.Settled.
func (c *Consumer[D]) Settled() { c.buf.Settled() }

// Buffered returns how many deliveries wait in the buffer.
func (c *Consumer[D]) Buffered() int { return c.buf.Len() }
