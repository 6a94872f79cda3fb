package store

import (
	"github.com/palantir-lab/palantir/telemetry"
)

// Set-oriented writes. Pipelining (pipeline.go) saves the round trips,
// but PostgreSQL still executes each mission's statements one by one, and
// with pg_stat_statements on `bench --store postgres://…` the per-mission
// UPDATE-and-score statement cost 0.6 ms of server time, the STARTED
// UPDATE 0.25 ms. When a group holds several writes of one kind (the
// outcomes of many missions, their STARTED marks), they go as one
// statement over arrays (unnest), as River completes its jobs: one
// executor start, one pass over the index, instead of one per mission.
//
// Merging must not reorder one mission's writes (group.go). The group
// is laid out in rounds: first the writes about no one mission or many
// (launch's inserts and QUEUED marks, telemetry: written so that their
// order against one mission's writes does not matter), then round 1 with
// each mission's first write, round 2 with each one's second, and so on.
// Within a round a mission has at most one write, so the writes of one
// kind merge. The usual group of fast missions, each one's STARTED and
// then its outcome, is two statements.

// mergeable is a write that can join others of its kind in one statement.
type mergeable struct {
	kind string // mergeComplete or mergeStart
	id   string // the mission
	row  []any  // its values, in the kind's array order
	// events (complete) are the outcome's events, written if it is
	// recorded.
	events func() []telemetry.Event
	// changed, if set, is told whether the statement changed the mission.
	changed func(bool)
	// startedUS (complete) is the time of a STARTED write coalesced into
	// this outcome (0: none).
	startedUS int64
}

const (
	mergeComplete = "complete"
	mergeStart    = "start"
)

// merged lays batch out in rounds and merges each round's writes of one
// kind. A mission's STARTED followed at once by its outcome in the same
// group is one write: nobody can read the row between them (they commit
// together), so the outcome takes the STARTED's time and the STARTED is
// not written; its events are written as they are.
func merged(batch []groupOp) []pgStmt {
	var out []pgStmt
	var rounds [][]*mergeable
	nth := make(map[string]int, len(batch))
	last := make(map[string]*mergeable, len(batch))
	for _, op := range batch {
		if op.key == "" || op.merge == nil {
			if op.key != "" {
				return nil // a write that cannot merge, about one mission
			}
			out = append(out, op.pg()...)
			continue
		}
		m := op.merge
		if prev := last[op.key]; prev != nil && prev.kind == mergeStart && m.kind == mergeComplete {
			prev.kind, m.startedUS = "", prev.row[3].(int64)
		}
		last[op.key] = m
		r := nth[op.key]
		nth[op.key]++
		if r == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[r] = append(rounds[r], m)
	}
	for _, round := range rounds {
		out = append(out, mergeRound(round)...)
	}
	return out
}

// mergeRound is the statements of one round: one per kind.
func mergeRound(round []*mergeable) []pgStmt {
	byKind := map[string][]*mergeable{}
	for _, m := range round {
		byKind[m.kind] = append(byKind[m.kind], m) // kind "": coalesced away
	}
	var out []pgStmt
	if ms := byKind[mergeStart]; len(ms) > 0 {
		out = append(out, startAllStmt(ms))
	}
	if ms := byKind[mergeComplete]; len(ms) > 0 {
		out = append(out, completeAllStmt(ms))
	}
	return out
}

// columns turns the writes' rows into one array per column.
func columns(ms []*mergeable, types ...func() any) []any {
	cols := make([]any, len(types))
	for c, mk := range types {
		cols[c] = mk()
	}
	for _, m := range ms {
		for c, v := range m.row {
			switch col := cols[c].(type) {
			case *[]string:
				*col = append(*col, v.(string))
			case *[]int32:
				*col = append(*col, int32(v.(int)))
			case *[]int64:
				*col = append(*col, v.(int64))
			}
		}
	}
	out := make([]any, len(cols))
	for c, col := range cols {
		switch col := col.(type) {
		case *[]string:
			out[c] = *col
		case *[]int32:
			out[c] = *col
		case *[]int64:
			out[c] = *col
		}
	}
	return out
}

func strs() any { return &[]string{} }
func ints() any { return &[]int32{} }
func bigs() any { return &[]int64{} }

// startAllStmt is startAttemptIfCurrent for every write of ms: rows are
// (id, attempt, worker, at_us).
func startAllStmt(ms []*mergeable) pgStmt {
	return pgStmt{query: `UPDATE missions AS m SET status = 'STARTED', attempt = i.attempt, worker = i.worker,
	progress = 0, stage = '', started_us = COALESCE(m.started_us, i.at_us), updated_us = i.at_us
	FROM unnest(CAST(? AS TEXT[]), CAST(? AS INTEGER[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]))
	AS i (id, attempt, worker, at_us)
	WHERE m.id = i.id AND m.attempt <= i.attempt AND m.status NOT IN ('SUCCESS', 'FAILURE')`,
		args: columns(ms, strs, ints, strs, bigs)}
}

// completeAllStmt is Complete for every write of ms, rows (id, score,
// attempt, worker, at_us, hero, first_try): the missions it finishes are
// returned, and only theirs are scored and get their events, in the
// order given.
func completeAllStmt(ms []*mergeable) pgStmt {
	var evs []telemetry.Event
	for _, m := range ms {
		if m.events != nil {
			evs = append(evs, m.events()...)
		}
	}
	evRows := make([]*mergeable, len(evs))
	for i, e := range evs {
		evRows[i] = &mergeable{row: eventArgs(e)}
	}
	evCols := columns(evRows, bigs, strs, strs, ints, strs, bigs, strs)
	changed := make(map[string]func(bool), len(ms))
	for _, m := range ms {
		changed[m.id] = m.changed
	}
	started := make([]int64, len(ms))
	for i, m := range ms {
		started[i] = m.startedUS
	}
	return pgStmt{
		query: `WITH i AS (SELECT * FROM unnest(CAST(? AS TEXT[]), CAST(? AS INTEGER[]), CAST(? AS INTEGER[]),
		CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS INTEGER[]), CAST(? AS BIGINT[]))
		AS t (id, score, attempt, worker, at_us, hero, first_try, started_us)),
	done AS (UPDATE missions AS m SET status = 'SUCCESS', progress = 100, stage = '', score = i.score,
		attempt = i.attempt, worker = i.worker, error = '', finished_us = i.at_us, updated_us = i.at_us,
		started_us = COALESCE(m.started_us, NULLIF(i.started_us, 0))
		FROM i WHERE m.id = i.id AND m.status NOT IN ('SUCCESS', 'FAILURE') RETURNING m.id),
	ev AS (INSERT INTO events (at_us, name, mission_id, attempt, service, since_us, detail)
		SELECT e.at_us, e.name, e.mission_id, e.attempt, e.service, e.since_us, e.detail
		FROM unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS INTEGER[]),
			CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[]))
			WITH ORDINALITY AS e (at_us, name, mission_id, attempt, service, since_us, detail, n)
		WHERE e.mission_id IN (SELECT id FROM done) ORDER BY e.n),
	sc AS (INSERT INTO scores (mission_id, hero, points, first_try, scored_us)
		SELECT i.id, i.hero, i.score, i.first_try, i.at_us FROM i JOIN done ON done.id = i.id)
	SELECT id FROM done`,
		args: append(append(columns(ms, strs, ints, ints, strs, bigs, strs, ints), started), evCols...),
		returned: func(ids []string) {
			finished := make(map[string]bool, len(ids))
			for _, id := range ids {
				finished[id] = true
			}
			for id, f := range changed {
				if f != nil {
					f(finished[id])
				}
			}
		},
	}
}
