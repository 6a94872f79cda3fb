package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/palantir-lab/palantir/backends"
)

// Transactional enqueue. When the queue is kept in the store's own
// database (backends.TxQueue), launch writes the missions' rows and their
// messages in one transaction (CreateQueued), and a worker writes an
// outcome and its message's settlement in one (Beside.Settle): no crash
// leaves a row without its message, a message without its row, or a
// recorded outcome whose message is delivered again. With a broker, these
// are two commits, and the store's conditional writes make the second
// harmless to repeat (see the package comment).

// Shares returns q as a backends.TxQueue when it is one whose database is
// this store's, and nil otherwise (a broker, another database, or a
// database that did not answer the question: the two-commit path is
// always correct, only weaker).
func (s *Store) Shares(ctx context.Context, q any) backends.TxQueue {
	tq, ok := q.(backends.TxQueue)
	if !ok {
		return nil
	}
	same, err := tq.SameDatabase(ctx, s.db.DB)
	if err != nil || !same {
		return nil
	}
	return tq
}

// TxHook is work of a queue's run inside a store transaction (publishing
// or settling a message), on the database both share.
type TxHook func(ctx context.Context, tx *sql.Tx) error

// CreateQueued inserts new missions as QUEUED at at and runs publish in
// the same transaction: all of them and their messages, or nothing.
func (s *Store) CreateQueued(ctx context.Context, ms []Mission, at time.Time, publish TxHook) error {
	return s.group(ctx, "", func(tx *sqlx.Tx) error {
		for _, m := range ms {
			m.Status, m.QueuedAt, m.UpdatedAt = "QUEUED", at, at
			if _, err := s.execTx(ctx, tx, insertMission, rowOf(m).args()...); err != nil {
				return fmt.Errorf("create mission %s: %w", m.ID, err)
			}
		}
		return publish(ctx, tx.Tx)
	})
}

// Beside is what Complete and Fail write in the outcome's transaction.
type Beside struct {
	// Events, if not nil, is the outcome's telemetry, written when the
	// outcome is recorded.
	Events OutcomeEvents
	// Settle, if not nil, settles the mission's message in the same
	// transaction (backends.TxDelivery). It runs whether or not the
	// outcome is recorded: a duplicate's delivery needs settling too.
	Settle TxHook
}

func (b Beside) settle(ctx context.Context, tx *sqlx.Tx) error {
	if b.Settle == nil {
		return nil
	}
	return b.Settle(ctx, tx.Tx)
}
