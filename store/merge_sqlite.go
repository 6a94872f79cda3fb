package store

import (
	"context"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/palantir-lab/palantir/telemetry"
)

// Merged groups on SQLite. SQLite has one writer, and each statement
// through the pure-Go driver has a cost of its own: a mission's STARTED,
// outcome, score and outcome events were four statements on the
// committer. Laid out as on PostgreSQL
// (merge.go), a round's STARTED marks are one UPDATE … FROM a VALUES
// list, its outcomes one UPDATE … RETURNING, and the finished missions'
// scores and events one multi-row INSERT each.

// mergedTx is batch as the work of one transaction, merged; ok is false
// when it does not merge.
func (s *Store) mergedTx(ctx context.Context, batch []groupOp) (fn func(*sqlx.Tx) error, ok bool) {
	steps, ok := layout(batch)
	if !ok {
		return nil, false
	}
	return func(tx *sqlx.Tx) error {
		for _, st := range steps {
			var err error
			switch st.kind {
			case "":
				err = st.op.fn(tx)
			case mergeStart:
				err = startAllLite(ctx, tx, st.ms)
			case mergeComplete:
				err = s.completeAllLite(ctx, tx, st.ms)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}, true
}

// valuesOf is a VALUES list of n rows of width placeholders.
func valuesOf(n, width int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// startAllLite is startAllStmt on SQLite: rows (id, attempt, worker,
// at_us).
func startAllLite(ctx context.Context, tx *sqlx.Tx, ms []*mergeable) error {
	args := make([]any, 0, 4*len(ms))
	for _, m := range ms {
		args = append(args, m.row...)
	}
	_, err := tx.ExecContext(ctx, `WITH i (id, attempt, worker, at_us) AS (VALUES `+valuesOf(len(ms), 4)+`)
	UPDATE missions SET status = 'STARTED', attempt = i.attempt, worker = i.worker, progress = 0, stage = '',
	started_us = COALESCE(missions.started_us, i.at_us), updated_us = i.at_us
	FROM i WHERE missions.id = i.id AND missions.attempt <= i.attempt AND missions.status NOT IN ('SUCCESS', 'FAILURE')`, args...)
	return err
}

// completeAllLite is completeAllStmt on SQLite: the UPDATE returns the
// missions it finished, and only theirs are scored and get their events,
// in the order given. Rows are (id, score, attempt, worker, at_us, hero,
// first_try).
func (s *Store) completeAllLite(ctx context.Context, tx *sqlx.Tx, ms []*mergeable) error {
	args := make([]any, 0, 6*len(ms))
	for _, m := range ms {
		var started any // NULL: no STARTED folded in
		if m.startedUS != 0 {
			started = m.startedUS
		}
		args = append(args, m.row[0], m.row[1], m.row[2], m.row[3], m.row[4], started)
	}
	rows, err := tx.QueryContext(ctx, `WITH i (id, score, attempt, worker, at_us, started_us) AS (VALUES `+valuesOf(len(ms), 6)+`)
	UPDATE missions SET status = 'SUCCESS', progress = 100, stage = '', score = i.score, attempt = i.attempt,
	worker = i.worker, error = '', finished_us = i.at_us, updated_us = i.at_us,
	started_us = COALESCE(missions.started_us, i.started_us)
	FROM i WHERE missions.id = i.id AND missions.status NOT IN ('SUCCESS', 'FAILURE') RETURNING missions.id`, args...)
	if err != nil {
		return err
	}
	finished := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		finished[id] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	var scores []any
	var evs []telemetry.Event
	n := 0
	for _, m := range ms {
		if m.changed != nil {
			m.changed(finished[m.id])
		}
		if !finished[m.id] {
			continue
		}
		n++
		scores = append(scores, m.row[0], m.row[5], m.row[1], m.row[6], m.row[4]) // id, hero, points, first_try, at_us
		if m.events != nil {
			evs = append(evs, m.events()...)
		}
	}
	if n > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO scores (mission_id, hero, points, first_try, scored_us) VALUES `+
			valuesOf(n, 5), scores...); err != nil {
			return err
		}
	}
	return s.insertEventsTx(ctx, tx, evs)
}
