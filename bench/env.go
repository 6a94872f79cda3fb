package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/dispatch"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
	"github.com/palantir-lab/palantir/worker"
)

// benchStore is what the palantir phase needs of a store: the worker's
// part, and the launcher's.
type benchStore interface {
	worker.Store
	dispatch.Store
}

var _ benchStore = (*store.Store)(nil)

// env is what one backend's measurement runs on: its store and its queue,
// and how to put everything back afterwards.
type env struct {
	t      target
	store  string // the row's store (rowStore)
	st     benchStore
	events telemetry.Writer // nil with --store none
	q      backends.Queue
	closer []func()
}

// rowStore is the store of t's row: the one asked for, except that a
// queue kept in a SQLite file, named by name, runs on a temporary SQLite
// store of its own when the store asked for is of another kind, so that
// one run measures every backend.
func rowStore(asked string, t target) string {
	if t.backend.FromStore == nil || asked == "" || asked == StoreNone || strings.Contains(t.name, "://") {
		return asked
	}
	if _, err := t.backend.FromStore(asked); err == nil {
		return asked
	}
	if _, err := t.backend.FromStore("bench.db"); err == nil {
		return "" // a temporary SQLite file
	}
	return asked
}

// openEnv opens the store the options ask for and the backend's queue.
// Opening the queue first is also the reachability check: an unreachable
// broker fails here, within the few seconds the Opener contract allows.
func openEnv(ctx context.Context, o Options, t target) (e *env, err error) {
	e = &env{t: t}
	defer func() {
		if err != nil {
			e.close(ctx)
		}
	}()
	e.store = rowStore(o.Store, t)
	storeURL := e.store // what a queue in the store's database derives its URL from
	switch e.store {
	case StoreNone:
		storeURL = ""
		e.st = newMemStore()
	case "":
		dir, err := os.MkdirTemp("", "palantir-bench-")
		if err != nil {
			return e, fmt.Errorf("temporary store: %w", err)
		}
		e.closer = append(e.closer, func() { os.RemoveAll(dir) })
		storeURL = filepath.Join(dir, "bench.db")
		st, err := store.Open(ctx, storeURL)
		if err != nil {
			return e, err
		}
		e.closer = append(e.closer, func() { st.Close() })
		e.st, e.events = st, st
	default:
		st, err := store.Open(ctx, e.store)
		if err != nil {
			return e, err
		}
		e.closer = append(e.closer, func() { st.Close() })
		e.st, e.events = st, st
	}
	var book backends.DeadLetterBook
	if st, ok := e.st.(*store.Store); ok {
		book = st
	}
	if o.Store == StoreNone && t.backend.FromStore != nil && !strings.Contains(t.name, "://") {
		return e, fmt.Errorf("the %s backend keeps its queue in the store's database, and --store none has none: give it a store (the default temporary file, or --store URL)", t.backend.Name)
	}
	if e.t.url, err = t.backend.URLFor(t.name, o.URLs, storeURL); err != nil {
		return e, err
	}
	q, err := t.backend.Open(ctx, backends.Config{URL: e.t.url, Queue: t.queue, DeadLetters: book, Logger: o.Logger})
	if err != nil {
		return e, err
	}
	e.q = q
	return e, nil
}

// close removes the phase's queue from the broker, then releases the
// queue and the store (and deletes a temporary store) in reverse order.
func (e *env) close(ctx context.Context) {
	if e.q != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if d, ok := e.q.(backends.Destroyer); ok {
			_ = d.Destroy(cctx)
		} else {
			_, _ = e.q.Purge(cctx)
		}
		e.q.Close()
		cancel()
	}
	for i := len(e.closer) - 1; i >= 0; i-- {
		e.closer[i]()
	}
}

// memStore is the store of --store none: nothing is persisted, but a
// mission completed once is remembered, so that a second delivery is
// still recognised as a duplicate (and counted as one), as with a store.
// Safe for concurrent use.
type memStore struct {
	mu   sync.Mutex
	done map[string]bool
}

var _ benchStore = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{done: map[string]bool{}} }

func (m *memStore) BeginAttempt(_ context.Context, o mission.Order, _, _ string, _ int, _ string, _ time.Time) (store.Begin, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done[o.ID] {
		return store.AlreadySucceeded, nil
	}
	return store.Proceed, nil
}

func (m *memStore) Complete(_ context.Context, ms store.Mission, _ int, _ time.Time, _ store.Beside) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done[ms.ID] {
		return false, nil
	}
	m.done[ms.ID] = true
	return true, nil
}

func (m *memStore) Fail(context.Context, string, int, string, string, time.Time, store.Beside) (bool, error) {
	return true, nil
}

func (m *memStore) SetProgress(context.Context, string, int, int, string, time.Time) error {
	return nil
}
func (m *memStore) MarkRetry(context.Context, string, int, string, time.Time) error { return nil }
func (m *memStore) MarkRequeued(context.Context, string, int, time.Time) error      { return nil }
func (m *memStore) Heartbeat(context.Context, store.Worker) error                   { return nil }
func (m *memStore) CancelledOf(context.Context, []string) ([]string, error)         { return nil, nil }   // bench cancels nothing
func (m *memStore) QueuePaused(context.Context, string, string) (bool, error)       { return false, nil } // bench pauses nothing
func (m *memStore) CreateMissions(context.Context, []store.Mission) error           { return nil }
func (m *memStore) MarkQueued(context.Context, []string, time.Time) error           { return nil }
func (m *memStore) DeleteMissions(context.Context, []string) error                  { return nil }
func (m *memStore) Driver() string                                                  { return StoreNone }
