package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/telemetry"
)

// Mission is a mission as the store keeps it.
type Mission struct {
	ID          string
	Type        mission.Type
	Hero        string
	Status      mission.State
	Progress    int
	Stage       string
	Attempt     int
	MaxAttempts int
	FailRate    float64
	Speed       float64
	Seed        uint64
	Worker      string
	Backend     string
	Queue       string
	Score       int
	Error       string
	CreatedAt   time.Time
	QueuedAt    time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
	UpdatedAt   time.Time
	// DueAt is when a mission launched for later falls due (zero for
	// the others).
	DueAt time.Time
}

// Order is the mission's wire form.
func (m Mission) Order() mission.Order {
	return mission.Order{ID: m.ID, Type: m.Type, Hero: m.Hero, FailRate: m.FailRate,
		MaxAttempts: m.MaxAttempts, Speed: m.Speed, Seed: m.Seed, CreatedAt: m.CreatedAt}
}

// MissionFromOrder is a new PENDING mission for o.
func MissionFromOrder(o mission.Order, backend, queue string) Mission {
	return Mission{ID: o.ID, Type: o.Type, Hero: o.Hero, Status: mission.Pending, Attempt: 1, MaxAttempts: o.MaxAttempts,
		FailRate: o.FailRate, Speed: o.Speed, Seed: o.Seed, Backend: backend, Queue: queue,
		CreatedAt: o.CreatedAt, UpdatedAt: o.CreatedAt}
}

// missionRow is the database shape of Mission.
type missionRow struct {
	ID          string        `db:"id"`
	Type        string        `db:"type"`
	Hero        string        `db:"hero"`
	Status      string        `db:"status"`
	Progress    int           `db:"progress"`
	Stage       string        `db:"stage"`
	Attempt     int           `db:"attempt"`
	MaxAttempts int           `db:"max_attempts"`
	FailRate    float64       `db:"fail_rate"`
	Speed       float64       `db:"speed"`
	Seed        int64         `db:"seed"`
	Worker      string        `db:"worker"`
	Backend     string        `db:"backend"`
	Queue       string        `db:"queue"`
	Score       int           `db:"score"`
	Error       string        `db:"error"`
	CreatedUS   int64         `db:"created_us"`
	QueuedUS    sql.NullInt64 `db:"queued_us"`
	StartedUS   sql.NullInt64 `db:"started_us"`
	FinishedUS  sql.NullInt64 `db:"finished_us"`
	UpdatedUS   int64         `db:"updated_us"`
	DueUS       sql.NullInt64 `db:"due_us"`
}

const missionColumns = `id, type, hero, status, progress, stage, attempt, max_attempts, fail_rate, speed, seed,
	worker, backend, queue, score, error, created_us, queued_us, started_us, finished_us, updated_us, due_us`

// missionParams is how many columns (and parameters) a mission row has.
const missionParams = 22

func (r missionRow) mission() Mission {
	return Mission{ID: r.ID, Type: mission.Type(r.Type), Hero: r.Hero, Status: mission.State(r.Status),
		Progress: r.Progress, Stage: r.Stage, Attempt: r.Attempt, MaxAttempts: r.MaxAttempts,
		FailRate: r.FailRate, Speed: r.Speed, Seed: uint64(r.Seed), Worker: r.Worker, Backend: r.Backend,
		Queue: r.Queue, Score: r.Score, Error: r.Error, CreatedAt: time.UnixMicro(r.CreatedUS).UTC(),
		QueuedAt: fromMicros(r.QueuedUS), StartedAt: fromMicros(r.StartedUS),
		FinishedAt: fromMicros(r.FinishedUS), UpdatedAt: time.UnixMicro(r.UpdatedUS).UTC(), DueAt: fromMicros(r.DueUS)}
}

func rowOf(m Mission) missionRow {
	return missionRow{ID: m.ID, Type: string(m.Type), Hero: m.Hero, Status: string(m.Status),
		Progress: m.Progress, Stage: m.Stage, Attempt: m.Attempt, MaxAttempts: m.MaxAttempts,
		FailRate: m.FailRate, Speed: m.Speed, Seed: int64(m.Seed), Worker: m.Worker, Backend: m.Backend,
		Queue: m.Queue, Score: m.Score, Error: m.Error, CreatedUS: micros(m.CreatedAt),
		QueuedUS: nullMicros(m.QueuedAt), StartedUS: nullMicros(m.StartedAt),
		FinishedUS: nullMicros(m.FinishedAt), UpdatedUS: micros(m.UpdatedAt), DueUS: nullMicros(m.DueAt)}
}

var insertMission = `INSERT INTO missions (` + missionColumns + `) VALUES ` + missionPlaceholders

// missionPlaceholders are a row's parameters in a VALUES list.
var missionPlaceholders = "(" + strings.TrimSuffix(strings.Repeat("?, ", missionParams), ", ") + ")"

// args are the row's values in missionColumns order.
func (r missionRow) args() []any {
	return []any{r.ID, r.Type, r.Hero, r.Status, r.Progress, r.Stage, r.Attempt, r.MaxAttempts, r.FailRate,
		r.Speed, r.Seed, r.Worker, r.Backend, r.Queue, r.Score, r.Error, r.CreatedUS, r.QueuedUS, r.StartedUS,
		r.FinishedUS, r.UpdatedUS, r.DueUS}
}

// CreateMissions inserts new missions in one transaction: all or none.
func (s *Store) CreateMissions(ctx context.Context, ms []Mission) error {
	return s.submit(ctx, "", groupOp{
		fn: func(tx *sqlx.Tx) error {
			for _, m := range ms {
				if _, err := s.execTx(ctx, tx, insertMission, rowOf(m).args()...); err != nil {
					return fmt.Errorf("create mission %s: %w", m.ID, err)
				}
			}
			return nil
		},
		pg: func() []pgStmt { return insertMissionsStmts(ms) },
		// A row a power cut takes back is made again by the worker that
		// takes its message (BeginAttempt); a message the broker lost
		// with it was never the store's to keep.
		lazy: true,
	})
}

// missionsPerInsert bounds a multi-row insert's rows: missionParams
// parameters each, under PostgreSQL's 65535.
const missionsPerInsert = 500

// insertMissionsStmts inserts ms with multi-row statements (PostgreSQL's
// pipelined form; SQLite's prepared single-row insert is as fast there).
func insertMissionsStmts(ms []Mission) []pgStmt {
	var out []pgStmt
	for start := 0; start < len(ms); start += missionsPerInsert {
		chunk := ms[start:min(start+missionsPerInsert, len(ms))]
		args := make([]any, 0, missionParams*len(chunk))
		for _, m := range chunk {
			args = append(args, rowOf(m).args()...)
		}
		out = append(out, pgStmt{query: `INSERT INTO missions (` + missionColumns + `) VALUES ` +
			strings.TrimSuffix(strings.Repeat(missionPlaceholders+", ", len(chunk)), ", "), args: args})
	}
	return out
}

// CountMissions is how many missions were ever created (hero rotation).
func (s *Store) CountMissions(ctx context.Context) (int, error) {
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM missions`)
	return n, err
}

// DeleteMissions removes missions that were never published.
func (s *Store) DeleteMissions(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`DELETE FROM missions WHERE status = 'PENDING' AND id IN (?)`, ids)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.rebind(q), args...)
	return err
}

// MarkQueued moves PENDING missions to QUEUED once the broker took them. A
// worker may already have started one (the launcher marks after the
// broker answers): its state is left alone, but its queued time is still
// filled in if it has none.
func (s *Store) MarkQueued(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`UPDATE missions SET status = CASE WHEN status = 'PENDING' THEN 'QUEUED' ELSE status END,
		queued_us = COALESCE(queued_us, ?), updated_us = CASE WHEN status = 'PENDING' THEN ? ELSE updated_us END
		WHERE (status = 'PENDING' OR queued_us IS NULL) AND id IN (?)`, micros(at), micros(at), ids)
	if err != nil {
		return err
	}
	// Not prepared (execTx): each length of the id list is another
	// statement.
	return s.submit(ctx, "", groupOp{
		fn: func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, s.rebind(q), args...)
			return err
		},
		pg:   func() []pgStmt { return []pgStmt{{query: q, args: args}} },
		lazy: true, // STARTED or an outcome supersedes it
	})
}

// Begin is the outcome of BeginAttempt.
type Begin int

const (
	// Proceed: execute the attempt.
	Proceed Begin = iota
	// AlreadySucceeded: the mission already succeeded; the delivery is a
	// duplicate and only needs acknowledging.
	AlreadySucceeded
	// AlreadyFailed: the mission already failed for good; the delivery is
	// a copy whose dead-lettering was interrupted, so it belongs in the
	// dead letters.
	AlreadyFailed
	// Cancelled: the mission was cancelled before this delivery ran; the
	// message only needs acknowledging.
	Cancelled
	// Stale: a later attempt exists; this delivery is an old copy.
	Stale
)

// BeginAttempt records that worker starts attempt of order. A mission
// unknown to the store (published by hand) is created. It returns whether
// the attempt should run at all.
//
// The common case (a known mission, not final, at this attempt or an
// earlier one) is decided by a read, which in WAL mode runs beside the
// writer, and the STARTED write joins the next group commit without being
// waited for: a worker holding an execution slot does not wait for a
// commit before it executes. Nothing depends on STARTED being durable
// first: a worker that dies leaves the mission to be delivered again, and
// Complete and Fail record an outcome once whatever the row said. Writes
// about one mission commit in order (group.go), and the write's WHERE
// clause keeps it harmless if the mission has moved on.
func (s *Store) BeginAttempt(ctx context.Context, o mission.Order, backend, queue string, attempt int, worker string, at time.Time) (Begin, error) {
	var status string
	var current int
	err := s.scanDB(ctx, `SELECT status, attempt FROM missions WHERE id = ?`, []any{o.ID}, &status, &current)
	if err == nil && current <= attempt && !mission.State(status).Final() {
		s.groupAsync(o.ID, s.startOp(o.ID, attempt, worker, at))
		return Proceed, nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Proceed, err
	}
	return s.beginSync(ctx, o, backend, queue, attempt, worker, at)
}

// startOp is BeginAttempt's STARTED write.
func (s *Store) startOp(id string, attempt int, worker string, at time.Time) groupOp {
	op := s.stmtsOp(context.Background(), pgStmt{query: startAttemptIfCurrent,
		args: []any{attempt, worker, micros(at), micros(at), id, attempt}})
	op.merge = &mergeable{kind: mergeStart, id: id, row: []any{id, attempt, worker, micros(at)}}
	return op
}

// startAttempt marks a mission STARTED by a worker; startAttemptIfCurrent
// only while it is not final and not at a later attempt.
const (
	startAttempt = `UPDATE missions SET status = 'STARTED', attempt = ?, worker = ?,
	progress = 0, stage = '', started_us = COALESCE(started_us, ?), updated_us = ? WHERE id = ?`
	startAttemptIfCurrent = startAttempt + ` AND attempt <= ? AND status NOT IN ('SUCCESS', 'FAILURE')`
)

// beginSync is BeginAttempt's careful path, in one transaction: create an
// unknown mission, or tell a duplicate or stale delivery from one to run.
func (s *Store) beginSync(ctx context.Context, o mission.Order, backend, queue string, attempt int, worker string, at time.Time) (Begin, error) {
	verdict := Proceed
	err := s.group(ctx, o.ID, func(tx *sqlx.Tx) error {
		verdict = Proceed
		var row missionRow
		err := s.getTx(ctx, tx, &row, `SELECT `+missionColumns+` FROM missions WHERE id = ?`, o.ID)
		if errors.Is(err, sql.ErrNoRows) {
			m := MissionFromOrder(o, backend, queue)
			if m.CreatedAt.IsZero() {
				m.CreatedAt, m.UpdatedAt = at, at
			}
			_, err = s.execTx(ctx, tx, insertMission, rowOf(m).args()...)
			row = rowOf(m)
		}
		if err != nil {
			return err
		}
		switch {
		case row.Status == string(mission.Success):
			verdict = AlreadySucceeded
			return nil
		case row.Status == string(mission.Failure) && row.Error == CancelledReason:
			verdict = Cancelled
			return nil
		case row.Status == string(mission.Failure):
			verdict = AlreadyFailed
			return nil
		case attempt < row.Attempt:
			verdict = Stale
			return nil
		}
		_, err = s.execTx(ctx, tx, startAttempt, attempt, worker, micros(at), micros(at), o.ID)
		return err
	})
	return verdict, err
}

// SetProgress records progress of a running attempt, asynchronously.
func (s *Store) SetProgress(ctx context.Context, id string, attempt, progress int, stage string, at time.Time) error {
	// Progress is written without waiting for its commit: it is advisory,
	// and a mission's later writes supersede it.
	s.groupAsyncExec(id, `UPDATE missions SET status = 'PROCESSING', progress = ?, stage = ?,
		updated_us = ? WHERE id = ? AND attempt = ? AND status IN ('STARTED', 'PROCESSING')`,
		progress, stage, micros(at), id, attempt)
	return nil
}

// MarkRetry records a failed attempt that will be retried.
func (s *Store) MarkRetry(ctx context.Context, id string, attempt int, reason string, at time.Time) error {
	return s.groupExec(ctx, id, `UPDATE missions SET status = 'RETRY', error = ?, updated_us = ?
		WHERE id = ? AND attempt = ? AND status IN ('STARTED', 'PROCESSING')`, reason, micros(at), id, attempt)
}

// MarkRequeued records that attempt is queued again (after a retry was
// scheduled, or when a worker gave the mission back on shutdown).
func (s *Store) MarkRequeued(ctx context.Context, id string, attempt int, at time.Time) error {
	return s.groupExec(ctx, id, `UPDATE missions SET status = 'QUEUED', attempt = ?, progress = 0, stage = '',
		worker = '', updated_us = ? WHERE id = ? AND attempt <= ? AND status IN ('STARTED', 'PROCESSING', 'RETRY')`,
		attempt, micros(at), id, attempt)
}

// OutcomeEvents returns the telemetry of an outcome, to be written in the
// outcome's own transaction. Complete and Fail call it inside that
// transaction, once the outcome is written, so its events can be stamped
// with the time of the write; a group that is rolled back and retried
// calls it again.
type OutcomeEvents func() []telemetry.Event

// Complete records a success and scores the hero, once, and writes the
// events of beside (if any) in the same transaction; beside.Settle runs
// in it too. recorded is false when the mission had already ended (a
// duplicate delivery): nothing changes then, and no events are written.
func (s *Store) Complete(ctx context.Context, m Mission, points int, at time.Time, beside Beside) (recorded bool, err error) {
	err = s.submit(ctx, m.ID, s.completeOp(ctx, m, points, at, beside, &recorded))
	return recorded, err
}

// completeOp is Complete's write; it sets *recorded.
func (s *Store) completeOp(ctx context.Context, m Mission, points int, at time.Time, beside Beside, recorded *bool) groupOp {
	op := groupOp{fn: func(tx *sqlx.Tx) error {
		res, err := s.execTx(ctx, tx, completeMission, points, m.Attempt, m.Worker, micros(at), micros(at), m.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			*recorded = false
			return beside.settle(ctx, tx)
		}
		*recorded = true
		if _, err := s.execTx(ctx, tx, `INSERT INTO scores (mission_id, hero, points, first_try, scored_us)
			VALUES (?, ?, ?, ?, ?)`, m.ID, m.Hero, points, firstTry(m.Attempt), micros(at)); err != nil {
			return err
		}
		if err := s.insertOutcomeEvents(ctx, tx, beside.Events); err != nil {
			return err
		}
		return beside.settle(ctx, tx)
	}}
	if beside.Settle != nil {
		return op // the queue's statements run on the transaction: no pipelined form
	}
	op.merge = &mergeable{kind: mergeComplete, id: m.ID, events: beside.Events,
		row:     []any{m.ID, points, m.Attempt, m.Worker, micros(at), m.Hero, firstTry(m.Attempt)},
		changed: func(b bool) { *recorded = b }}
	op.pg = func() []pgStmt {
		var evs []telemetry.Event
		if beside.Events != nil {
			evs = beside.Events()
		}
		return []pgStmt{completeStmt(m, points, at, evs, func(n int64) { *recorded = n == 1 })}
	}
	return op
}

const completeMission = `UPDATE missions SET status = 'SUCCESS', progress = 100, stage = '', score = ?,
	attempt = ?, worker = ?, error = '', finished_us = ?, updated_us = ?
	WHERE id = ? AND status NOT IN ('SUCCESS', 'FAILURE')`

// firstTry is the scores column: 1 for a success at the first attempt.
func firstTry(attempt int) int {
	if attempt == 1 {
		return 1
	}
	return 0
}

// completeStmt is Complete as one PostgreSQL statement: the outcome, the
// score and the events are written only if the UPDATE finished the
// mission (data-modifying WITH queries run once, whatever reads them),
// and rows is told the score's row count: 1 when recorded.
func completeStmt(m Mission, points int, at time.Time, evs []telemetry.Event, rows func(int64)) pgStmt {
	q := `WITH done AS (` + completeMission + ` RETURNING id)`
	args := []any{points, m.Attempt, m.Worker, micros(at), micros(at), m.ID}
	if len(evs) > 0 {
		row := `(CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS INTEGER), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT))`
		q += `, ev AS (INSERT INTO events (at_us, name, mission_id, attempt, service, since_us, detail)
	SELECT v.* FROM (VALUES ` + strings.TrimSuffix(strings.Repeat(row+", ", len(evs)), ", ") + `)
	AS v (at_us, name, mission_id, attempt, service, since_us, detail) WHERE EXISTS (SELECT 1 FROM done))`
		for _, e := range evs {
			args = append(args, eventArgs(e)...)
		}
	}
	q += ` INSERT INTO scores (mission_id, hero, points, first_try, scored_us) SELECT id, ?, ?, ?, ? FROM done`
	args = append(args, m.Hero, points, firstTry(m.Attempt), micros(at))
	return pgStmt{query: q, args: args, rows: rows}
}

// Fail records the final failure of a mission, once, and writes the
// events of beside (if any) in the same transaction when it does;
// beside.Settle runs in it either way.
func (s *Store) Fail(ctx context.Context, id string, attempt int, worker, reason string, at time.Time, beside Beside) (recorded bool, err error) {
	err = s.group(ctx, id, func(tx *sqlx.Tx) error {
		res, err := s.execTx(ctx, tx, `UPDATE missions SET status = 'FAILURE', attempt = ?, worker = ?, error = ?,
			finished_us = ?, updated_us = ? WHERE id = ? AND status NOT IN ('SUCCESS', 'FAILURE')`,
			attempt, worker, reason, micros(at), micros(at), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if recorded = n == 1; recorded {
			if err := s.insertOutcomeEvents(ctx, tx, beside.Events); err != nil {
				return err
			}
		}
		return beside.settle(ctx, tx)
	})
	return recorded, err
}

func (s *Store) insertOutcomeEvents(ctx context.Context, tx *sqlx.Tx, events OutcomeEvents) error {
	if events == nil {
		return nil
	}
	return s.insertEventsTx(ctx, tx, events())
}

// ResetFailed makes FAILURE missions QUEUED again as attempt 1, for a
// dead-letter replay, and returns the ids it reset. Call it before the
// replay is published, so a worker that takes the replayed message at once
// finds the mission ready to run.
//
// ov are what the replay changes of the missions (dlq replay --fail-rate,
// --max-attempts, --speed), recorded as their orders now say.
func (s *Store) ResetFailed(ctx context.Context, ids []string, at time.Time, ov Overrides) error {
	if len(ids) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`UPDATE missions SET status = 'QUEUED', attempt = 1, progress = 0, stage = '', worker = '',
		error = '', started_us = NULL, finished_us = NULL, queued_us = ?, updated_us = ?, fail_rate = COALESCE(?, fail_rate),
		max_attempts = COALESCE(?, max_attempts), speed = COALESCE(?, speed)
		WHERE status = 'FAILURE' AND id IN (?)`, micros(at), micros(at), ov.FailRate, ov.MaxAttempts, ov.Speed, ids)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.rebind(q), args...)
	return err
}

// Overrides change what a replayed mission carries (dlq replay
// --fail-rate, --max-attempts, --speed); nil keeps the mission's own.
type Overrides struct {
	FailRate    *float64
	MaxAttempts *int
	Speed       *float64
}

// Apply changes o as ov says.
func (ov Overrides) Apply(o *mission.Order) {
	if ov.FailRate != nil {
		o.FailRate = *ov.FailRate
	}
	if ov.MaxAttempts != nil {
		o.MaxAttempts = *ov.MaxAttempts
	}
	if ov.Speed != nil {
		o.Speed = *ov.Speed
	}
}

// None reports whether ov changes nothing.
func (ov Overrides) None() bool { return ov == Overrides{} }

// Abandon ends the given missions that are not final yet as FAILURE with
// reason, for missions whose queue is gone (inproc, when the launching
// process is interrupted). It returns how many it ended.
func (s *Store) Abandon(ctx context.Context, ids []string, reason string, at time.Time) (int64, error) {
	var total int64
	for start := 0; start < len(ids); start += 500 {
		q, args, err := sqlx.In(`UPDATE missions SET status = 'FAILURE', error = ?, finished_us = ?, updated_us = ?
			WHERE status NOT IN ('SUCCESS', 'FAILURE') AND id IN (?)`, reason, micros(at), micros(at), ids[start:min(start+500, len(ids))])
		if err != nil {
			return total, err
		}
		res, err := s.db.ExecContext(ctx, s.rebind(q), args...)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

// MarkPurged ends the waiting missions of a purged queue as FAILURE, and
// returns how many it marked.
func (s *Store) MarkPurged(ctx context.Context, backend, queue string, at time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`UPDATE missions SET status = 'FAILURE', error = 'purged from the queue',
		finished_us = ?, updated_us = ? WHERE backend = ? AND queue = ? AND status IN ('PENDING', 'QUEUED', 'RETRY')`),
		micros(at), micros(at), backend, queue)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Missions returns the missions with these exact ids, in the given order.
func (s *Store) Missions(ctx context.Context, ids []string) ([]Mission, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	q, args, err := sqlx.In(`SELECT `+missionColumns+` FROM missions WHERE id IN (?)`, ids)
	if err != nil {
		return nil, err
	}
	var rows []missionRow
	if err := s.db.SelectContext(ctx, &rows, s.rebind(q), args...); err != nil {
		return nil, err
	}
	byID := make(map[string]Mission, len(rows))
	for _, r := range rows {
		byID[r.ID] = r.mission()
	}
	out := make([]Mission, 0, len(ids))
	for _, id := range ids {
		if m, ok := byID[id]; ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// Resolve turns an id or a unique id prefix (at least 4 characters) into
// a full mission id.
func (s *Store) Resolve(ctx context.Context, prefix string) (string, error) {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	var ids []string
	if err := s.db.SelectContext(ctx, &ids, s.rebind(`SELECT id FROM missions WHERE id = ?`), prefix); err != nil {
		return "", err
	}
	if len(ids) == 1 {
		return ids[0], nil
	}
	if len(prefix) >= 4 {
		escaped := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix)
		if err := s.db.SelectContext(ctx, &ids, s.rebind(`SELECT id FROM missions WHERE id LIKE ? ESCAPE '\' LIMIT 2`), escaped+"%"); err != nil {
			return "", err
		}
	}
	switch len(ids) {
	case 0:
		if len(prefix) < 4 {
			return "", fmt.Errorf("%w %q (a prefix needs at least 4 characters)", ErrNotFound, prefix)
		}
		return "", fmt.Errorf("%w %q", ErrNotFound, prefix)
	case 1:
		return ids[0], nil
	default:
		return "", fmt.Errorf("%w %q: type more of it", ErrAmbiguous, prefix)
	}
}

// Filter selects missions for History.
type Filter struct {
	Type, Status, Hero, Worker, Backend string
	Since                               time.Time
	Limit                               int
}

// History returns missions newest first.
func (s *Store) History(ctx context.Context, f Filter) ([]Mission, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.Type != "" {
		add("type = ?", f.Type)
	}
	if f.Status != "" {
		add("status = ?", strings.ToUpper(f.Status))
	}
	if f.Hero != "" {
		add("hero = ?", f.Hero)
	}
	if f.Worker != "" {
		add("worker = ?", f.Worker)
	}
	if f.Backend != "" {
		add("backend = ?", f.Backend)
	}
	if !f.Since.IsZero() {
		add("created_us >= ?", micros(f.Since))
	}
	q := `SELECT ` + missionColumns + ` FROM missions`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_us DESC, id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	var rows []missionRow
	if err := s.db.SelectContext(ctx, &rows, s.rebind(q), args...); err != nil {
		return nil, err
	}
	out := make([]Mission, len(rows))
	for i, r := range rows {
		out[i] = r.mission()
	}
	return out, nil
}

// Count is one cell of a summary.
type Count struct {
	Key    string `db:"k"`
	Status string `db:"status"`
	N      int    `db:"n"`
}

// CountsBy counts missions by status, grouped by "type" or "worker".
func (s *Store) CountsBy(ctx context.Context, column string, in Scope) ([]Count, error) {
	if column != "type" && column != "worker" {
		return nil, fmt.Errorf("count by %q: not a summary column", column)
	}
	where, args := "", []any{}
	if in != (Scope{}) {
		where, args = `WHERE backend = ? AND queue = ?`, []any{in.Backend, in.Queue}
	}
	var out []Count
	err := s.db.SelectContext(ctx, &out, s.rebind(`SELECT `+column+` AS k, status, COUNT(*) AS n FROM missions `+where+`
		GROUP BY `+column+`, status ORDER BY `+column+`, status`), args...)
	return out, err
}

// Scope narrows counts to one backend's queue; the zero Scope is every
// mission.
type Scope struct{ Backend, Queue string }
