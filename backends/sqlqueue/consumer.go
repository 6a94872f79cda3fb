package sqlqueue

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/internal/prefetch"
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
		q:    q,
		name: fmt.Sprintf("%s-%d-%08x", name, os.Getpid(), rand.Uint32()),
		idle: q.d.PollMin,
	}
	c.pf = prefetch.New[*delivery](c, prefetch.Options{
		Prefetch:       opts.Prefetch,
		Lease:          q.cfg.Lease,
		QueueDone:      q.done,
		Op:             q.d.Name + " receive " + q.cfg.Queue,
		GiveBackWithin: 3 * time.Second,
	})
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
// Receive callers take deliveries from pf's buffer; when it is empty, one
// of them claims more, or waits for the queue to have some (Fetch), while
// the others wait for it.
type consumer struct {
	q    *Queue
	name string
	pf   *prefetch.Consumer[*delivery]

	// Owned by Fetch (one caller at a time):
	busy bool          // claim without peeking first (the last look found work)
	idle time.Duration // the next wait of an idle poll

	once sync.Once
}

var (
	_ prefetch.Fetcher[*delivery] = (*consumer)(nil)
	_ prefetch.Delivery           = (*delivery)(nil)
)

// Receive returns the next delivery: the oldest visible row of the queue
// (a new message, or one whose lease ran out, Redelivered). It blocks
// until one is available, ctx ends (ctx's error) or the consumer or queue
// is closed (ErrClosed); an error from the database is returned, wrapping
// backends.ErrUnreachable when it is transient, and the caller backs off.
// Safe for concurrent use.
func (c *consumer) Receive(ctx context.Context) (backends.Delivery, error) {
	d, err := c.pf.Receive(ctx)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Fetch claims up to want rows or, when there are none to claim, waits
// until this process publishes, the listener says another did, the first
// row becomes visible, or the idle poll is due; pf calls it from one
// Receive at a time (prefetch.Fetcher).
func (c *consumer) Fetch(ctx context.Context, want int) ([]*delivery, error) {
	wake := c.q.sig.wait() // before looking: a publish meanwhile wakes us
	ds, wait, err := c.poll(ctx, want)
	if err != nil || wait <= 0 {
		return ds, err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-wake:
		c.busy, c.idle = true, c.q.d.PollMin
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.pf.Done():
	case <-c.q.done:
	}
	return nil, nil
}

// poll claims up to want rows and returns them, or returns how long to
// wait before looking again. Idle, it first peeks (a read: no write lock,
// no row lock) and claims only when a row is visible.
//
// It runs without ctx's cancellation (bounded by opTimeout instead): a
// claim whose answer was abandoned would leave its rows leased to nobody
// until the lease ends.
func (c *consumer) poll(ctx context.Context, want int) ([]*delivery, time.Duration, error) {
	q := c.q
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	if !c.busy {
		due, err := q.peek(rctx)
		if err != nil {
			return nil, 0, q.fail(ctx, "receive", q.cfg.Queue, err)
		}
		if due != 0 {
			return nil, c.idleWait(due), nil
		}
	}
	want = min(want, max(claimBytes/q.cfg.MaxBytes(), 1), maxClaim)
	ds, oversized, err := q.claim(rctx, c, want)
	if err != nil {
		return nil, 0, q.fail(ctx, "receive", q.cfg.Queue, err)
	}
	for _, d := range oversized {
		d.kill(rctx)
	}
	switch {
	case len(ds) > 0 || len(oversized) > 0:
		c.busy, c.idle = true, q.d.PollMin
		return ds, 0, nil
	case c.busy:
		// Claimed without peeking and found nothing: peek at once, to
		// learn how long to wait.
		c.busy = false
		return nil, 0, nil
	default:
		// A row was visible, yet every one was locked by other claimers
		// (or taken by them since the peek): they have it.
		return nil, c.idleWait(-1), nil
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

// GiveBack gives back rows claimed but never handed out: visible at once,
// their claim not counted as a delivery. Best effort: a row not given
// back is claimed again when its lease ends.
func (c *consumer) GiveBack(ctx context.Context, ds []*delivery) {
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
		rest := c.pf.Stop()
		// Wait for a claim in flight: it gives back what it claimed
		// before the database is closed.
		c.pf.AwaitFetch(ctx)
		c.GiveBack(ctx, rest)
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
