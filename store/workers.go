package store

import (
	"context"
	"database/sql"
	"time"
)

// Worker is a worker process as its heartbeats describe it.
type Worker struct {
	Name        string
	Backend     string
	Queue       string
	Host        string
	PID         int
	Concurrency int
	Current     string // mission ids in progress, comma-separated
	Processed   int64
	StartedAt   time.Time
	HeartbeatAt time.Time
	StoppedAt   time.Time
}

type workerRow struct {
	Name        string        `db:"name"`
	Backend     string        `db:"backend"`
	Queue       string        `db:"queue"`
	Host        string        `db:"host"`
	PID         int           `db:"pid"`
	Concurrency int           `db:"concurrency"`
	Current     string        `db:"current"`
	Processed   int64         `db:"processed"`
	StartedUS   int64         `db:"started_us"`
	HeartbeatUS int64         `db:"heartbeat_us"`
	StoppedUS   sql.NullInt64 `db:"stopped_us"`
}

// Heartbeat upserts w (a restarted worker of the same name takes the row
// over).
func (s *Store) Heartbeat(ctx context.Context, w Worker) error {
	stopped := nullMicros(w.StoppedAt)
	op := s.stmtsOp(ctx, pgStmt{query: `INSERT INTO workers (name, backend, queue, host, pid, concurrency, current,
		processed, started_us, heartbeat_us, stopped_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET backend = excluded.backend, queue = excluded.queue, host = excluded.host,
		pid = excluded.pid, concurrency = excluded.concurrency, current = excluded.current,
		processed = excluded.processed, started_us = excluded.started_us, heartbeat_us = excluded.heartbeat_us,
		stopped_us = excluded.stopped_us`,
		args: []any{w.Name, w.Backend, w.Queue, w.Host, w.PID, w.Concurrency, w.Current, w.Processed,
			micros(w.StartedAt), micros(w.HeartbeatAt), stopped}})
	op.lazy = true // the next heartbeat supersedes it
	return s.submit(ctx, "", op)
}

// Workers lists workers whose last heartbeat is after since, live ones
// (not stopped) first.
func (s *Store) Workers(ctx context.Context, since time.Time) ([]Worker, error) {
	var rows []workerRow
	if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT name, backend, queue, host, pid, concurrency, current,
		processed, started_us, heartbeat_us, stopped_us FROM workers WHERE heartbeat_us >= ?
		ORDER BY name`), micros(since)); err != nil {
		return nil, err
	}
	out := make([]Worker, len(rows))
	for i, r := range rows {
		out[i] = Worker{Name: r.Name, Backend: r.Backend, Queue: r.Queue, Host: r.Host, PID: r.PID,
			Concurrency: r.Concurrency, Current: r.Current, Processed: r.Processed,
			StartedAt: time.UnixMicro(r.StartedUS).UTC(), HeartbeatAt: time.UnixMicro(r.HeartbeatUS).UTC(),
			StoppedAt: fromMicros(r.StoppedUS)}
	}
	return out, nil
}

// HeroScore is one leaderboard row.
type HeroScore struct {
	Hero     string `db:"hero"`
	Points   int    `db:"points"`
	Missions int    `db:"missions"`
	FirstTry int    `db:"first_try"`
}

// Leaderboard ranks heroes by points (ties: more missions, then name).
func (s *Store) Leaderboard(ctx context.Context) ([]HeroScore, error) {
	var out []HeroScore
	err := s.db.SelectContext(ctx, &out, `SELECT hero, SUM(points) AS points, COUNT(*) AS missions,
		SUM(first_try) AS first_try FROM scores GROUP BY hero ORDER BY points DESC, missions DESC, hero`)
	return out, err
}
