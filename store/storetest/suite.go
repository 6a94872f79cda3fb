// Package storetest is the suite every store database runs: SQLite always,
// PostgreSQL when it is reachable (and in CI).
package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// Run runs the suite; open returns a store on an empty database, and may
// be called more than once for the same t to get a second handle on it.
func Run(t *testing.T, open func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, *store.Store)
	}{
		{"Lifecycle", testLifecycle},
		{"CompleteOnceScoresOnce", testCompleteOnce},
		{"ConcurrentCompletionsScoreOnce", testConcurrentComplete},
		{"BeginAttemptSkipsDuplicatesAndStaleCopies", testBeginAttempt},
		{"UnknownMissionIsCreatedByWorker", testUnknownMission},
		{"RetryThenFailure", testRetryThenFailure},
		{"HistoryFilters", testHistory},
		{"ResolvePrefixes", testResolve},
		{"EventsBatchAndFollow", testEvents},
		{"DeadLetterBook", testDeadLetters},
		{"WorkersHeartbeat", testWorkers},
		{"PublishFailureLeavesNothing", testDeleteUnpublished},
		{"QueuedAtSurvivesAWorkerFasterThanTheLauncher", testQueuedAfterStart},
		{"EventsWithAStrangersBytesAreKept", testStrangeEventText},
		{"CancelEndsWhatHasNotEnded", testCancel},
		{"QueuesPauseResumeAndList", testQueues},
		{"UniqueLocksHoldUntilTheyLapse", testUniqueLocks},
		{"DueMissionsAreClaimedOnceWhenDue", testDue},
		{"KeptLaunchesAreClaimedOnceWhenDue", testKept},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
	t.Run("MigrationsAreIdempotent", func(t *testing.T) {
		s1 := open(t)
		if err := s1.CreateMissions(context.Background(), []store.Mission{newMission("again", mission.Raven, "frodo")}); err != nil {
			t.Fatal(err)
		}
		if n, err := s1.CountMissions(context.Background()); err != nil || n != 1 {
			t.Fatalf("count = %d, %v", n, err)
		}
	})
}

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func newMission(id string, typ mission.Type, hero string) store.Mission {
	o := mission.Order{ID: id, Type: typ, Hero: hero, FailRate: 0.2, MaxAttempts: 3, Speed: 1, Seed: 1<<63 + 5, CreatedAt: t0}
	return store.MissionFromOrder(o, "inproc", "missions")
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func get(t *testing.T, s *store.Store, id string) store.Mission {
	t.Helper()
	ms, err := s.Missions(context.Background(), []string{id})
	must(t, "Missions", err)
	if len(ms) != 1 {
		t.Fatalf("mission %s: got %d rows", id, len(ms))
	}
	return ms[0]
}

func testLifecycle(t *testing.T, s *store.Store) {
	ctx := context.Background()
	m := newMission("m1", mission.Recon, "aragorn")
	must(t, "Create", s.CreateMissions(ctx, []store.Mission{m}))
	if got := get(t, s, "m1"); got.Status != mission.Pending || got.Seed != m.Seed || !got.CreatedAt.Equal(t0) {
		t.Fatalf("after create: %+v", got)
	}
	must(t, "MarkQueued", s.MarkQueued(ctx, []string{"m1"}, t0.Add(time.Second)))
	v, err := s.BeginAttempt(ctx, m.Order(), "inproc", "missions", 1, "eagle1", t0.Add(2*time.Second))
	must(t, "BeginAttempt", err)
	if v != store.Proceed {
		t.Fatalf("BeginAttempt = %v, want Proceed", v)
	}
	// A late MarkQueued (the launcher lagging behind the worker) changes nothing.
	must(t, "late MarkQueued", s.MarkQueued(ctx, []string{"m1"}, t0.Add(3*time.Second)))
	must(t, "SetProgress", s.SetProgress(ctx, "m1", 1, 50, "scout the Black Gate", t0.Add(4*time.Second)))
	s.Flush()
	got := get(t, s, "m1")
	if got.Status != mission.Processing || got.Progress != 50 || got.Worker != "eagle1" || got.Stage != "scout the Black Gate" {
		t.Fatalf("after progress: %+v", got)
	}
	m.Attempt, m.Worker = 1, "eagle1"
	rec, err := s.Complete(ctx, m, 75, t0.Add(5*time.Second), store.Beside{})
	must(t, "Complete", err)
	if !rec {
		t.Fatal("first Complete not recorded")
	}
	got = get(t, s, "m1")
	want := store.Mission{Status: mission.Success, Progress: 100, Attempt: 1, Score: 75, Worker: "eagle1",
		QueuedAt: t0.Add(time.Second), StartedAt: t0.Add(2 * time.Second), FinishedAt: t0.Add(5 * time.Second)}
	if diff := cmp.Diff(want, store.Mission{Status: got.Status, Progress: got.Progress, Attempt: got.Attempt, Score: got.Score,
		Worker: got.Worker, QueuedAt: got.QueuedAt, StartedAt: got.StartedAt, FinishedAt: got.FinishedAt}); diff != "" {
		t.Errorf("final mission (-want +got):\n%s", diff)
	}
}

func testCompleteOnce(t *testing.T, s *store.Store) {
	ctx := context.Background()
	m := newMission("once", mission.Raven, "gimli")
	must(t, "Create", s.CreateMissions(ctx, []store.Mission{m}))
	m.Attempt, m.Worker = 1, "eagle1"
	outcome := func(worker string) store.OutcomeEvents {
		return func() []telemetry.Event {
			return []telemetry.Event{{At: t0, Name: telemetry.HeroScored, MissionID: "once", Attempt: 1,
				Service: "store:test", Detail: worker}}
		}
	}
	first, err := s.Complete(ctx, m, 15, t0, store.Beside{Events: outcome("eagle1")})
	must(t, "Complete", err)
	m.Worker = "eagle2"
	second, err := s.Complete(ctx, m, 15, t0.Add(time.Second), store.Beside{Events: outcome("eagle2")})
	must(t, "Complete again", err)
	if !first || second {
		t.Fatalf("recorded = %v then %v, want true then false", first, second)
	}
	evs, err := s.Events(ctx, store.EventFilter{MissionID: "once"})
	must(t, "Events", err)
	if len(evs) != 1 || evs[0].Detail != "eagle1" {
		t.Errorf("outcome events %+v, want only the recorded completion's", evs)
	}
	if w := get(t, s, "once").Worker; w != "eagle1" {
		t.Errorf("duplicate completion overwrote the worker: %s", w)
	}
	if failed, _ := s.Fail(ctx, "once", 1, "eagle2", "late failure", t0, store.Beside{}); failed {
		t.Error("Fail after success was recorded")
	}
	board, err := s.Leaderboard(ctx)
	must(t, "Leaderboard", err)
	if diff := cmp.Diff([]store.HeroScore{{Hero: "gimli", Points: 15, Missions: 1, FirstTry: 1}}, board); diff != "" {
		t.Errorf("leaderboard (-want +got):\n%s", diff)
	}
}

func testConcurrentComplete(t *testing.T, s *store.Store) {
	ctx := context.Background()
	var ms []store.Mission
	for i := range 20 {
		ms = append(ms, newMission(fmt.Sprintf("c%02d", i), mission.Consult, "eowyn"))
	}
	must(t, "Create", s.CreateMissions(ctx, ms))
	var wg sync.WaitGroup
	var mu sync.Mutex
	recorded := 0
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range ms {
				m.Attempt, m.Worker = 1, fmt.Sprintf("w%d", w)
				ok, err := s.Complete(ctx, m, 45, time.Now(), store.Beside{})
				if err != nil {
					t.Errorf("Complete %s: %v", m.ID, err)
					return
				}
				if ok {
					mu.Lock()
					recorded++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if recorded != 20 {
		t.Errorf("recorded %d completions of 20 missions by 4 racing workers, want exactly 20", recorded)
	}
	board, err := s.Leaderboard(ctx)
	must(t, "Leaderboard", err)
	if len(board) != 1 || board[0].Points != 20*45 || board[0].Missions != 20 {
		t.Errorf("leaderboard %+v, want eowyn with 900 points from 20 missions", board)
	}
}

func testBeginAttempt(t *testing.T, s *store.Store) {
	ctx := context.Background()
	m := newMission("b1", mission.Raven, "frodo")
	must(t, "Create", s.CreateMissions(ctx, []store.Mission{m}))
	begin := func(attempt int) store.Begin {
		v, err := s.BeginAttempt(ctx, m.Order(), "inproc", "missions", attempt, "w", t0)
		must(t, "BeginAttempt", err)
		return v
	}
	if v := begin(1); v != store.Proceed {
		t.Fatalf("attempt 1: %v", v)
	}
	must(t, "MarkRetry", s.MarkRetry(ctx, "b1", 1, "orc ambush", t0))
	must(t, "MarkRequeued", s.MarkRequeued(ctx, "b1", 2, t0))
	if got := get(t, s, "b1"); got.Status != mission.Queued || got.Attempt != 2 || got.Error != "orc ambush" {
		t.Fatalf("after requeue: %+v", got)
	}
	if v := begin(1); v != store.Stale {
		t.Errorf("old copy of attempt 1 after attempt 2 was queued: %v, want Stale", v)
	}
	if v := begin(2); v != store.Proceed {
		t.Errorf("attempt 2: %v, want Proceed", v)
	}
	m.Attempt = 2
	_, err := s.Complete(ctx, m, 10, t0, store.Beside{})
	must(t, "Complete", err)
	if v := begin(2); v != store.AlreadySucceeded {
		t.Errorf("redelivery after success: %v, want AlreadySucceeded", v)
	}
}

func testUnknownMission(t *testing.T, s *store.Store) {
	o := newMission("stranger", mission.Raven, "boromir").Order()
	v, err := s.BeginAttempt(context.Background(), o, "somebroker", "q", 1, "eagle9", t0)
	must(t, "BeginAttempt", err)
	if got := get(t, s, "stranger"); v != store.Proceed || got.Status != mission.Started || got.Backend != "somebroker" || got.Worker != "eagle9" {
		t.Errorf("unknown mission: verdict %v, row %+v", v, got)
	}
}

func testRetryThenFailure(t *testing.T, s *store.Store) {
	ctx := context.Background()
	m := newMission("f1", mission.Raven, "faramir")
	must(t, "Create", s.CreateMissions(ctx, []store.Mission{m}))
	for attempt := 1; attempt <= 2; attempt++ {
		_, err := s.BeginAttempt(ctx, m.Order(), "inproc", "missions", attempt, "w", t0)
		must(t, "BeginAttempt", err)
		if attempt < 2 {
			must(t, "MarkRetry", s.MarkRetry(ctx, "f1", attempt, "ambush", t0))
			must(t, "MarkRequeued", s.MarkRequeued(ctx, "f1", attempt+1, t0))
		}
	}
	ok, err := s.Fail(ctx, "f1", 2, "w", "orc ambush at \"raven flies\"", t0, store.Beside{})
	must(t, "Fail", err)
	got := get(t, s, "f1")
	if !ok || got.Status != mission.Failure || got.Attempt != 2 || got.FinishedAt.IsZero() || got.Score != 0 {
		t.Errorf("after Fail (recorded %v): %+v", ok, got)
	}
	board, _ := s.Leaderboard(ctx)
	if len(board) != 0 {
		t.Errorf("a failed mission scored: %+v", board)
	}
	if v, _ := s.BeginAttempt(ctx, m.Order(), "inproc", "missions", 2, "w", t0); v != store.AlreadyFailed {
		t.Errorf("copy of a failed mission: %v, want AlreadyFailed", v)
	}
	before := get(t, s, "f1")
	must(t, "ResetFailed", s.ResetFailed(ctx, []string{"f1"}, t0, store.Overrides{}))
	if got := get(t, s, "f1"); got.Status != mission.Queued || got.Attempt != 1 || !got.FinishedAt.IsZero() || got.FailRate != before.FailRate ||
		got.MaxAttempts != before.MaxAttempts || got.Speed != before.Speed {
		t.Errorf("after ResetFailed: %+v (before %+v)", got, before)
	}
	// Replayed with another fail rate (dlq replay --fail-rate), the row
	// says the rate the order now carries.
	must(t, "Fail", func() error { _, err := s.Fail(ctx, "f1", 1, "w", "again", t0, store.Beside{}); return err }())
	zero, five, fast := 0.0, 5, 7.5
	must(t, "ResetFailed with overrides", s.ResetFailed(ctx, []string{"f1"}, t0, store.Overrides{FailRate: &zero, MaxAttempts: &five, Speed: &fast}))
	if got := get(t, s, "f1"); got.Status != mission.Queued || got.FailRate != 0 || got.MaxAttempts != 5 || got.Speed != 7.5 {
		t.Errorf("after ResetFailed at fail rate 0, 5 attempts, speed 7.5: status %s, fail rate %g, %d attempts, speed %g",
			got.Status, got.FailRate, got.MaxAttempts, got.Speed)
	}
	if v, _ := s.BeginAttempt(ctx, m.Order(), "inproc", "missions", 1, "w", t0); v != store.Proceed {
		t.Errorf("replayed attempt 1: %v, want Proceed", v)
	}
}

func testHistory(t *testing.T, s *store.Store) {
	ctx := context.Background()
	var ms []store.Mission
	for i, typ := range []mission.Type{mission.Recon, mission.Raven, mission.Raven, mission.Consult} {
		m := newMission(fmt.Sprintf("h%d", i), typ, mission.HeroFor(i))
		m.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
		ms = append(ms, m)
	}
	ms[3].Backend = "somebroker"
	must(t, "Create", s.CreateMissions(ctx, ms))
	ids := func(f store.Filter) []string {
		got, err := s.History(ctx, f)
		must(t, "History", err)
		var out []string
		for _, m := range got {
			out = append(out, m.ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    store.Filter
		want []string
	}{
		{"newest first", store.Filter{}, []string{"h3", "h2", "h1", "h0"}},
		{"by type", store.Filter{Type: "raven"}, []string{"h2", "h1"}},
		{"by hero", store.Filter{Hero: "legolas"}, []string{"h1"}},
		{"by backend", store.Filter{Backend: "somebroker"}, []string{"h3"}},
		{"by status", store.Filter{Status: "pending", Limit: 2}, []string{"h3", "h2"}},
		{"since", store.Filter{Since: t0.Add(2 * time.Minute)}, []string{"h3", "h2"}},
		{"nothing", store.Filter{Worker: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ids(tt.f)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	counts, err := s.CountsBy(ctx, "type", store.Scope{})
	must(t, "CountsBy", err)
	if !slices.Contains(counts, store.Count{Key: "raven", Status: "PENDING", N: 2}) {
		t.Errorf("counts by type %+v lack raven PENDING 2", counts)
	}
}

func testResolve(t *testing.T, s *store.Store) {
	ctx := context.Background()
	must(t, "Create", s.CreateMissions(ctx, []store.Mission{
		newMission("01abcdef", mission.Raven, "frodo"), newMission("01abcxyz", mission.Raven, "frodo"),
	}))
	tests := []struct{ in, want, err string }{
		{"01abcdef", "01abcdef", ""},
		{"01abcd", "01abcdef", ""},
		{"01ABCX", "01abcxyz", ""},
		{"01abc", "", "ambiguous"},
		{"zzzz", "", "no such mission"},
		{"01a", "", "no such mission"}, // too short to be a prefix
		{"01a_%", "", "no such mission"},
	}
	for _, tt := range tests {
		got, err := s.Resolve(ctx, tt.in)
		if tt.err != "" {
			if err == nil || !contains(err.Error(), tt.err) {
				t.Errorf("Resolve(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}

func testEvents(t *testing.T, s *store.Store) {
	ctx := context.Background()
	var batch []telemetry.Event
	for i := range 300 {
		batch = append(batch, telemetry.Event{At: t0.Add(time.Duration(i) * time.Millisecond), Name: telemetry.MissionProgress,
			MissionID: fmt.Sprintf("e%d", i%3), Attempt: 1, Service: "worker:eagle1", SincePrev: 1500 * time.Microsecond, Detail: "x"})
	}
	must(t, "InsertEvents", s.InsertEvents(ctx, batch))
	all, err := s.Events(ctx, store.EventFilter{})
	must(t, "Events", err)
	if len(all) != 300 || all[0].SincePrev != 1500*time.Microsecond || !all[0].At.Equal(t0) {
		t.Fatalf("got %d events, first %+v", len(all), all[0])
	}
	one, _ := s.Events(ctx, store.EventFilter{MissionID: "e1"})
	if len(one) != 100 {
		t.Errorf("events of e1: %d, want 100", len(one))
	}
	after, _ := s.Events(ctx, store.EventFilter{AfterID: all[289].ID})
	if len(after) != 10 || after[0].ID != all[290].ID {
		t.Errorf("follow after id %d: %d events", all[289].ID, len(after))
	}
	last, _ := s.Events(ctx, store.EventFilter{Limit: 5})
	if len(last) != 5 || last[4].ID != all[299].ID || last[0].ID != all[295].ID {
		t.Errorf("limit 5 gave %d events, not the newest in order", len(last))
	}
}

func testDeadLetters(t *testing.T, s *store.Store) {
	ctx := context.Background()
	for i := range 3 {
		must(t, "Add", s.AddDeadLetter(ctx, "q1", backends.DeadLetter{
			Message: backends.Message{ID: fmt.Sprintf("d%d", i), Body: []byte{0, 1, byte(i)}, Attempt: 3},
			Reason:  "failed after 3 attempts", DeadAt: t0}))
	}
	must(t, "Add other queue", s.AddDeadLetter(ctx, "q2", backends.DeadLetter{Message: backends.Message{ID: "other"}, DeadAt: t0}))
	list, err := s.ListDeadLetters(ctx, "q1", 0)
	must(t, "List", err)
	if len(list) != 3 || list[2].ID != "d2" || string(list[2].Body) != "\x00\x01\x02" || !list[0].DeadAt.Equal(t0) {
		t.Fatalf("list: %+v", list)
	}
	taken, err := s.TakeDeadLetters(ctx, "q1", "d1", "missing")
	must(t, "Take", err)
	if len(taken) != 1 || taken[0].ID != "d1" {
		t.Errorf("took %+v, want d1", taken)
	}
	rest, _ := s.TakeDeadLetters(ctx, "q1")
	if len(rest) != 2 {
		t.Errorf("took all: %d, want 2", len(rest))
	}
	if l, _ := s.ListDeadLetters(ctx, "q2", 0); len(l) != 1 {
		t.Errorf("other queue's dead letters touched: %d", len(l))
	}
}

func testWorkers(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := store.Worker{Name: "eagle1", Backend: "somebroker", Queue: "missions", Host: "h", PID: 42, Concurrency: 2,
		StartedAt: t0, HeartbeatAt: t0}
	must(t, "Heartbeat", s.Heartbeat(ctx, w))
	w.Current, w.Processed, w.HeartbeatAt = "m1,m2", 7, t0.Add(time.Minute)
	must(t, "Heartbeat again", s.Heartbeat(ctx, w))
	must(t, "other", s.Heartbeat(ctx, store.Worker{Name: "old", StartedAt: t0, HeartbeatAt: t0.Add(-time.Hour)}))
	got, err := s.Workers(ctx, t0)
	must(t, "Workers", err)
	if len(got) != 1 || got[0].Current != "m1,m2" || got[0].Processed != 7 || !got[0].HeartbeatAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("workers: %+v", got)
	}
}

func testDeleteUnpublished(t *testing.T, s *store.Store) {
	ctx := context.Background()
	must(t, "Create", s.CreateMissions(ctx, []store.Mission{newMission("u1", mission.Raven, "frodo"), newMission("u2", mission.Raven, "frodo")}))
	err := s.CreateMissions(ctx, []store.Mission{newMission("u3", mission.Raven, "frodo"), newMission("u1", mission.Raven, "frodo")})
	if err == nil {
		t.Fatal("duplicate id accepted")
	}
	if ms, _ := s.Missions(ctx, []string{"u3"}); len(ms) != 0 {
		t.Error("a failed batch was half-written")
	}
	must(t, "Delete", s.DeleteMissions(ctx, []string{"u1", "u2"}))
	if n, _ := s.CountMissions(ctx); n != 0 {
		t.Errorf("%d missions left after delete", n)
	}
}

// A worker can start a mission before the launcher marks it QUEUED (it
// publishes first): the late MarkQueued leaves the state alone but still
// says when the broker took it, so that no started mission shows a null
// queued_at.
func testQueuedAfterStart(t *testing.T, s *store.Store) {
	ctx := context.Background()
	m := newMission("fast", mission.Raven, "gimli")
	must(t, "Create", s.CreateMissions(ctx, []store.Mission{m}))
	_, err := s.BeginAttempt(ctx, m.Order(), "inproc", "missions", 1, "eagle1", t0.Add(2*time.Second))
	must(t, "BeginAttempt", err)
	must(t, "late MarkQueued", s.MarkQueued(ctx, []string{"fast"}, t0.Add(time.Second)))
	s.Flush()
	if got := get(t, s, "fast"); got.Status != mission.Started || !got.QueuedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("after a late MarkQueued: status %s, queued at %v; want STARTED, queued at %v", got.Status, got.QueuedAt, t0.Add(time.Second))
	}
}

// An event may name a message a stranger published, with any bytes in its
// id: PostgreSQL refuses a NUL byte and invalid UTF-8 in text, so a batch
// holding one would be refused whole. The store keeps such text readable
// instead.
func testStrangeEventText(t *testing.T, s *store.Store) {
	ctx := context.Background()
	odd := "a\x00b\xffc" + strings.Repeat("x", 1000)
	err := s.InsertEvents(ctx, []telemetry.Event{{At: time.Now(), Name: telemetry.MissionDeadLettered, MissionID: odd,
		Attempt: 1, Service: "broker:redis\x00", Detail: "reason \xfe\x00"}})
	must(t, "InsertEvents", err)
	evs, err := s.Events(ctx, store.EventFilter{Limit: 1})
	must(t, "Events", err)
	if len(evs) != 1 {
		t.Fatalf("%d events stored", len(evs))
	}
	e := evs[0]
	for _, f := range []string{e.MissionID, e.Service, e.Detail} {
		if strings.ContainsRune(f, 0) || !utf8.ValidString(f) {
			t.Errorf("stored %q: want valid UTF-8 without NUL", f)
		}
	}
	if !strings.HasPrefix(e.MissionID, "a") || len(e.MissionID) > 256 {
		t.Errorf("mission id stored as %q (%d bytes)", e.MissionID, len(e.MissionID))
	}
	// A dead letter of such a message too: refusing it would put the
	// message back, to be dead-lettered again and again.
	must(t, "AddDeadLetter", s.AddDeadLetter(ctx, "odd", backends.DeadLetter{Message: backends.Message{ID: odd, Body: []byte{0, 0xff}},
		Reason: "malformed \x00", DeadAt: time.Now()}))
	dls, err := s.ListDeadLetters(ctx, "odd", 0)
	must(t, "ListDeadLetters", err)
	if len(dls) != 1 || strings.ContainsRune(dls[0].ID, 0) || string(dls[0].Body) != "\x00\xff" {
		t.Errorf("dead letters %+v", dls)
	}
}

// testCancel: cancelling ends a waiting or running mission as FAILURE,
// once, leaves a finished one alone, and tells a worker that receives a
// cancelled mission's message to drop it rather than dead-letter it.
func testCancel(t *testing.T, s *store.Store) {
	ctx := context.Background()
	waiting, running, done := newMission("c-wait", mission.Recon, "frodo"), newMission("c-run", mission.Recon, "gimli"), newMission("c-done", mission.Raven, "eowyn")
	must(t, "Create", s.CreateMissions(ctx, []store.Mission{waiting, running, done}))
	_, err := s.BeginAttempt(ctx, running.Order(), "inproc", "missions", 1, "w", t0)
	must(t, "BeginAttempt", err)
	_, err = s.BeginAttempt(ctx, done.Order(), "inproc", "missions", 1, "w", t0)
	must(t, "BeginAttempt", err)
	_, err = s.Complete(ctx, store.Mission{ID: "c-done", Hero: "eowyn", Attempt: 1, Worker: "w"}, 15, t0, store.Beside{})
	must(t, "Complete", err)
	s.Flush()

	got, err := s.Cancel(ctx, []string{"c-wait", "c-run", "c-done", "c-nobody"}, t0.Add(time.Second))
	must(t, "Cancel", err)
	slices.Sort(got)
	if !slices.Equal(got, []string{"c-run", "c-wait"}) {
		t.Errorf("Cancel ended %v, want c-run and c-wait", got)
	}
	for _, id := range []string{"c-wait", "c-run"} {
		if m := get(t, s, id); m.Status != mission.Failure || m.Error != store.CancelledReason || m.FinishedAt.IsZero() {
			t.Errorf("%s after Cancel: %s %q finished %v, want FAILURE %q", id, m.Status, m.Error, m.FinishedAt, store.CancelledReason)
		}
	}
	if m := get(t, s, "c-done"); m.Status != mission.Success || m.Score == 0 {
		t.Errorf("a finished mission was changed by Cancel: %+v", m)
	}
	if again, err := s.Cancel(ctx, []string{"c-wait"}, t0); err != nil || len(again) != 0 {
		t.Errorf("a second Cancel ended %v (%v), want nothing", again, err)
	}
	if v, _ := s.BeginAttempt(ctx, waiting.Order(), "inproc", "missions", 1, "w", t0); v != store.Cancelled {
		t.Errorf("the message of a cancelled mission: %v, want Cancelled", v)
	}
	// The running attempt finishes: its success is not recorded.
	if ok, err := s.Complete(ctx, store.Mission{ID: "c-run", Hero: "gimli", Attempt: 1, Worker: "w"}, 75, t0, store.Beside{}); err != nil || ok {
		t.Errorf("Complete after Cancel recorded %v (%v), want nothing", ok, err)
	}
	cancelled, err := s.CancelledOf(ctx, []string{"c-run", "c-done", "c-nobody"})
	if err != nil || !slices.Equal(cancelled, []string{"c-run"}) {
		t.Errorf("CancelledOf = %v, %v; want c-run", cancelled, err)
	}
}

// testQueues: a queue is paused and resumed by backend and name, each
// once; the list shows every queue that has missions or is paused.
func testQueues(t *testing.T, s *store.Store) {
	ctx := context.Background()
	m := newMission("q-1", mission.Raven, "frodo")
	m.Backend, m.Queue = "redis", "lab"
	other := newMission("q-2", mission.Raven, "frodo")
	other.Backend, other.Queue = "rabbitmq", "lab"
	must(t, "Create", s.CreateMissions(ctx, []store.Mission{m, other}))
	if p, err := s.QueuePaused(ctx, "redis", "lab"); err != nil || p {
		t.Fatalf("a new queue paused: %v, %v", p, err)
	}
	for want := range []bool{true, false} { // the second pause changes nothing
		changed, err := s.PauseQueue(ctx, "redis", "lab", t0)
		if err != nil || changed != (want == 0) {
			t.Errorf("PauseQueue #%d changed %v (%v), want %v", want+1, changed, err, want == 0)
		}
	}
	if p, _ := s.QueuePaused(ctx, "redis", "lab"); !p {
		t.Error("redis/lab not paused after PauseQueue")
	}
	if p, _ := s.QueuePaused(ctx, "rabbitmq", "lab"); p {
		t.Error("pausing redis/lab paused rabbitmq/lab too")
	}
	_, err := s.PauseQueue(ctx, "nats", "idle", t0) // no missions yet
	must(t, "PauseQueue", err)
	qs, err := s.Queues(ctx)
	must(t, "Queues", err)
	got := map[string]store.QueueInfo{}
	for _, q := range qs {
		got[q.Backend+"/"+q.Queue] = q
	}
	if len(got) != 3 || !got["redis/lab"].Paused || got["redis/lab"].Unfinished != 1 || got["rabbitmq/lab"].Paused ||
		!got["nats/idle"].Paused || got["nats/idle"].Total != 0 {
		t.Errorf("Queues = %+v", qs)
	}
	for want := range []bool{true, false} {
		changed, err := s.ResumeQueue(ctx, "redis", "lab")
		if err != nil || changed != (want == 0) {
			t.Errorf("ResumeQueue #%d changed %v (%v), want %v", want+1, changed, err, want == 0)
		}
	}
	if p, _ := s.QueuePaused(ctx, "redis", "lab"); p {
		t.Error("redis/lab still paused after ResumeQueue")
	}
}

// testUniqueLocks: a key is held by the first mission that claims it
// until its time is up, then by the next; a released claim frees it.
func testUniqueLocks(t *testing.T, s *store.Store) {
	ctx := context.Background()
	claim := func(key, id string, at time.Time) (bool, string) {
		t.Helper()
		ok, holder, err := s.ClaimUnique(ctx, key, id, at, at.Add(time.Minute))
		must(t, "ClaimUnique", err)
		return ok, holder
	}
	if ok, _ := claim("k", "m1", t0); !ok {
		t.Fatal("the first claim of k failed")
	}
	// Keys are made of names with a separator between them.
	if ok, _ := claim("redis\x1fmissions\x1fraven\x1ffrodo", "m0", t0); !ok {
		t.Fatal("a key of joined names was refused")
	}
	if ok, holder := claim("k", "m2", t0.Add(59*time.Second)); ok || holder != "m1" {
		t.Errorf("a claim within the minute: %v held by %q, want refused, held by m1", ok, holder)
	}
	if ok, _ := claim("other", "m3", t0); !ok {
		t.Error("another key was refused")
	}
	if ok, _ := claim("k", "m4", t0.Add(time.Minute)); !ok {
		t.Error("a claim once the minute is up was refused")
	}
	must(t, "ReleaseUnique", s.ReleaseUnique(ctx, map[string]string{"k": "m4"}))
	if ok, _ := claim("k", "m5", t0.Add(61*time.Second)); !ok {
		t.Error("a released key was refused")
	}
	must(t, "ReleaseUnique of another holder", s.ReleaseUnique(ctx, map[string]string{"k": "m4"}))
	if ok, holder := claim("k", "m6", t0.Add(62*time.Second)); ok || holder != "m5" {
		t.Errorf("releasing m4's claim freed m5's: %v %q", ok, holder)
	}
}

// testDue: a mission launched for later is PENDING with its message kept
// until due; then one claimer at a time gets it, a claim that lapses (its
// claimer died) lets another take it, and once published it is gone.
func testDue(t *testing.T, s *store.Store) {
	ctx := context.Background()
	m := newMission("d-1", mission.Raven, "frodo")
	m.Backend, m.Queue = "redis", "lab"
	due := t0.Add(time.Minute)
	must(t, "CreateDelayed", s.CreateDelayed(ctx, []store.Mission{m}, [][]byte{[]byte(`{"id":"d-1"}`)}, due))
	if got := get(t, s, "d-1"); got.Status != mission.Pending || !got.DueAt.Equal(due) {
		t.Fatalf("a delayed mission is %s due %v, want PENDING due %v", got.Status, got.DueAt, due)
	}
	claim := func(at time.Time) []store.DueMessage {
		t.Helper()
		ds, err := s.ClaimDue(ctx, "redis", "lab", at, 30*time.Second, 100)
		must(t, "ClaimDue", err)
		return ds
	}
	if ds := claim(due.Add(-time.Second)); len(ds) != 0 {
		t.Errorf("claimed before it was due: %+v", ds)
	}
	if ds, err := s.ClaimDue(ctx, "redis", "other", due, 30*time.Second, 100); err != nil || len(ds) != 0 {
		t.Errorf("another queue claimed it: %+v %v", ds, err)
	}
	ds := claim(due)
	if len(ds) != 1 || ds[0].ID != "d-1" || string(ds[0].Body) != `{"id":"d-1"}` || ds[0].Status != mission.Pending {
		t.Fatalf("claim when due: %+v", ds)
	}
	if again := claim(due.Add(time.Second)); len(again) != 0 {
		t.Errorf("claimed twice within the claim: %+v", again)
	}
	if lapsed := claim(due.Add(31 * time.Second)); len(lapsed) != 1 {
		t.Errorf("a lapsed claim was not taken again: %+v", lapsed)
	}
	must(t, "DoneDue", s.DoneDue(ctx, []string{"d-1"}))
	if gone := claim(due.Add(time.Hour)); len(gone) != 0 {
		t.Errorf("claimed after DoneDue: %+v", gone)
	}
	if got := get(t, s, "d-1"); !got.DueAt.Equal(due) {
		t.Errorf("published, the mission says due %v, want %v still", got.DueAt, due)
	}
	must(t, "Create", s.CreateMissions(ctx, []store.Mission{newMission("d-2", mission.Raven, "frodo")}))
	if now := get(t, s, "d-2"); !now.DueAt.IsZero() {
		t.Errorf("a mission launched now says due %v", now.DueAt)
	}
}

// testKept: a launch's record is kept beside its missions until it is
// forgotten; one still there at its due time is claimed once (again once
// the claim lapses), with the ids and kinds it was given.
func testKept(t *testing.T, s *store.Store) {
	ctx := context.Background()
	var ms []store.Mission
	for _, id := range []string{"k-1", "k-2"} {
		m := newMission(id, mission.Raven, "frodo")
		m.Backend, m.Queue = "redis", "kept"
		ms = append(ms, m)
	}
	due := t0.Add(30 * time.Second)
	rec := store.KeptLaunch{ID: "k-1", IDs: []string{"k-1", "k-2"}, Kinds: `{"heist":{}}`}
	must(t, "CreateKept", s.CreateKept(ctx, ms, rec, due))
	if got := get(t, s, "k-2"); got.Status != mission.Pending || !got.DueAt.IsZero() {
		t.Fatalf("a kept launch's mission is %s due %v, want PENDING and no due time", got.Status, got.DueAt)
	}
	claim := func(at time.Time) []store.KeptLaunch {
		t.Helper()
		ks, err := s.ClaimKept(ctx, "redis", "kept", at, time.Minute, 10)
		must(t, "ClaimKept", err)
		return ks
	}
	if ks := claim(due.Add(-time.Second)); len(ks) != 0 {
		t.Errorf("claimed before due: %+v", ks)
	}
	if ks, err := s.ClaimKept(ctx, "redis", "other", due, time.Minute, 10); err != nil || len(ks) != 0 {
		t.Errorf("another queue claimed it: %+v %v", ks, err)
	}
	ks := claim(due)
	if len(ks) != 1 || ks[0].ID != "k-1" || strings.Join(ks[0].IDs, ",") != "k-1,k-2" || ks[0].Kinds != rec.Kinds {
		t.Fatalf("claim when due: %+v, want %+v", ks, rec)
	}
	if again := claim(due.Add(time.Second)); len(again) != 0 {
		t.Errorf("claimed twice within the claim: %+v", again)
	}
	if lapsed := claim(due.Add(61 * time.Second)); len(lapsed) != 1 {
		t.Errorf("a lapsed claim was not taken again: %+v", lapsed)
	}
	s.ForgetKept("k-1")
	s.Flush()
	if gone := claim(due.Add(time.Hour)); len(gone) != 0 {
		t.Errorf("claimed after ForgetKept: %+v", gone)
	}
}
