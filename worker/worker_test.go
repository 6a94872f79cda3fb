package worker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/inproc"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
	"github.com/palantir-lab/palantir/worker"
)

type rig struct {
	t      testing.TB
	st     *store.Store
	broker *inproc.Broker
	queue  string
	tel    *telemetry.Recorder
}

const lease = 300 * time.Millisecond

func newRig(t testing.TB) *rig {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	tel := telemetry.NewRecorder(st, nil)
	t.Cleanup(func() { tel.Close(); st.Close() })
	return &rig{t: t, st: st, broker: inproc.NewBroker(), queue: "q-" + t.Name(), tel: tel}
}

func (r *rig) open() *inproc.Queue {
	q := r.broker.Open(backends.Config{Queue: r.queue, Lease: lease, DeadLetters: r.st})
	r.t.Cleanup(func() { q.Close() })
	return q
}

func (r *rig) order(id string, typ mission.Type, failRate float64, maxAttempts int) mission.Order {
	return mission.Order{ID: id, Type: typ, Hero: "samwise", FailRate: failRate, MaxAttempts: maxAttempts, Speed: 1000, Seed: 3, CreatedAt: time.Now()}
}

// launch creates and publishes orders as `palantir launch` does.
func (r *rig) launch(q backends.Publisher, orders ...mission.Order) {
	r.t.Helper()
	var ms []store.Mission
	var msgs []backends.Message
	for _, o := range orders {
		ms = append(ms, store.MissionFromOrder(o, "inproc", r.queue))
		body, _ := o.Encode()
		msgs = append(msgs, backends.Message{ID: o.ID, Body: body})
	}
	if err := r.st.CreateMissions(context.Background(), ms); err != nil {
		r.t.Fatal(err)
	}
	if err := q.Publish(context.Background(), msgs...); err != nil {
		r.t.Fatal(err)
	}
	var ids []string
	for _, o := range orders {
		ids = append(ids, o.ID)
	}
	if err := r.st.MarkQueued(context.Background(), ids, time.Now()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) worker(name string, sub backends.Subscriber, mut func(*worker.Config)) *worker.Worker {
	cfg := worker.Config{Name: name, Concurrency: 2, Lease: lease, ShutdownTimeout: time.Second,
		HeartbeatEvery: 50 * time.Millisecond, Backend: "inproc", Queue: r.queue}
	if mut != nil {
		mut(&cfg)
	}
	return worker.New(cfg, sub, r.st, r.tel)
}

// runUntil runs w until cond holds (checked every 20ms) or 10s pass.
func (r *rig) runUntil(w *worker.Worker, what string, cond func() bool) {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		r.t.Fatalf("worker: %v", err)
	}
}

func (r *rig) mission(id string) store.Mission {
	ms, err := r.st.Missions(context.Background(), []string{id})
	if err != nil || len(ms) != 1 {
		r.t.Fatalf("mission %s: %v (%d rows)", id, err, len(ms))
	}
	return ms[0]
}

func (r *rig) final(ids ...string) func() bool {
	return func() bool {
		for _, id := range ids {
			if !r.mission(id).Status.Final() {
				return false
			}
		}
		return true
	}
}

func (r *rig) eventNames(id string) []string {
	r.tel.Flush()
	evs, err := r.st.Events(context.Background(), store.EventFilter{MissionID: id})
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Name))
	}
	return out
}

func TestMissionsSucceedAndScore(t *testing.T) {
	r := newRig(t)
	q := r.open()
	r.launch(q, r.order("a", mission.Recon, 0, 3), r.order("b", mission.Raven, 0, 3))
	r.runUntil(r.worker("eagle1", q, nil), "both missions final", r.final("a", "b"))
	for _, id := range []string{"a", "b"} {
		m := r.mission(id)
		if m.Status != mission.Success || m.Attempt != 1 || m.Worker != "eagle1" || m.Score != mission.Score(m.Type, 1) {
			t.Errorf("%s: %+v", id, m)
		}
	}
	names := strings.Join(r.eventNames("a"), " ")
	for _, want := range []string{"mission_started", "mission_progress", "mission_completed", "mission_persisted", "hero_scored"} {
		if !strings.Contains(names, want) {
			t.Errorf("events of a lack %s: %s", want, names)
		}
	}
	ws, _ := r.st.Workers(context.Background(), time.Time{})
	if len(ws) != 1 || ws[0].StoppedAt.IsZero() || ws[0].Processed != 2 {
		t.Errorf("heartbeat rows: %+v", ws)
	}
}

// TestOutcomeEventsAreStoredWithTheOutcome gives the worker a recorder
// that never writes: the outcome's events must still be in the store,
// written in the outcome's own transaction, so that a worker killed just
// after its commit cannot leave a SUCCESS whose trace stops half way.
func TestOutcomeEventsAreStoredWithTheOutcome(t *testing.T) {
	r := newRig(t)
	q := r.open()
	r.launch(q, r.order("o", mission.Raven, 0, 3), r.order("f", mission.Raven, 1, 1))
	mute := telemetry.NewRecorder(nil, nil)
	defer mute.Close()
	w := worker.New(worker.Config{Name: "eagle1", Lease: lease, Backend: "inproc", Queue: r.queue}, q, r.st, mute)
	r.runUntil(w, "both missions final", r.final("o", "f"))
	for id, want := range map[string]string{
		"o": "mission_completed mission_persisted hero_scored",
		"f": "mission_failed mission_persisted",
	} {
		evs, err := r.st.Events(context.Background(), store.EventFilter{MissionID: id})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range evs {
			names = append(names, string(e.Name))
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("events of %s in the store: %q, want %q", id, got, want)
		}
	}
}

func TestSameMessageTwiceIsRecordedAndScoredOnce(t *testing.T) {
	r := newRig(t)
	q := r.open()
	o := r.order("dup", mission.Consult, 0, 3)
	r.launch(q, o)
	body, _ := o.Encode()
	if err := q.Publish(context.Background(), backends.Message{ID: o.ID, Body: body}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	results := map[worker.Result]int{}
	w := r.worker("eagle1", q, func(c *worker.Config) {
		c.Concurrency = 2
		c.Observe = func(o worker.Observation) {
			mu.Lock()
			results[o.Result]++
			mu.Unlock()
		}
	})
	r.runUntil(w, "both copies settled", func() bool { return w.Processed() == 2 })
	mu.Lock()
	if results[worker.Succeeded] != 1 || results[worker.Duplicate] != 1 {
		t.Errorf("observed %v, want one success and one duplicate", results)
	}
	mu.Unlock()
	board, _ := r.st.Leaderboard(context.Background())
	if len(board) != 1 || board[0].Missions != 1 || board[0].Points != mission.Score(mission.Consult, 1) {
		t.Errorf("leaderboard after a duplicate delivery: %+v, want one scored mission", board)
	}
	scored := strings.Count(strings.Join(r.eventNames("dup"), " "), "hero_scored")
	if scored != 1 {
		t.Errorf("hero_scored emitted %d times, want 1", scored)
	}
	if s, _ := q.Stats(context.Background()); s.Ready+s.InFlight+s.Delayed != 0 {
		t.Errorf("queue not empty after duplicate: %+v", s)
	}
}

func TestRetriesThenDeadLetters(t *testing.T) {
	r := newRig(t)
	q := r.open()
	r.launch(q, r.order("doomed", mission.Raven, 1, 2))
	r.runUntil(r.worker("eagle1", q, nil), "failure", r.final("doomed"))
	m := r.mission("doomed")
	if m.Status != mission.Failure || m.Attempt != 2 || !strings.Contains(m.Error, "orc ambush") {
		t.Errorf("doomed: %+v", m)
	}
	dead, _ := q.DeadLetters(context.Background(), 0)
	if len(dead) != 1 || dead[0].ID != "doomed" || !strings.Contains(dead[0].Reason, "failed after 2 attempts") {
		t.Errorf("dead letters: %+v", dead)
	}
	names := strings.Join(r.eventNames("doomed"), " ")
	for _, want := range []string{"mission_retry", "mission_queued", "mission_failed", "mission_persisted", "mission_dead_lettered"} {
		if !strings.Contains(names, want) {
			t.Errorf("events lack %s: %s", want, names)
		}
	}
	if strings.Contains(names, "hero_scored") {
		t.Error("a failed mission scored")
	}
}

func TestMalformedMessageIsDeadLetteredAndWorkerCarriesOn(t *testing.T) {
	r := newRig(t)
	q := r.open()
	if err := q.Publish(context.Background(), backends.Message{ID: "junk", Body: []byte("not json at all")}); err != nil {
		t.Fatal(err)
	}
	r.launch(q, r.order("good", mission.Raven, 0, 1))
	r.runUntil(r.worker("eagle1", q, nil), "the good mission", r.final("good"))
	if m := r.mission("good"); m.Status != mission.Success {
		t.Errorf("good mission after junk: %s", m.Status)
	}
	dead, _ := q.DeadLetters(context.Background(), 0)
	if len(dead) != 1 || dead[0].ID != "junk" || !strings.Contains(dead[0].Reason, "malformed") {
		t.Errorf("dead letters: %+v", dead)
	}
}

// blockingSleep holds every stage until release is closed.
func blockingSleep(started chan<- string, release <-chan struct{}) mission.Sleeper {
	var once sync.Once
	return func(ctx context.Context, d time.Duration) error {
		once.Do(func() { started <- "started" })
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func TestDeadWorkersMissionIsRedeliveredAndScoredOnce(t *testing.T) {
	r := newRig(t)
	doomedConn := r.open()
	r.launch(doomedConn, r.order("m", mission.Recon, 0, 3))

	started, release := make(chan string, 1), make(chan struct{})
	doomed := r.worker("doomed", doomedConn, func(c *worker.Config) {
		c.Sleep = blockingSleep(started, release)
		c.ShutdownTimeout = time.Minute
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- doomed.Run(ctx) }()
	<-started
	// The doomed worker's connection vanishes mid-mission, as on SIGKILL:
	// it can no longer extend its lease or settle.
	doomedConn.Close()

	r.runUntil(r.worker("survivor", r.open(), nil), "redelivered mission done", r.final("m"))
	close(release) // the zombie wakes up, finishes, and must not score again
	cancel()
	<-done
	m := r.mission("m")
	if m.Status != mission.Success || m.Worker != "survivor" {
		t.Errorf("mission after redelivery: %s by %s", m.Status, m.Worker)
	}
	board, _ := r.st.Leaderboard(context.Background())
	if len(board) != 1 || board[0].Missions != 1 {
		t.Errorf("leaderboard: %+v, want the mission scored once", board)
	}
	if !strings.Contains(fmt.Sprint(r.eventNames("m")), "mission_started") {
		t.Error("no mission_started event")
	}
}

func TestGracefulShutdownReturnsUnfinishedMissions(t *testing.T) {
	r := newRig(t)
	q := r.open()
	r.launch(q, r.order("long", mission.Recon, 0, 3))
	started, never := make(chan string, 1), make(chan struct{})
	w := r.worker("eagle1", q, func(c *worker.Config) {
		c.Sleep = blockingSleep(started, never)
		c.ShutdownTimeout = 100 * time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("worker did not stop after its shutdown timeout")
	}
	if m := r.mission("long"); m.Status != mission.Queued || m.Attempt != 1 {
		t.Errorf("after shutdown: %s attempt %d, want QUEUED attempt 1", m.Status, m.Attempt)
	}
	if s, _ := q.Stats(context.Background()); s.Ready != 1 {
		t.Errorf("queue after shutdown: %+v, want the mission ready again at once", s)
	}
	r.runUntil(r.worker("eagle2", q, nil), "mission finished by the next worker", r.final("long"))
}

func TestMaxMissionsStopsTheWorker(t *testing.T) {
	r := newRig(t)
	q := r.open()
	var orders []mission.Order
	for i := range 5 {
		orders = append(orders, r.order(fmt.Sprintf("n%d", i), mission.Raven, 0, 1))
	}
	r.launch(q, orders...)
	w := r.worker("eagle1", q, func(c *worker.Config) { c.MaxMissions = 3 })
	r.runToItsEnd(w, "worker with --max-missions 3")
	if w.Processed() != 3 {
		t.Errorf("processed %d, want 3", w.Processed())
	}
	if s, _ := q.Stats(context.Background()); s.Ready != 2 {
		t.Errorf("left in queue: %+v, want 2 ready", s)
	}
}

func TestPrefetchHoldsMoreThanItExecutes(t *testing.T) {
	r := newRig(t)
	q := r.open()
	r.launch(q, r.order("p1", mission.Recon, 0, 3), r.order("p2", mission.Recon, 0, 3), r.order("p3", mission.Recon, 0, 3))
	var mu sync.Mutex
	running, most := 0, 0
	never := make(chan struct{})
	w := r.worker("eagle1", q, func(c *worker.Config) {
		c.Concurrency, c.Prefetch = 1, 3
		c.ShutdownTimeout = 100 * time.Millisecond
		c.Sleep = func(ctx context.Context, _ time.Duration) error {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			defer func() { mu.Lock(); running--; mu.Unlock() }()
			select {
			case <-never:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, _ := q.Stats(context.Background())
		if s.InFlight == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %+v: want all 3 missions held by the worker (prefetch 3)", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // give a wrongly started second mission time to show
	inStore := 0
	for _, id := range []string{"p1", "p2", "p3"} {
		switch m := r.mission(id); m.Status {
		case mission.Started, mission.Processing:
			inStore++
		case mission.Queued:
			if !m.StartedAt.IsZero() {
				t.Errorf("%s is QUEUED but has started_at %v", id, m.StartedAt)
			}
		default:
			t.Errorf("%s is %s while held", id, m.Status)
		}
	}
	if inStore != 1 {
		t.Errorf("%d missions STARTED or PROCESSING in the store, want 1: held ones stay QUEUED", inStore)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if most != 1 {
		t.Errorf("%d missions executed at once, want 1 (concurrency 1)", most)
	}
	if s, _ := q.Stats(context.Background()); s.Ready != 3 {
		t.Errorf("after shutdown: %+v, want all 3 back in the queue", s)
	}
	started := 0
	for _, id := range []string{"p1", "p2", "p3"} {
		if strings.Contains(fmt.Sprint(r.eventNames(id)), "mission_started") {
			started++
		}
		if m := r.mission(id); m.Status != mission.Queued {
			t.Errorf("%s after shutdown: %s, want QUEUED", id, m.Status)
		}
	}
	if started != 1 {
		t.Errorf("%d missions have a mission_started event, want 1: the waiting ones never ran", started)
	}
}

// refusing fails the first n Subscribe calls with ErrUnreachable, as
// Redis at maxmemory refuses to create a consumer group.
type refusing struct {
	backends.Subscriber
	mu sync.Mutex
	n  int
}

func (s *refusing) Subscribe(ctx context.Context, o backends.ConsumerOptions) (backends.Consumer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n > 0 {
		s.n--
		return nil, fmt.Errorf("create group: %w: OOM", backends.ErrUnreachable)
	}
	return s.Subscriber.Subscribe(ctx, o)
}

// TestWorkerWaitsForABrokerThatCannotTakeItsConsumer: a broker that
// answers but cannot take the consumer yet is waited for, said each try;
// stopped meanwhile, the worker returns no error.
func TestWorkerWaitsForABrokerThatCannotTakeItsConsumer(t *testing.T) {
	r := newRig(t)
	q := r.open()
	r.launch(q, r.order("w1", mission.Raven, 0, 3))
	var said []time.Duration
	w := r.worker("patient", &refusing{Subscriber: q, n: 2}, func(c *worker.Config) {
		c.OnBrokerError = func(err error, in time.Duration) { said = append(said, in) }
	})
	r.runUntil(w, "the mission done once the broker takes the consumer", r.final("w1"))
	if fmt.Sprint(said) != "[500ms 1s]" {
		t.Errorf("told of the refusals with delays %v, want [500ms 1s]", said)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := r.worker("stopped", &refusing{Subscriber: q, n: 1000}, nil).Run(ctx); err != nil {
		t.Errorf("stopped while waiting for the broker: %v, want nil", err)
	}
}

// runToItsEnd runs w until it stops by itself (MaxMissions), or fails the
// test after 10 s.
func (r *rig) runToItsEnd(w *worker.Worker, what string) {
	r.t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			r.t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		r.t.Fatalf("%s did not stop by itself: %d handled", what, w.Processed())
	}
}
