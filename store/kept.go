package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Kept launches. A launch records its missions PENDING, publishes them,
// then marks them QUEUED. A launcher that dies between the first two
// steps would leave its missions PENDING for good, with no message
// anywhere. So each chunk's record says which missions it holds, in the
// same transaction as their rows, until the launcher forgets it once
// published; a record still there at its due time is taken by one of the
// queue's workers or serve (ClaimKept), which publishes the missions
// still PENDING. One small row per chunk, not a copy of each message:
// the orders are rebuilt from the missions' rows (Mission.Order), and
// only the definitions of defined types, which rows do not hold, are
// kept beside the ids.

// KeptLaunch is one launch chunk's record.
type KeptLaunch struct {
	ID  string // the launch chunk's (its first mission's id)
	IDs []string
	// Kinds is JSON: the definitions of the defined types among the
	// missions, by type ("" when none).
	Kinds string
}

// CreateKept records new missions as PENDING, as CreateMissions does,
// with the launch's record, due at recoverAt, in one transaction.
func (s *Store) CreateKept(ctx context.Context, ms []Mission, k KeptLaunch, recoverAt time.Time) error {
	if len(ms) == 0 {
		return nil
	}
	keep := pgStmt{query: `INSERT INTO kept_launches (id, backend, queue, due_us, ids, kinds) VALUES (?, ?, ?, ?, ?, ?)`,
		args: []any{k.ID, ms[0].Backend, ms[0].Queue, micros(recoverAt), strings.Join(k.IDs, ","), k.Kinds}}
	return s.submit(ctx, "", groupOp{
		fn: func(tx *sqlx.Tx) error {
			for _, m := range ms {
				if _, err := s.execTx(ctx, tx, insertMission, rowOf(m).args()...); err != nil {
					return fmt.Errorf("create mission %s: %w", m.ID, err)
				}
			}
			_, err := s.execTx(ctx, tx, keep.query, keep.args...)
			return err
		},
		pg: func() []pgStmt { return append(insertMissionsStmts(ms), keep) },
		// As CreateMissions: a power cut that takes the rows back takes
		// a launch that had not answered yet.
		lazy: true,
	})
}

// ForgetKept drops a launch's record once its missions are published (or
// taken back), without waiting: a record left by a lost write only makes
// its due time find nothing PENDING.
func (s *Store) ForgetKept(id string) {
	s.groupAsyncExec("", `DELETE FROM kept_launches WHERE id = ?`, id)
}

// ClaimKept takes up to limit of the queue's launch records that are due
// at now and not claimed, for lease; their claimer publishes what is still
// PENDING, then forgets them. A claim that lapses lets another take them.
func (s *Store) ClaimKept(ctx context.Context, backend, queue string, now time.Time, lease time.Duration, limit int) ([]KeptLaunch, error) {
	var found int
	err := s.scanDB(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM kept_launches
		WHERE backend = ? AND queue = ? AND due_us <= ? AND claimed_until_us <= ? LIMIT 1) k`,
		[]any{backend, queue, micros(now), micros(now)}, &found)
	if err != nil || found == 0 {
		return nil, err
	}
	var rows []struct {
		ID    string `db:"id"`
		IDs   string `db:"ids"`
		Kinds string `db:"kinds"`
	}
	err = s.db.SelectContext(ctx, &rows, s.rebind(`UPDATE kept_launches SET claimed_until_us = ?
		WHERE claimed_until_us <= ? AND id IN (SELECT id FROM kept_launches
			WHERE backend = ? AND queue = ? AND due_us <= ? AND claimed_until_us <= ? ORDER BY due_us LIMIT ?)
		RETURNING id, ids, kinds`),
		micros(now.Add(lease)), micros(now), backend, queue, micros(now), micros(now), limit)
	if err != nil {
		return nil, err
	}
	out := make([]KeptLaunch, len(rows))
	for i, r := range rows {
		out[i] = KeptLaunch{ID: r.ID, IDs: strings.Split(r.IDs, ","), Kinds: r.Kinds}
	}
	return out, nil
}
