package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/worker"
)

// faultyStore is the real store behind a switch: while down, every write
// a worker makes fails as an unreachable server's would; refuse makes
// BeginAttempt fail as a store refusing the row would.
type faultyStore struct {
	*store.Store
	down   atomic.Bool
	refuse atomic.Bool
	calls  atomic.Int64 // writes tried while down
}

var errDown = fmt.Errorf("dial tcp 127.0.0.1:5432: %w", syscall.ECONNREFUSED)

func (f *faultyStore) check() error {
	if f.down.Load() {
		f.calls.Add(1)
		return errDown
	}
	return nil
}

func (f *faultyStore) BeginAttempt(ctx context.Context, o mission.Order, backend, queue string, attempt int, w string, at time.Time) (store.Begin, error) {
	if f.refuse.Load() {
		return 0, fmt.Errorf("begin %s: %w: value too long for type character varying(64)", o.ID, store.ErrRejected)
	}
	if err := f.check(); err != nil {
		return 0, err
	}
	return f.Store.BeginAttempt(ctx, o, backend, queue, attempt, w, at)
}

func (f *faultyStore) SetProgress(ctx context.Context, id string, attempt, progress int, stage string, at time.Time) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.SetProgress(ctx, id, attempt, progress, stage, at)
}

func (f *faultyStore) Complete(ctx context.Context, m store.Mission, points int, at time.Time, evs store.Beside) (bool, error) {
	if err := f.check(); err != nil {
		return false, err
	}
	return f.Store.Complete(ctx, m, points, at, evs)
}

func (f *faultyStore) Fail(ctx context.Context, id string, attempt int, w, reason string, at time.Time, evs store.Beside) (bool, error) {
	if err := f.check(); err != nil {
		return false, err
	}
	return f.Store.Fail(ctx, id, attempt, w, reason, at, evs)
}

func (f *faultyStore) Heartbeat(ctx context.Context, hb store.Worker) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.Heartbeat(ctx, hb)
}

func (f *faultyStore) CancelledOf(ctx context.Context, ids []string) ([]string, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.CancelledOf(ctx, ids)
}

func (f *faultyStore) QueuePaused(ctx context.Context, backend, queue string) (bool, error) {
	if err := f.check(); err != nil {
		return false, err
	}
	return f.Store.QueuePaused(ctx, backend, queue)
}

// lines is a concurrency-safe log sink.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// A store outage is waited out: the worker takes no new deliveries, holds
// the ones it has without settling them, retries with a growing delay,
// says so once when the store goes and once when it is back, and then
// finishes every mission once. Before, each failed write released the
// delivery at once: thousands of receive/release cycles a second.
func TestStoreOutageIsWaitedOutWithoutAHotLoop(t *testing.T) {
	r := newRig(t)
	q := r.open()
	var orders []mission.Order
	var ids []string
	for i := range 6 {
		o := r.order(fmt.Sprintf("o%d", i), mission.Raven, 0, 1)
		orders, ids = append(orders, o), append(ids, o.ID)
	}
	fs := &faultyStore{Store: r.st}
	fs.down.Store(true)
	r.launch(q, orders...)
	var released atomic.Int64
	var log lines
	w := worker.New(worker.Config{Name: "eagle1", Concurrency: 2, Lease: lease, ShutdownTimeout: time.Second,
		HeartbeatEvery: 50 * time.Millisecond, Backend: "inproc", Queue: r.queue,
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
		Observe: func(o worker.Observation) {
			if o.Result == worker.Released || o.Result == worker.NotSettled {
				released.Add(1)
			}
		}}, q, fs, r.tel)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	time.Sleep(1500 * time.Millisecond)
	calls := fs.calls.Load()
	fs.down.Store(false)
	deadline := time.Now().Add(15 * time.Second)
	for !r.final(ids...)() {
		if time.Now().After(deadline) {
			t.Fatalf("missions not finished 15s after the store came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls > 60 {
		t.Errorf("%d store writes tried during a 1.5s outage: a hot loop", calls)
	}
	if n := released.Load(); n != 0 {
		t.Errorf("%d deliveries given back during the outage, want 0 (held until the store answers)", n)
	}
	out := log.String()
	if n := strings.Count(out, "\n"); n > 6 {
		t.Errorf("%d log lines for one outage, want it said once going down and once coming back:\n%s", n, out)
	}
	for _, want := range []string{"store does not answer", "store answers again"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	board, _ := r.st.Leaderboard(context.Background())
	if len(board) != 1 || board[0].Missions != len(ids) {
		t.Errorf("leaderboard %+v, want %d missions scored once each", board, len(ids))
	}
}

// A store that refuses the row itself will refuse it again: the message
// goes to the dead letters with the store's reason, and the worker carries
// on.
func TestStoreRefusalDeadLettersTheMessage(t *testing.T) {
	r := newRig(t)
	q := r.open()
	fs := &faultyStore{Store: r.st}
	fs.refuse.Store(true)
	r.launch(q, r.order("refused", mission.Raven, 0, 1))
	w := worker.New(worker.Config{Name: "eagle1", Concurrency: 1, Lease: lease, ShutdownTimeout: time.Second,
		HeartbeatEvery: 50 * time.Millisecond, Backend: "inproc", Queue: r.queue}, q, fs, r.tel)
	r.runUntil(w, "the refused mission dead-lettered", func() bool {
		dead, _ := q.DeadLetters(context.Background(), 0)
		return len(dead) == 1
	})
	dead, _ := q.DeadLetters(context.Background(), 0)
	if !strings.Contains(dead[0].Reason, "value too long") {
		t.Errorf("dead letter reason %q lacks the store's", dead[0].Reason)
	}
	if s, _ := q.Stats(context.Background()); s.Ready+s.InFlight != 0 {
		t.Errorf("queue %+v, want it empty", s)
	}
}

// An order over the size limit is dead-lettered unread; a message
// delivered more often than the limit without an outcome (it crashes
// every worker that takes it) is dead-lettered with that reason.
func TestLimitsDeadLetterAtConsume(t *testing.T) {
	r := newRig(t)
	q := r.open()
	big := r.order("big", mission.Raven, 0, 1)
	big.Pad = strings.Repeat("x", 2000)
	body, _ := big.Encode()
	if err := q.Publish(context.Background(), backends.Message{ID: "big", Body: body}); err != nil {
		t.Fatal(err)
	}
	r.launch(q, r.order("crasher", mission.Raven, 0, 1))
	// The crasher's first two deliveries die with their consumer (which
	// holds whatever else it took until then).
	for range 2 {
		conn := r.open()
		c, _ := conn.Subscribe(context.Background(), backends.ConsumerOptions{Name: "doomed"})
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			d, err := c.Receive(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if d.Received().ID == "crasher" {
				break
			}
		}
		conn.Close()
	}
	var ran atomic.Bool
	w := r.worker("eagle1", r.open(), func(c *worker.Config) {
		c.MaxMessageBytes, c.MaxDeliveries = 1024, 2
		c.Sleep = func(context.Context, time.Duration) error { ran.Store(true); return nil }
	})
	r.runUntil(w, "both dead-lettered", func() bool {
		dead, _ := q.DeadLetters(context.Background(), 0)
		return len(dead) == 2
	})
	dead, _ := q.DeadLetters(context.Background(), 0)
	reasons := map[string]string{}
	for _, d := range dead {
		reasons[d.ID] = d.Reason
	}
	if !strings.Contains(reasons["big"], "over the limit of 1024") {
		t.Errorf("big: reason %q", reasons["big"])
	}
	if !strings.Contains(reasons["crasher"], "delivered 3 times without an outcome") {
		t.Errorf("crasher: reason %q", reasons["crasher"])
	}
	if ran.Load() {
		t.Error("a mission over a limit was executed")
	}
	if m := r.mission("crasher"); m.Status != mission.Failure || !strings.Contains(m.Error, "without an outcome") {
		t.Errorf("crasher in the store: %s %q, want FAILURE with the reason", m.Status, m.Error)
	}
}

// stealable hands out deliveries whose lease can be taken away: once
// stolen, Extend and every settlement say ErrLeaseLost, as a backend does
// when the lease lapsed and another consumer took the message.
type stealable struct {
	backends.Subscriber
	stolen atomic.Bool
}

func (s *stealable) Subscribe(ctx context.Context, o backends.ConsumerOptions) (backends.Consumer, error) {
	c, err := s.Subscriber.Subscribe(ctx, o)
	return stealConsumer{Consumer: c, s: s}, err
}

type stealConsumer struct {
	backends.Consumer
	s *stealable
}

func (c stealConsumer) Receive(ctx context.Context) (backends.Delivery, error) {
	d, err := c.Consumer.Receive(ctx)
	if err != nil {
		return nil, err
	}
	return stealDelivery{Delivery: d, s: c.s}, nil
}

type stealDelivery struct {
	backends.Delivery
	s *stealable
}

func (d stealDelivery) Extend(ctx context.Context) error {
	if d.s.stolen.Load() {
		return backends.ErrLeaseLost
	}
	return d.Delivery.Extend(ctx)
}

// A worker whose lease was lost stops the stale copy at once: it neither
// keeps extending nor finishes work that now belongs to another worker.
func TestLostLeaseStopsTheStaleCopy(t *testing.T) {
	r := newRig(t)
	q := r.open()
	r.launch(q, r.order("m", mission.Recon, 0, 3))
	sub := &stealable{Subscriber: q}
	started, never := make(chan string, 1), make(chan struct{})
	var results sync.Map
	w := r.worker("zombie", sub, func(c *worker.Config) {
		c.Sleep = blockingSleep(started, never)
		c.ShutdownTimeout = time.Minute
		c.Observe = func(o worker.Observation) { results.Store(o.Received.ID, o.Result) }
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-started
	sub.stolen.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if res, ok := results.Load("m"); ok {
			if res != worker.NotSettled {
				t.Errorf("stale copy ended %v, want %v", res, worker.NotSettled)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stale copy still runs 5s after its lease was lost")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := r.mission("m"); m.Status.Final() {
		t.Errorf("the stale copy recorded %s", m.Status)
	}
	cancel()
	<-done
}

// hangingStore answers nothing while hung: each write waits until its
// context ends, as on a connection black-holed by the network.
type hangingStore struct {
	*store.Store
	hung atomic.Bool
}

func (h *hangingStore) Complete(ctx context.Context, m store.Mission, points int, at time.Time, evs store.Beside) (bool, error) {
	if h.hung.Load() {
		<-ctx.Done()
		return false, ctx.Err()
	}
	return h.Store.Complete(ctx, m, points, at, evs)
}

// A store that stops answering without an error (a half-open connection)
// is noticed after StoreTimeout rather than waited on for ever: the worker
// says so, retries, and finishes the mission once the store answers.
func TestHungStoreWriteTimesOutAndIsRetried(t *testing.T) {
	r := newRig(t)
	q := r.open()
	hs := &hangingStore{Store: r.st}
	hs.hung.Store(true)
	r.launch(q, r.order("h", mission.Raven, 0, 1))
	var log lines
	w := worker.New(worker.Config{Name: "eagle1", Concurrency: 1, Lease: lease, ShutdownTimeout: time.Second,
		HeartbeatEvery: 50 * time.Millisecond, Backend: "inproc", Queue: r.queue, StoreTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&log, nil))}, q, hs, r.tel)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "store does not answer") {
		if time.Now().After(deadline) {
			t.Fatalf("a hung store write was never given up on:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	hs.hung.Store(false)
	for !r.final("h")() {
		if time.Now().After(deadline) {
			t.Fatal("mission not finished after the store answered again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if m := r.mission("h"); m.Status != mission.Success {
		t.Errorf("mission %s", m.Status)
	}
}

// progressLiar writes progress asynchronously, as the real store does: its
// SetProgress returns nil whatever becomes of the write, so it proves
// nothing about the store being back.
type progressLiar struct{ *faultyStore }

func (p progressLiar) SetProgress(context.Context, string, int, int, string, time.Time) error {
	return nil
}

// An outage is said once however many progress steps a running mission
// takes meanwhile: an asynchronous write's nil is not an answer from the
// store. (Each step said "store answers again" and let new work in.)
func TestProgressDuringAnOutageDoesNotEndIt(t *testing.T) {
	r := newRig(t)
	q := r.open()
	fs := &faultyStore{Store: r.st}
	r.launch(q, r.order("long", mission.Recon, 0, 1))
	started := make(chan string, 1)
	var once sync.Once
	var log lines
	w := worker.New(worker.Config{Name: "eagle1", Concurrency: 1, Lease: lease, ShutdownTimeout: time.Second,
		HeartbeatEvery: 50 * time.Millisecond, Backend: "inproc", Queue: r.queue,
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
		Sleep: func(ctx context.Context, d time.Duration) error {
			once.Do(func() { started <- "started" })
			return mission.Sleep(ctx, 150*time.Millisecond)
		}}, q, progressLiar{fs}, r.tel)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-started
	fs.down.Store(true)
	time.Sleep(time.Second) // the mission's stages pass, its Complete fails
	if n := strings.Count(log.String(), "store answers again"); n != 0 {
		t.Errorf("said the store was back %d times while it was down:\n%s", n, log.String())
	}
	fs.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for !r.final("long")() {
		if time.Now().After(deadline) {
			t.Fatal("mission not finished after the store came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}
