package store

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// CancelledReason is the error of a mission that `palantir cancel` ended.
const CancelledReason = "cancelled"

// Cancel ends the given missions that have not ended yet as FAILURE with
// CancelledReason, and returns the ids it ended. It commits before it
// returns. What the mission's worker writes afterwards changes nothing:
// every later write of a mission is guarded by its not being final, and
// Complete and Fail record an outcome only then.
func (s *Store) Cancel(ctx context.Context, ids []string, at time.Time) ([]string, error) {
	var ended []string
	for start := 0; start < len(ids); start += 500 {
		q, args, err := sqlx.In(`UPDATE missions SET status = 'FAILURE', error = ?, finished_us = ?, updated_us = ?
			WHERE status NOT IN ('SUCCESS', 'FAILURE') AND id IN (?) RETURNING id`,
			CancelledReason, micros(at), micros(at), ids[start:min(start+500, len(ids))])
		if err != nil {
			return ended, err
		}
		var some []string
		if err := s.db.SelectContext(ctx, &some, s.rebind(q), args...); err != nil {
			return ended, err
		}
		ended = append(ended, some...)
	}
	return ended, nil
}

// CancelledOf returns those of ids that were cancelled: a worker asks it
// of the missions it runs, to stop them.
func (s *Store) CancelledOf(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	q, args, err := sqlx.In(`SELECT id FROM missions WHERE status = 'FAILURE' AND error = ? AND id IN (?) ORDER BY id`,
		CancelledReason, ids)
	if err != nil {
		return nil, err
	}
	var out []string
	err = s.db.SelectContext(ctx, &out, s.rebind(q), args...)
	return out, err
}
