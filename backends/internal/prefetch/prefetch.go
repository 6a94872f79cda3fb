// Package prefetch is the consumer-side buffer the pulling backends share
// (redis, nats, and the SQL queues of sqlqueue): deliveries fetched ahead
// of the Receive that hands them out, counted against the consumer's
// Prefetch, and renewed on the way out if they waited long in the buffer.
//
// Buffer is the buffer alone; Consumer adds the Receive loop for a
// backend whose fetch is one synchronous call (Fetcher): one Receive
// caller at a time fetches while the others wait for it. A backend that
// fetches otherwise (nats pulls in a goroutine of its own) uses Buffer
// and keeps its own loop.
//
// # Leases in the buffer
//
// A delivery's lease runs from when it was fetched, also while it waits
// in the buffer. One that waited half a lease or more is renewed
// (Delivery.Extend) before it is handed out; if the backend says the
// lease is lost (backends.ErrLeaseLost), another consumer may hold it
// already and handing it out would run it twice at once, so it is
// dropped (Delivery.Drop): it is the other consumer's now, nothing is
// lost. Any other error of Extend hands it out all the same: the
// broker did not answer, and the delivery's settlement will tell.
package prefetch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// Delivery is what a backend buffers: its own delivery type.
type Delivery interface {
	// FetchedAt returns when the delivery was fetched on this client's
	// clock, from which its lease runs. It must not change.
	FetchedAt() time.Time
	// Extend renews the lease (backends.Delivery's Extend), returning an
	// error wrapping backends.ErrLeaseLost when the lease is lost. It is
	// called with the ctx of the Receive about to hand the delivery out.
	Extend(ctx context.Context) error
	// Drop marks the delivery settled without a word to the broker, after
	// Extend said the lease is lost and before anyone saw the delivery.
	// It does not call Buffer.Settled: the buffer counts the drop itself.
	Drop()
}

// Buffer holds deliveries fetched and not yet handed out, and counts
// those handed out and not yet settled. Its methods are safe for
// concurrent use and never block on I/O except Vet. The zero value is
// not usable; see NewBuffer.
type Buffer[D Delivery] struct {
	lease time.Duration

	// outstanding counts deliveries handed out (Pop) and not yet settled
	// (Settled) or dropped (Vet).
	outstanding atomic.Int64

	mu  sync.Mutex // guards buf, and Consumer's closing of done
	buf []D
}

// NewBuffer returns an empty buffer of deliveries whose lease is lease.
func NewBuffer[D Delivery](lease time.Duration) *Buffer[D] {
	return &Buffer[D]{lease: lease}
}

// Push appends ds, in order, to the buffer.
func (b *Buffer[D]) Push(ds ...D) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, ds...)
}

// Pop takes the first delivery out of the buffer and counts it as handed
// out; ok is false when the buffer is empty. The caller hands it out or,
// if Vet refuses it, goes on to the next.
func (b *Buffer[D]) Pop() (d D, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) == 0 {
		return d, false
	}
	d = b.buf[0]
	var zero D
	b.buf[0] = zero
	b.buf = b.buf[1:]
	b.outstanding.Add(1)
	return d, true
}

// Drain empties the buffer and returns what it held, for the backend to
// give back. The deliveries are not counted as handed out.
func (b *Buffer[D]) Drain() []D {
	b.mu.Lock()
	defer b.mu.Unlock()
	rest := b.buf
	b.buf = nil
	return rest
}

// Len returns how many deliveries wait in the buffer.
func (b *Buffer[D]) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf)
}

// Outstanding returns how many deliveries were handed out and not yet
// settled.
func (b *Buffer[D]) Outstanding() int {
	return int(b.outstanding.Load())
}

// Settled counts one delivery handed out by Pop as settled. A backend's
// delivery calls it once, when it becomes settled.
func (b *Buffer[D]) Settled() {
	b.outstanding.Add(-1)
}

// Vet decides whether d, just popped, may be handed out (see the package
// comment): true at once if it waited less than half a lease; otherwise
// after renewing its lease, which blocks for one Extend under ctx. If
// Extend says the lease is lost, Vet drops d, counts it settled and
// returns false.
func (b *Buffer[D]) Vet(ctx context.Context, d D) bool {
	if time.Since(d.FetchedAt()) < b.lease/2 {
		return true
	}
	if err := d.Extend(ctx); errors.Is(err, backends.ErrLeaseLost) {
		d.Drop()
		b.Settled()
		return false
	}
	return true // extended, or the broker did not answer: its settlement will tell
}
