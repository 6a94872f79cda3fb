package store

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/telemetry"
)

// One group of writes, made three ways: on SQLite (closures, statement by
// statement), on PostgreSQL as closures, and on PostgreSQL pipelined with
// its STARTED and outcomes merged and coalesced (pipeline.go, merge.go).
// What trace, history, status and the leaderboard read afterwards (the
// rows, the scores, the events in their order, and which outcomes were
// recorded) is the same.
func TestMergedGroupWritesWhatOneByOneWrites(t *testing.T) {
	ctx := context.Background()
	openAt := func(url string) *Store {
		s, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	type run struct {
		name   string
		s      *Store
		strip  bool // closures only
		merges bool
	}
	runs := []run{
		{"sqlite", openAt(filepath.Join(t.TempDir(), "m.db")), false, false},
		{"postgres closures", openAt(testservices.PostgresDB(t)), true, false},
		{"postgres merged", openAt(testservices.PostgresDB(t)), false, true},
	}
	var want *groupResult
	for _, r := range runs {
		got := runMergeScenario(t, r.s, r.strip, r.merges)
		if want == nil {
			want = got
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s wrote\n%+v\nwant (as %s)\n%+v", r.name, *got, runs[0].name, *want)
		}
	}
}

type groupResult struct {
	Missions []string
	Events   []string
	Scores   []HeroScore
	Recorded []bool
}

func runMergeScenario(t *testing.T, s *Store, strip, merges bool) *groupResult {
	ctx := context.Background()
	t0 := time.UnixMicro(1_700_000_000_000_000).UTC()
	var ms []Mission
	for i := range 6 {
		o := mission.Order{ID: fmt.Sprintf("m%d", i), Type: mission.Raven, Hero: fmt.Sprintf("hero%d", i%2),
			MaxAttempts: 3, Speed: 1, CreatedAt: t0}
		ms = append(ms, MissionFromOrder(o, "inproc", "q"))
	}
	if err := s.CreateMissions(ctx, ms); err != nil {
		t.Fatal(err)
	}
	ids := []string{"m0", "m1", "m2", "m3", "m4", "m5"}
	if err := s.MarkQueued(ctx, ids, t0); err != nil {
		t.Fatal(err)
	}
	at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	outcome := func(id string, attempt int, n int) Beside {
		return Beside{Events: func() []telemetry.Event {
			return []telemetry.Event{
				{At: at(n), Name: telemetry.MissionCompleted, MissionID: id, Attempt: attempt, Service: "worker:w"},
				{At: at(n), Name: telemetry.MissionPersisted, MissionID: id, Attempt: attempt, Service: "store:x", Detail: "SUCCESS"},
				{At: at(n), Name: telemetry.HeroScored, MissionID: id, Attempt: attempt, Service: "store:x", Detail: "+15"},
			}
		}}
	}
	done := func(id, worker string, attempt int) Mission {
		return Mission{ID: id, Hero: "hero" + id[1:], Attempt: attempt, Worker: worker}
	}
	// m4 ended before the group.
	var early bool
	s.commitGroup([]groupOp{prepared(s.completeOp(ctx, done("m4", "w0", 1), 15, at(1), outcome("m4", 1, 1), &early), strip)})

	recorded := make([]bool, 6)
	batch := []groupOp{
		s.startOp("m0", 1, "w1", at(10)), s.completeOp(ctx, done("m0", "w1", 1), 15, at(11), outcome("m0", 1, 11), &recorded[0]),
		s.startOp("m1", 1, "w1", at(12)),
		s.completeOp(ctx, done("m2", "w2", 1), 15, at(13), outcome("m2", 1, 13), &recorded[1]),
		s.startOp("m3", 1, "w2", at(14)), s.completeOp(ctx, done("m3", "w2", 1), 15, at(15), outcome("m3", 1, 15), &recorded[2]),
		s.completeOp(ctx, done("m3", "w3", 1), 15, at(16), outcome("m3", 1, 16), &recorded[3]), // a duplicate
		s.startOp("m4", 1, "w3", at(17)), s.completeOp(ctx, done("m4", "w3", 1), 15, at(18), outcome("m4", 1, 18), &recorded[4]),
		s.startOp("m5", 2, "w1", at(19)), s.completeOp(ctx, done("m5", "w1", 2), 10, at(20), outcome("m5", 2, 20), &recorded[5]),
	}
	for i := range batch {
		batch[i].key = batch[i].merge.id
		batch[i] = prepared(batch[i], strip)
	}
	// Telemetry of several missions, in the middle of the group.
	evs := []telemetry.Event{{At: at(12), Name: telemetry.MissionStarted, MissionID: "m1", Attempt: 1, Service: "worker:w1"}}
	batch = append(batch[:4], append([]groupOp{prepared(groupOp{
		fn: func(tx *sqlx.Tx) error { return s.insertEventsTx(ctx, tx, evs) },
		pg: func() []pgStmt { return insertEventsStmts(evs) },
	}, strip)}, batch[4:]...)...)
	if merges {
		if stmts := merged(batch); len(stmts) != 5 {
			t.Fatalf("merged %d writes into %d statements, want 5 (events, 2 rounds of STARTED and outcomes, the duplicate)", len(batch), len(stmts))
		}
	}
	s.commitGroup(batch)
	for _, op := range batch {
		if err := <-op.done; err != nil {
			t.Fatalf("write failed: %v", err)
		}
	}

	r := &groupResult{Recorded: recorded}
	got, err := s.Missions(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range got {
		r.Missions = append(r.Missions, fmt.Sprintf("%s %s attempt %d worker %s score %d progress %d started %v finished %v updated %v",
			m.ID, m.Status, m.Attempt, m.Worker, m.Score, m.Progress, m.StartedAt, m.FinishedAt, m.UpdatedAt))
	}
	all, err := s.Events(ctx, EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// Each mission's events in the order they were written (trace reads
	// them so); how missions interleave depends on how writes group.
	sort.SliceStable(all, func(i, j int) bool { return all[i].MissionID < all[j].MissionID })
	for _, e := range all {
		r.Events = append(r.Events, fmt.Sprintf("%s %s %d %s %s", e.MissionID, e.Name, e.Attempt, e.Service, e.At))
	}
	if r.Scores, err = s.Leaderboard(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// prepared gives op a fresh done channel and, with strip, only its
// closure form.
func prepared(op groupOp, strip bool) groupOp {
	op.done = make(chan error, 1)
	if strip {
		op.pg, op.merge = nil, nil
	}
	return op
}
