package sqlqueue

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// replayBatch bounds the dead letters one statement of Replay takes.
const replayBatch = 200

// Stats counts, in one statement (one snapshot): Ready, the rows visible
// now (leases that ran out included); InFlight, the rows leased; Delayed,
// the rows waiting for their delay; DeadLetters, the queue's dead
// letters. Safe for concurrent use.
func (q *Queue) Stats(ctx context.Context) (backends.Stats, error) {
	if q.closed() {
		return backends.Stats{}, fmt.Errorf("%s stats %s: %w", q.d.Name, q.cfg.Queue, backends.ErrClosed)
	}
	if err := q.inspected(ctx, "stats", Table); err != nil {
		return backends.Stats{}, err
	}
	var s backends.Stats
	err := q.db.QueryRowContext(ctx, q.st.stats, q.cfg.Queue, q.cfg.Queue).Scan(&s.Ready, &s.InFlight, &s.Delayed, &s.DeadLetters)
	if err != nil {
		return backends.Stats{}, q.fail(ctx, "stats", q.cfg.Queue, err)
	}
	return s, nil
}

// DeadLetters lists up to limit dead letters, oldest first (limit <= 0:
// all). Safe for concurrent use.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]backends.DeadLetter, error) {
	if q.closed() {
		return nil, fmt.Errorf("%s dead letters %s: %w", q.d.Name, q.cfg.Queue, backends.ErrClosed)
	}
	if err := q.inspected(ctx, "dead letters", DeadTable); err != nil {
		return nil, err
	}
	var rows *sql.Rows
	var err error
	if limit > 0 {
		rows, err = q.db.QueryContext(ctx, q.st.deadListN, q.cfg.Queue, limit)
	} else {
		rows, err = q.db.QueryContext(ctx, q.st.deadList, q.cfg.Queue)
	}
	if err != nil {
		return nil, q.fail(ctx, "dead letters", q.cfg.Queue, err)
	}
	defer rows.Close()
	var out []backends.DeadLetter
	for rows.Next() {
		var dl backends.DeadLetter
		var deadAt int64
		if err := rows.Scan(&dl.ID, &dl.Body, &dl.Attempt, &dl.Reason, &deadAt); err != nil {
			return nil, q.fail(ctx, "dead letters", q.cfg.Queue, err)
		}
		dl.DeadAt = time.UnixMicro(deadAt).UTC()
		out = append(out, dl)
	}
	if err := rows.Err(); err != nil {
		return nil, q.fail(ctx, "dead letters", q.cfg.Queue, err)
	}
	return out, nil
}

// Replay moves the dead letters with these message ids (all when ids is
// empty) back to the queue as attempt 1, oldest first, in one
// transaction, and returns the ids it replayed. Each dead letter is
// deleted first and its copy inserted from what the delete returned, so
// that two concurrent replays never replay one twice (the second's
// delete finds it gone). Unknown ids are skipped. Safe for concurrent
// use.
func (q *Queue) Replay(ctx context.Context, ids ...string) ([]string, error) {
	return q.ReplayRewritten(ctx, nil, ids...)
}

// ReplayRewritten is Replay with each copy's body rewritten, in the same
// transaction: a rewrite that fails rolls it back, nothing moved.
func (q *Queue) ReplayRewritten(ctx context.Context, rewrite backends.Rewrite, ids ...string) ([]string, error) {
	return q.takeDead(ctx, "replay", rewrite, true, ids)
}

// DeleteDeadLetters deletes dead letters, in one transaction.
func (q *Queue) DeleteDeadLetters(ctx context.Context, ids ...string) ([]string, error) {
	return q.takeDead(ctx, "delete dead letters", nil, false, ids)
}

// takeDead deletes the dead letters ids name (all when none) and, with
// requeue, inserts their copies, rewritten, as attempt 1.
func (q *Queue) takeDead(ctx context.Context, op string, rewrite backends.Rewrite, requeue bool, ids []string) ([]string, error) {
	if q.closed() {
		return nil, fmt.Errorf("%s %s %s: %w", q.d.Name, op, q.cfg.Queue, backends.ErrClosed)
	}
	var replayed []string
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		replayed = nil
		take := func(query string, args ...any) (int, error) {
			rows, err := tx.QueryContext(ctx, query, args...)
			if err != nil {
				return 0, err
			}
			type dead struct {
				id  int64
				msg backends.Message
			}
			var got []dead
			for rows.Next() {
				var d dead
				if err := rows.Scan(&d.id, &d.msg.ID, &d.msg.Body); err != nil {
					rows.Close()
					return 0, err
				}
				d.msg.Attempt = 1
				if rewrite != nil {
					if d.msg.Body, err = rewrite(d.msg.Body); err != nil {
						rows.Close()
						return 0, fmt.Errorf("rewrite %s: %w", d.msg.ID, err)
					}
				}
				got = append(got, d)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return 0, err
			}
			slices.SortFunc(got, func(a, b dead) int { return cmpInt(a.id, b.id) })
			msgs := make([]backends.Message, len(got))
			for i, d := range got {
				msgs[i] = d.msg
				replayed = append(replayed, d.msg.ID)
			}
			if !requeue {
				return len(got), nil
			}
			return len(got), q.insert(ctx, tx, msgs, 0)
		}
		if len(ids) == 0 {
			for {
				n, err := take(q.st.takeDeadAll, q.cfg.Queue, replayBatch)
				if err != nil || n < replayBatch {
					return err
				}
			}
		}
		for batch := range slices.Chunk(ids, replayBatch) {
			args := []any{q.cfg.Queue}
			for _, id := range batch {
				args = append(args, id)
			}
			if _, err := take(q.d.takeDead(len(batch)), args...); err != nil {
				return err
			}
		}
		if len(replayed) == 0 || !requeue {
			return nil
		}
		return q.notifyIn(ctx, tx)
	})
	if err != nil {
		return nil, q.fail(ctx, op, q.cfg.Queue, err)
	}
	if len(replayed) > 0 && requeue {
		q.sig.notify()
	}
	return dedupe(replayed), nil
}

// dedupe keeps the first of each id (one message may have been
// dead-lettered twice).
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// Purge deletes the ready and delayed rows (and those whose lease ran
// out), not the in-flight ones, and returns how many. Safe for concurrent
// use.
func (q *Queue) Purge(ctx context.Context) (int64, error) {
	if q.closed() {
		return 0, fmt.Errorf("%s purge %s: %w", q.d.Name, q.cfg.Queue, backends.ErrClosed)
	}
	res, err := q.db.ExecContext(ctx, q.st.purge, q.cfg.Queue)
	if err != nil {
		return 0, q.fail(ctx, "purge", q.cfg.Queue, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return -1, nil
	}
	return n, nil
}

// Destroy deletes every row of the queue, in flight or not, and its dead
// letters, in one transaction. The tables stay: other queues share them.
func (q *Queue) Destroy(ctx context.Context) error {
	if q.closed() {
		return fmt.Errorf("%s destroy %s: %w", q.d.Name, q.cfg.Queue, backends.ErrClosed)
	}
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, q.st.destroy, q.cfg.Queue); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, q.st.destroyDead, q.cfg.Queue)
		return err
	})
	if err != nil {
		return q.fail(ctx, "destroy", q.cfg.Queue, err)
	}
	return nil
}
