package store

import (
	"context"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/palantir-lab/palantir/backends"
)

var _ backends.DeadLetterBook = (*Store)(nil)

type deadRow struct {
	Seq       int64  `db:"seq"`
	MessageID string `db:"message_id"`
	Body      []byte `db:"body"`
	Attempt   int    `db:"attempt"`
	Reason    string `db:"reason"`
	DeadUS    int64  `db:"dead_us"`
}

func (r deadRow) deadLetter() backends.DeadLetter {
	return backends.DeadLetter{Message: backends.Message{ID: r.MessageID, Body: r.Body, Attempt: r.Attempt},
		Reason: r.Reason, DeadAt: time.UnixMicro(r.DeadUS).UTC()}
}

// AddDeadLetter keeps a dead letter of queue.
func (s *Store) AddDeadLetter(ctx context.Context, queue string, dl backends.DeadLetter) error {
	if dl.Body == nil {
		dl.Body = []byte{}
	}
	_, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO dead_letters (queue, message_id, body, attempt, reason, dead_us)
		VALUES (?, ?, ?, ?, ?, ?)`), queue, readable(dl.ID, 256), dl.Body, dl.Attempt, readable(dl.Reason, 4096), micros(dl.DeadAt))
	return err
}

const deadColumns = `seq, message_id, body, attempt, reason, dead_us`

// ListDeadLetters lists queue's dead letters, oldest first.
func (s *Store) ListDeadLetters(ctx context.Context, queue string, limit int) ([]backends.DeadLetter, error) {
	q := `SELECT ` + deadColumns + ` FROM dead_letters WHERE queue = ? ORDER BY seq`
	args := []any{queue}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	var rows []deadRow
	if err := s.db.SelectContext(ctx, &rows, s.rebind(q), args...); err != nil {
		return nil, err
	}
	out := make([]backends.DeadLetter, len(rows))
	for i, r := range rows {
		out[i] = r.deadLetter()
	}
	return out, nil
}

// TakeDeadLetters removes and returns queue's dead letters with these
// message ids (all when ids is empty), in one transaction.
func (s *Store) TakeDeadLetters(ctx context.Context, queue string, ids ...string) ([]backends.DeadLetter, error) {
	var out []backends.DeadLetter
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		out = nil
		var rows []deadRow
		if err := tx.SelectContext(ctx, &rows, s.rebind(`SELECT `+deadColumns+` FROM dead_letters WHERE queue = ? ORDER BY seq`), queue); err != nil {
			return err
		}
		for _, r := range rows {
			if len(ids) > 0 && !slices.Contains(ids, r.MessageID) {
				continue
			}
			if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM dead_letters WHERE seq = ?`), r.Seq); err != nil {
				return err
			}
			out = append(out, r.deadLetter())
		}
		return nil
	})
	return out, err
}
