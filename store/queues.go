package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// QueueInfo is one queue the store knows: one its missions were launched
// on, or one that is paused.
type QueueInfo struct {
	Backend, Queue string
	Paused         bool
	PausedAt       time.Time
	// Total missions launched on it; Unfinished, those not ended.
	Total, Unfinished int
	LastLaunch        time.Time
}

// PauseQueue marks a queue paused: its workers finish what they run and
// take nothing new. changed is false when it was paused already.
func (s *Store) PauseQueue(ctx context.Context, backend, queue string, at time.Time) (changed bool, err error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO paused_queues (backend, queue, paused_us) VALUES (?, ?, ?)
		ON CONFLICT (backend, queue) DO NOTHING`), backend, queue, micros(at))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ResumeQueue lifts a pause; changed is false when it was not paused.
func (s *Store) ResumeQueue(ctx context.Context, backend, queue string) (changed bool, err error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM paused_queues WHERE backend = ? AND queue = ?`), backend, queue)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// QueuePaused reports whether the queue is paused. Workers ask it every
// heartbeat.
func (s *Store) QueuePaused(ctx context.Context, backend, queue string) (bool, error) {
	var at int64
	err := s.scanDB(ctx, `SELECT paused_us FROM paused_queues WHERE backend = ? AND queue = ?`, []any{backend, queue}, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Queues lists the queues missions were launched on and the paused ones,
// by backend and name. It counts every mission: a second or so on a
// store of a million.
func (s *Store) Queues(ctx context.Context) ([]QueueInfo, error) {
	var rows []struct {
		Backend    string        `db:"backend"`
		Queue      string        `db:"queue"`
		Total      int           `db:"total"`
		Unfinished int           `db:"unfinished"`
		LastUS     sql.NullInt64 `db:"last_us"`
		PausedUS   sql.NullInt64 `db:"paused_us"`
	}
	err := s.db.SelectContext(ctx, &rows, `SELECT k.backend, k.queue, COALESCE(m.total, 0) AS total,
		COALESCE(m.unfinished, 0) AS unfinished, m.last_us, p.paused_us
	FROM (SELECT backend, queue FROM missions UNION SELECT backend, queue FROM paused_queues) k
	LEFT JOIN (SELECT backend, queue, COUNT(*) AS total,
		SUM(CASE WHEN status IN ('SUCCESS', 'FAILURE') THEN 0 ELSE 1 END) AS unfinished, MAX(created_us) AS last_us
		FROM missions GROUP BY backend, queue) m ON m.backend = k.backend AND m.queue = k.queue
	LEFT JOIN paused_queues p ON p.backend = k.backend AND p.queue = k.queue
	ORDER BY k.backend, k.queue`)
	if err != nil {
		return nil, err
	}
	out := make([]QueueInfo, len(rows))
	for i, r := range rows {
		out[i] = QueueInfo{Backend: r.Backend, Queue: r.Queue, Total: r.Total, Unfinished: r.Unfinished,
			Paused: r.PausedUS.Valid}
		if r.LastUS.Valid {
			out[i].LastLaunch = time.UnixMicro(r.LastUS.Int64).UTC()
		}
		if r.PausedUS.Valid {
			out[i].PausedAt = time.UnixMicro(r.PausedUS.Int64).UTC()
		}
	}
	return out, nil
}
