package sqlqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// claimBytes bounds the bodies one claim may bring into memory (with the
// largest allowed body, at least one row), and maxClaim its rows.
const (
	claimBytes = 4 << 20
	maxClaim   = 100
)

// Subscribe opens a consumer named opts.Name plus the process id and a
// random suffix (the lease_owner of the rows it claims). The first
// Subscribe of a Queue starts its listener. Safe for concurrent use.
func (q *Queue) Subscribe(ctx context.Context, opts backends.ConsumerOptions) (backends.Consumer, error) {
	if q.closed() {
		return nil, fmt.Errorf("%s subscribe %s: %w", q.d.Name, q.cfg.Queue, backends.ErrClosed)
	}
	name := opts.Name
	if name == "" {
		name = "consumer"
	}
	c := &consumer{
		q:        q,
		name:     fmt.Sprintf("%s-%d-%08x", name, os.Getpid(), rand.Uint32()),
		prefetch: max(opts.Prefetch, 1),
		idle:     q.d.PollMin,
		fetching: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return nil, fmt.Errorf("%s subscribe %s: %w", q.d.Name, q.cfg.Queue, backends.ErrClosed)
	}
	q.consumers[c] = struct{}{}
	q.startListener()
	return c, nil
}

// consumer claims rows for its callers.
//
// Receive callers take deliveries from buf; when it is empty, one of them
// (the holder of fetching) claims more, or waits for the queue to have
// some, while the others wait for it.
type consumer struct {
	q        *Queue
	name     string
	prefetch int

	// outstanding counts deliveries handed out and not yet settled; a
	// claim asks for no more than prefetch minus that (at least one).
	outstanding atomic.Int64

	fetching chan struct{} // a one-slot semaphore
	// Owned by the holder of fetching:
	busy bool          // claim without peeking first (the last look found work)
	idle time.Duration // the next wait of an idle poll

	mu  sync.Mutex // guards buf
	buf []*delivery

	once sync.Once
	done chan struct{}
}

// Receive returns the next delivery: the oldest visible row of the queue
// (a new message, or one whose lease ran out, Redelivered). It blocks
// until one is available, ctx ends (ctx's error) or the consumer or queue
// is closed (ErrClosed); an error from the database is returned, wrapping
// backends.ErrUnreachable when it is transient, and the caller backs off.
// Safe for concurrent use.
func (c *consumer) Receive(ctx context.Context) (backends.Delivery, error) {
	for {
		if c.closed() {
			return nil, fmt.Errorf("%s receive %s: %w", c.q.d.Name, c.q.cfg.Queue, backends.ErrClosed)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if d := c.pop(); d != nil {
			if c.stillOurs(ctx, d) {
				return d, nil
			}
			continue
		}
		select {
		case c.fetching <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			continue
		case <-c.q.done:
			continue
		}
		if d := c.pop(); d != nil { // claimed while we waited
			<-c.fetching
			if c.stillOurs(ctx, d) {
				return d, nil
			}
			continue
		}
		err := c.fetchOrWait(ctx)
		<-c.fetching
		if err != nil {
			if c.closed() {
				continue
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
	}
}

// fetchOrWait claims rows into buf or, when there are none to claim,
// waits until this process publishes, the listener says another did, the
// first row becomes visible, or the idle poll is due.
func (c *consumer) fetchOrWait(ctx context.Context) error {
	wake := c.q.sig.wait() // before looking: a publish meanwhile wakes us
	wait, err := c.fetch(ctx)
	if err != nil || wait <= 0 {
		return err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-wake:
		c.busy, c.idle = true, c.q.d.PollMin
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
	case <-c.q.done:
	}
	return nil
}

// fetch claims rows into buf and returns 0, or returns how long to wait
// before looking again. Idle, it first peeks (a read: no write lock, no
// row lock) and claims only when a row is visible.
//
// It runs without ctx's cancellation (bounded by opTimeout instead): a
// claim whose answer was abandoned would leave its rows leased to nobody
// until the lease ends.
func (c *consumer) fetch(ctx context.Context) (time.Duration, error) {
	q := c.q
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	if !c.busy {
		due, err := q.peek(rctx)
		if err != nil {
			return 0, q.fail(ctx, "receive", q.cfg.Queue, err)
		}
		if due != 0 {
			return c.idleWait(due), nil
		}
	}
	want := max(int64(c.prefetch)-c.outstanding.Load(), 1)
	want = min(want, max(int64(claimBytes/q.cfg.MaxBytes()), 1), maxClaim)
	ds, oversized, err := q.claim(rctx, c, int(want))
	if err != nil {
		return 0, q.fail(ctx, "receive", q.cfg.Queue, err)
	}
	for _, d := range oversized {
		d.kill(rctx)
	}
	switch {
	case len(ds) > 0 || len(oversized) > 0:
		c.busy, c.idle = true, q.d.PollMin
		c.deposit(ds)
		return 0, nil
	case c.busy:
		// Claimed without peeking and found nothing: peek at once, to
		// learn how long to wait.
		c.busy = false
		return 0, nil
	default:
		// A row was visible, yet every one was locked by other claimers
		// (or taken by them since the peek): they have it.
		return c.idleWait(-1), nil
	}
}

// idleWait is the wait of an idle poll, or until the first row becomes
// visible (due, if positive) when that is sooner. The idle poll doubles
// up to Dialect.PollMax.
func (c *consumer) idleWait(due time.Duration) time.Duration {
	w := c.idle
	c.idle = min(2*c.idle, c.q.d.PollMax)
	if due > 0 {
		// A little past it: the database's clock must have passed it too.
		w = min(w, due+2*time.Millisecond)
	}
	return w
}

// stillOurs renews the lease of a delivery that waited in the buffer for
// half a lease or more before it was asked for, and drops it if another
// consumer has claimed it meanwhile: handing it out would run it twice at
// once, and its settlement would fail. A dropped row is the other
// consumer's now; nothing is lost.
func (c *consumer) stillOurs(ctx context.Context, d *delivery) bool {
	if time.Since(d.claimed) < c.q.cfg.Lease/2 {
		return true
	}
	if err := d.Extend(ctx); errors.Is(err, backends.ErrLeaseLost) {
		d.mu.Lock()
		d.settled = true
		d.mu.Unlock()
		c.outstanding.Add(-1)
		return false
	}
	return true // extended, or the database did not answer: its settlement will tell
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

func (c *consumer) pop() *delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) == 0 {
		return nil
	}
	d := c.buf[0]
	c.buf[0] = nil
	c.buf = c.buf[1:]
	c.outstanding.Add(1)
	return d
}

// deposit adds ds to buf, or gives them back if the consumer was closed
// meanwhile (shutdown has already emptied buf).
func (c *consumer) deposit(ds []*delivery) {
	if len(ds) == 0 {
		return
	}
	c.mu.Lock()
	if !c.closed() {
		c.buf = append(c.buf, ds...)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c.unread(ctx, ds)
}

// unread gives back rows claimed but never handed out: visible at once,
// their claim not counted as a delivery. Best effort: a row not given
// back is claimed again when its lease ends.
func (c *consumer) unread(ctx context.Context, ds []*delivery) {
	gave := false
	for _, d := range ds {
		if res, err := c.q.db.ExecContext(ctx, c.q.st.unread, d.id, d.token); err == nil {
			n, _ := res.RowsAffected()
			gave = gave || n > 0
		}
	}
	if gave {
		c.q.sig.notify()
	}
}

// Close stops the consumer: Receive returns ErrClosed. Rows claimed into
// its buffer but not handed out are given back at once; deliveries handed
// out are not settled and come back when their lease ends. Idempotent;
// may block for up to three seconds.
func (c *consumer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c.shutdown(ctx)
	return nil
}

func (c *consumer) shutdown(ctx context.Context) {
	c.once.Do(func() {
		c.mu.Lock()
		close(c.done)
		rest := c.buf
		c.buf = nil
		c.mu.Unlock()
		// Wait for a claim in flight: it deposits (and so gives back)
		// what it claimed before the database is closed.
		select {
		case c.fetching <- struct{}{}:
			<-c.fetching
		case <-ctx.Done():
		}
		c.unread(ctx, rest)
		c.q.mu.Lock()
		delete(c.q.consumers, c)
		c.q.mu.Unlock()
	})
}

// peek returns how long until the first row of the queue is visible: 0 if
// one is now, -1 if the queue has none.
func (q *Queue) peek(ctx context.Context) (time.Duration, error) {
	var first sql.NullInt64
	var now int64
	if err := q.db.QueryRowContext(ctx, q.st.peek, q.cfg.Queue).Scan(&first, &now); err != nil {
		return 0, err
	}
	switch {
	case !first.Valid:
		return -1, nil
	case first.Int64 <= now:
		return 0, nil
	}
	return time.Duration(first.Int64-now) * time.Microsecond, nil
}

// claim leases up to n visible rows to c, with one fresh token. Rows
// whose body is over the size limit come back in oversized, without
// their body, to be dead-lettered.
func (q *Queue) claim(ctx context.Context, c *consumer, n int) (ds, oversized []*delivery, err error) {
	token := rand.Int64()
	rows, err := q.db.QueryContext(ctx, q.st.claim,
		q.cfg.Lease.Microseconds(), c.name, token, q.cfg.Queue, n, q.cfg.MaxBytes())
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	now := time.Now()
	for rows.Next() {
		var (
			id, size, enqueued            int64
			attempt, deliveries, released int
			msgID                         string
			body                          []byte
		)
		if err := rows.Scan(&id, &msgID, &body, &size, &attempt, &deliveries, &released, &enqueued); err != nil {
			return nil, nil, err
		}
		d := &delivery{c: c, id: id, token: token, claimed: now, size: size, rec: backends.Received{
			Message:     backends.Message{ID: msgID, Body: body, Attempt: max(attempt, 1)},
			EnqueuedAt:  time.UnixMicro(enqueued),
			Redelivered: deliveries > 1 || released > 0,
			Deliveries:  deliveries,
		}}
		if size > int64(q.cfg.MaxBytes()) {
			oversized = append(oversized, d)
		} else {
			ds = append(ds, d)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	// The oldest first, as picked (RETURNING has no order of its own).
	slices.SortFunc(ds, func(a, b *delivery) int { return cmpInt(a.id, b.id) })
	return ds, oversized, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
