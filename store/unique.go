package store

import (
	"context"
	"time"
)

// ClaimUnique takes key for mission id until until, unless another
// mission holds it past now; then ok is false and holder names it. One
// statement, so that two launches at once cannot both win.
func (s *Store) ClaimUnique(ctx context.Context, key, id string, now, until time.Time) (ok bool, holder string, err error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO unique_locks (key, mission_id, until_us) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET mission_id = excluded.mission_id, until_us = excluded.until_us
		WHERE unique_locks.until_us <= ?`), key, id, micros(until), micros(now))
	if err != nil {
		return false, "", err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return n == 1, id, err
	}
	err = s.scanDB(ctx, `SELECT mission_id FROM unique_locks WHERE key = ?`, []any{key}, &holder)
	return false, holder, err
}

// ReleaseUnique gives back the keys claimed by the given missions (key →
// mission id), for missions that were never published. A key another
// mission holds by now is left alone.
func (s *Store) ReleaseUnique(ctx context.Context, claims map[string]string) error {
	for key, id := range claims {
		if _, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM unique_locks WHERE key = ? AND mission_id = ?`), key, id); err != nil {
			return err
		}
	}
	return nil
}
