package sqlqueue

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/palantir-lab/palantir/backends"
)

// Transactional enqueue (backends.TxQueue): the queue's rows are ordinary
// rows, so a caller's transaction on the same database can insert and
// settle them beside its own writes. The statements are the ones Publish,
// Ack and DeadLetter run in a transaction of their own.

var (
	_ backends.TxQueue    = (*Queue)(nil)
	_ backends.TxDelivery = (*delivery)(nil)
)

// SameDatabase compares the dialect's Identity as db and as the queue's
// own handle see it. A database without an Identity query is never the
// same.
func (q *Queue) SameDatabase(ctx context.Context, db *sql.DB) (bool, error) {
	if q.d.Identity == "" || db == nil {
		return false, nil
	}
	var theirs, ours string
	if err := db.QueryRowContext(ctx, q.d.Identity).Scan(&theirs); err != nil {
		return false, fmt.Errorf("%s: identify the caller's database: %w", q.d.Name, err)
	}
	if err := q.db.QueryRowContext(ctx, q.d.Identity).Scan(&ours); err != nil {
		return false, q.fail(ctx, "identify", q.where, err)
	}
	return theirs != "" && theirs == ours, nil
}

// PublishTx inserts msgs inside tx and notifies other processes' consumers
// when tx commits (Dialect.Notify is transactional). Size limits are
// checked first, as Publish does.
func (q *Queue) PublishTx(ctx context.Context, tx *sql.Tx, msgs ...backends.Message) error {
	if q.closed() {
		return fmt.Errorf("%s publish %s: %w", q.d.Name, q.cfg.Queue, backends.ErrClosed)
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := q.cfg.CheckSizes(msgs); err != nil {
		return fmt.Errorf("%s publish %s: %w", q.d.Name, q.cfg.Queue, err)
	}
	if err := q.insert(ctx, tx, msgs, 0); err != nil {
		return err
	}
	return q.notifyIn(ctx, tx)
}

// Published wakes this process's consumers of the queue.
func (q *Queue) Published() { q.sig.notify() }

// inTx is a settlement made in a caller's transaction, which the matching
// plain method confirms once that transaction has committed.
type inTx struct {
	op    string
	owned bool
}

// AckTx deletes the row inside tx if it still holds this delivery's lease.
func (d *delivery) AckTx(ctx context.Context, tx *sql.Tx) error {
	return d.settleIn(ctx, tx, "ack", d.c.q.st.ack)
}

// DeadLetterTx copies the row to the dead letters with reason and deletes
// it, inside tx, if it still holds this delivery's lease.
func (d *delivery) DeadLetterTx(ctx context.Context, tx *sql.Tx, reason string) error {
	return d.settleIn(ctx, tx, "dead-letter", d.c.q.st.deadCopy, reason)
}

// settleIn runs query (then, for a copy, the delete) on the row in tx and
// remembers what it found for the confirming call. d.mu is held only to
// read and record: the statements may wait for the caller's other writes
// (one writer on SQLite), and Extend must not wait behind them holding
// the lock.
func (d *delivery) settleIn(ctx context.Context, tx *sql.Tx, op, query string, args ...any) error {
	q := d.c.q
	d.mu.Lock()
	settled := d.settled
	d.tx = nil // a settlement in an earlier transaction that rolled back
	d.mu.Unlock()
	if settled {
		return fmt.Errorf("%s %s %s: %w", q.d.Name, op, d.rec.ID, backends.ErrSettled)
	}
	queries := []string{query}
	if query != q.st.ack {
		queries = append(queries, q.st.remove)
	}
	owned := true
	for i, query := range queries {
		var qargs []any
		if i == 0 {
			qargs = args
		}
		res, err := tx.ExecContext(ctx, query, append(qargs, d.id, d.token)...)
		if err != nil {
			return q.fail(ctx, op, d.rec.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return q.fail(ctx, op, d.rec.ID, err)
		}
		owned = owned && n == 1
	}
	d.mu.Lock()
	d.tx = &inTx{op: op, owned: owned}
	d.mu.Unlock()
	return nil
}

// confirmed settles the delivery without changing anything if a
// settlement of op was made in a transaction that committed (see
// backends.TxDelivery); ok is false when there is none, and the plain
// method does its own work. Whether the transaction committed is read
// from the row: still there with this delivery's token, it did not (the
// store refused the outcome and rolled back, say).
func (d *delivery) confirmed(ctx context.Context, op string) (ok bool, err error) {
	d.mu.Lock()
	t := d.tx
	d.tx = nil
	d.mu.Unlock()
	if t == nil || t.op != op {
		return false, nil
	}
	q := d.c.q
	var held int
	if err := q.db.QueryRowContext(ctx, q.st.held, d.id, d.token).Scan(&held); err != nil {
		d.mu.Lock()
		d.tx = t // not known yet: ask again
		d.mu.Unlock()
		return true, q.fail(ctx, op, d.rec.ID, err)
	}
	if held > 0 {
		return false, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.settled {
		return true, fmt.Errorf("%s %s %s: %w", q.d.Name, op, d.rec.ID, backends.ErrSettled)
	}
	d.settled = true
	d.c.pf.Settled()
	if !t.owned {
		return true, fmt.Errorf("%s %s %s: %w", q.d.Name, op, d.rec.ID, backends.ErrLeaseLost)
	}
	return true, nil
}
