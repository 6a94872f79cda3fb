package worker

import (
	"context"
	"database/sql"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/store"
)

// Settling in the store's transaction. When the queue is kept in the
// store's own database, an outcome and its message's settlement (the ack
// of a success, the dead letter of a final failure) commit together: a
// worker that dies after the commit leaves nothing to deliver again.
// The Ack or DeadLetter that follows only confirms what the commit did
// (backends.TxDelivery). With a broker they are two steps, and a crash
// between them is a redelivery that the store recognises as a duplicate.

// sharer is a store that can tell whether a queue lives in its database
// (*store.Store).
type sharer interface {
	Shares(ctx context.Context, q any) backends.TxQueue
}

// settlesInStore reports whether this worker's queues are kept in its
// store's database (all of them or none: they are of one backend), and
// says so once.
func (w *Worker) settlesInStore(ctx context.Context) bool {
	s, ok := w.st.(sharer)
	if !ok || s.Shares(ctx, w.feeds[0].Sub) == nil {
		return false
	}
	w.log.Info("the queue is in the store's database: each outcome commits with its ack in one transaction")
	return true
}

// ackIn is the store hook that acks d inside the outcome's transaction,
// or nil when the worker settles after the commit.
func (w *Worker) ackIn(d backends.Delivery) store.TxHook {
	td, ok := d.(backends.TxDelivery)
	if !w.inTx || !ok {
		return nil
	}
	return func(ctx context.Context, tx *sql.Tx) error { return td.AckTx(ctx, tx) }
}

// deadLetterIn is ackIn for a final failure's dead letter.
func (w *Worker) deadLetterIn(d backends.Delivery, reason string) store.TxHook {
	td, ok := d.(backends.TxDelivery)
	if !w.inTx || !ok {
		return nil
	}
	return func(ctx context.Context, tx *sql.Tx) error { return td.DeadLetterTx(ctx, tx, reason) }
}
