package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
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
// by backend and name. It counts every mission (one scan): a second or so
// on a store of a million.
func (s *Store) Queues(ctx context.Context) ([]QueueInfo, error) {
	var counted []struct {
		Backend    string `db:"backend"`
		Queue      string `db:"queue"`
		Total      int    `db:"total"`
		Unfinished int    `db:"unfinished"`
		LastUS     int64  `db:"last_us"`
	}
	if err := s.db.SelectContext(ctx, &counted, `SELECT backend, queue, COUNT(*) AS total,
		SUM(CASE WHEN status IN ('SUCCESS', 'FAILURE') THEN 0 ELSE 1 END) AS unfinished, MAX(created_us) AS last_us
		FROM missions GROUP BY backend, queue`); err != nil {
		return nil, err
	}
	var paused []struct {
		Backend  string `db:"backend"`
		Queue    string `db:"queue"`
		PausedUS int64  `db:"paused_us"`
	}
	if err := s.db.SelectContext(ctx, &paused, `SELECT backend, queue, paused_us FROM paused_queues`); err != nil {
		return nil, err
	}
	byKey := map[[2]string]*QueueInfo{}
	at := func(backend, queue string) *QueueInfo {
		k := [2]string{backend, queue}
		if byKey[k] == nil {
			byKey[k] = &QueueInfo{Backend: backend, Queue: queue}
		}
		return byKey[k]
	}
	for _, r := range counted {
		q := at(r.Backend, r.Queue)
		q.Total, q.Unfinished, q.LastLaunch = r.Total, r.Unfinished, time.UnixMicro(r.LastUS).UTC()
	}
	for _, r := range paused {
		q := at(r.Backend, r.Queue)
		q.Paused, q.PausedAt = true, time.UnixMicro(r.PausedUS).UTC()
	}
	out := make([]QueueInfo, 0, len(byKey))
	for _, q := range byKey {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b QueueInfo) int {
		return cmp.Or(strings.Compare(a.Backend, b.Backend), strings.Compare(a.Queue, b.Queue))
	})
	return out, nil
}
