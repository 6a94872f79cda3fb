package sqlqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// delivery is one claimed row. Its methods are safe for concurrent use
// (mu serialises settlement and Extend); each is one statement, or one
// transaction of two, whose WHERE clause checks that the row still holds
// this claim's lease token: if another consumer has claimed the row since
// (the lease ran out), nothing changes and the method returns
// backends.ErrLeaseLost. Cancelling ctx abandons the wait; the change may
// or may not have been made. An error from the database leaves the
// delivery unsettled, so the method may be called again.
type delivery struct {
	c     *consumer
	id    int64 // the row
	token int64 // the claim's lease token
	rec   backends.Received
	size  int64 // the body's length in the database
	// claimed is when the row was claimed: its lease runs from then,
	// while it waits in the buffer too.
	claimed time.Time

	mu      sync.Mutex
	settled bool
	tx      *inTx // a settlement made in a caller's transaction (tx.go)
}

// Received returns the message and its metadata.
func (d *delivery) Received() backends.Received { return d.rec }

// FetchedAt returns when the row was claimed (prefetch.Delivery).
func (d *delivery) FetchedAt() time.Time { return d.claimed }

// Drop marks the delivery settled; the buffer calls it when the row was
// claimed by another consumer before it was handed out
// (prefetch.Delivery).
func (d *delivery) Drop() {
	d.mu.Lock()
	d.settled = true
	d.mu.Unlock()
}

// settle runs fn, which reports whether the row was still ours, and
// marks the delivery settled unless the database failed.
func (d *delivery) settle(ctx context.Context, op string, fn func() (owned bool, err error)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.c.q
	if d.settled {
		return fmt.Errorf("%s %s %s: %w", q.d.Name, op, d.rec.ID, backends.ErrSettled)
	}
	if q.closed() {
		return fmt.Errorf("%s %s %s: %w", q.d.Name, op, d.rec.ID, backends.ErrClosed)
	}
	owned, err := fn()
	if err != nil {
		return q.fail(ctx, op, d.rec.ID, err)
	}
	d.settled = true
	d.c.pf.Settled()
	if !owned {
		return fmt.Errorf("%s %s %s: %w", q.d.Name, op, d.rec.ID, backends.ErrLeaseLost)
	}
	return nil
}

// exec runs one statement on the row and reports whether it changed it.
func (d *delivery) exec(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := d.c.q.db.ExecContext(ctx, query, append(args, d.id, d.token)...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// move copies the row inside the database (copy, with args before the
// row's id and token), deletes it, and runs the dialect's Notify, in one
// transaction; if either statement finds the row claimed by another,
// nothing is changed.
func (d *delivery) move(ctx context.Context, copy string, notify bool, args ...any) (bool, error) {
	q := d.c.q
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		for _, st := range []struct {
			query string
			args  []any
		}{{copy, args}, {q.st.remove, nil}} {
			res, err := tx.ExecContext(ctx, st.query, append(st.args, d.id, d.token)...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != 1 {
				return errNotOwned
			}
		}
		if notify {
			return q.notifyIn(ctx, tx)
		}
		return nil
	})
	if errors.Is(err, errNotOwned) {
		return false, nil
	}
	if err == nil && notify {
		q.sig.notify()
	}
	return err == nil, err
}

// Ack deletes the row, or confirms an AckTx (tx.go). Concurrent acks of one Queue share a transaction
// (acker.go).
func (d *delivery) Ack(ctx context.Context) error {
	if ok, err := d.confirmed(ctx, "ack"); ok {
		return err
	}
	return d.settle(ctx, "ack", func() (bool, error) {
		return d.c.q.ack(ctx, d.id, d.token)
	})
}

// Retry inserts a copy as attempt+1, visible after delay, and deletes
// the row, in one transaction: the copy is a new row, at the back of the
// queue, its deliveries counted from 0. If that fails, the row stays
// leased to this delivery and comes back, as the same attempt, when the
// lease ends.
func (d *delivery) Retry(ctx context.Context, delay time.Duration) error {
	delay = max(delay, 0)
	return d.settle(ctx, "retry", func() (bool, error) {
		// Notify even for a delayed copy: idle consumers then look again
		// and wait for exactly its delay.
		return d.move(ctx, d.c.q.st.retryCopy, true, delay.Microseconds(), delay.Microseconds())
	})
}

// Release makes the row visible at once with the same attempt. It keeps
// its place among the rows that are visible (by the time it became so):
// behind those already waiting. A release is not a delivery without an
// outcome (the message was given back unprocessed): the row's delivery
// count is taken back by one, and it is marked released (Redelivered).
func (d *delivery) Release(ctx context.Context) error {
	q := d.c.q
	return d.settle(ctx, "release", func() (bool, error) {
		var owned bool
		err := q.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, q.st.release, d.id, d.token)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return err
			}
			owned = true
			return q.notifyIn(ctx, tx)
		})
		if err == nil && owned {
			q.sig.notify()
		}
		return owned, err
	})
}

// DeadLetter moves the row to the dead-letter table with reason, in one
// transaction, or confirms a DeadLetterTx (tx.go). If that fails, the row stays leased to this delivery and
// comes back when the lease ends.
func (d *delivery) DeadLetter(ctx context.Context, reason string) error {
	if ok, err := d.confirmed(ctx, "dead-letter"); ok {
		return err
	}
	return d.settle(ctx, "dead-letter", func() (bool, error) {
		return d.move(ctx, d.c.q.st.deadCopy, false, reason)
	})
}

// Extend pushes the lease to a full lease from now. It returns
// ErrLeaseLost if the row was claimed by another consumer since (or is
// gone), ErrSettled after settlement.
func (d *delivery) Extend(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.c.q
	if d.settled {
		return fmt.Errorf("%s extend %s: %w", q.d.Name, d.rec.ID, backends.ErrSettled)
	}
	if q.closed() {
		return fmt.Errorf("%s extend %s: %w", q.d.Name, d.rec.ID, backends.ErrClosed)
	}
	owned, err := d.exec(ctx, q.st.extend, q.cfg.Lease.Microseconds())
	if err != nil {
		return q.fail(ctx, "extend", d.rec.ID, err)
	}
	if !owned {
		return fmt.Errorf("%s extend %s: %w", q.d.Name, d.rec.ID, backends.ErrLeaseLost)
	}
	return nil
}

// kill dead-letters a claimed row whose body is over the size limit
// without handing it out, and says so once in the log. Best effort: a
// row not dead-lettered now is claimed, and tried again, when its lease
// ends.
func (d *delivery) kill(ctx context.Context) {
	q := d.c.q
	limit := q.cfg.MaxBytes()
	reason := fmt.Sprintf("message of %d bytes is over the limit of %d (max_message_size)", d.size, limit)
	if _, err := d.move(ctx, q.st.deadCopy, false, reason); err != nil {
		q.log.Warn(q.d.Name+": could not dead-letter a message over the size limit; it will be tried again after the lease",
			"id", d.rec.ID, "err", backends.RedactText(err.Error()))
		return
	}
	q.log.Warn(q.d.Name+": dead-lettered a message over the size limit without delivering it",
		"id", d.rec.ID, "bytes", d.size, "limit", limit, "reason", reason)
}
