package sqlqueue

import (
	"context"
	"database/sql"

	"github.com/palantir-lab/palantir/internal/batch"
)

// Batched acks. A worker acks every mission it finishes, and each ack on
// its own would be a commit: an fsync of the WAL, on SQLite and on
// PostgreSQL alike, which would make the disk's flush rate the ceiling of
// the whole pipeline. Acks are instead queued to one goroutine per Queue
// that deletes whatever has accumulated (up to maxAcks) in one
// transaction, so that concurrent deliveries share a commit. Nothing
// waits on purpose: while one batch commits, the next forms. Each ack
// keeps its meaning: its DELETE checks its own lease token, and its caller
// learns its own outcome; a failed commit fails every ack of the batch,
// none of which was made.

const maxAcks = 256

// ackReq is one delivery's ack waiting for its batch.
type ackReq struct {
	id, token int64
	done      chan ackResult // buffered: the acker never blocks on it
}

type ackResult struct {
	owned bool
	err   error
}

// ack queues one ack and waits for its batch. Cancelling ctx abandons the
// wait; the ack may still be made. Safe for concurrent use.
func (q *Queue) ack(ctx context.Context, id, token int64) (owned bool, err error) {
	q.ackerOnce.Do(func() { go q.ackLoop() })
	req := &ackReq{id: id, token: token, done: make(chan ackResult, 1)}
	select {
	case q.acks <- req:
	case <-q.done:
		return false, sql.ErrConnDone
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case r := <-req.done:
		return r.owned, r.err
	case <-q.ackerDone:
		// The acker answers everything it took before it ends; a request
		// queued after its last look is answered here.
		select {
		case r := <-req.done:
			return r.owned, r.err
		default:
			return false, sql.ErrConnDone
		}
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// ackLoop runs the batches until the queue closes; requests left then
// are answered with sql.ErrConnDone (fail reports ErrClosed).
func (q *Queue) ackLoop() {
	defer close(q.ackerDone)
	reqs := make([]*ackReq, 0, maxAcks)
	for {
		select {
		case first := <-q.acks:
			reqs = batch.Fill(reqs, first, q.acks, maxAcks)
			q.ackBatch(reqs)
		case <-q.done:
			for {
				select {
				case r := <-q.acks:
					r.done <- ackResult{err: sql.ErrConnDone}
				default:
					return
				}
			}
		}
	}
}

// ackBatch deletes the batch's rows in one transaction and answers each
// request.
func (q *Queue) ackBatch(reqs []*ackReq) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	owned := make([]bool, len(reqs))
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		for i, r := range reqs {
			res, err := tx.ExecContext(ctx, q.st.ack, r.id, r.token)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			owned[i] = n == 1
		}
		return nil
	})
	for i, r := range reqs {
		if err != nil {
			r.done <- ackResult{err: err}
			continue
		}
		r.done <- ackResult{owned: owned[i]}
	}
}
