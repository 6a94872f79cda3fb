package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/store"
)

// StatusRow is one row of the status summary.
type StatusRow struct {
	Group  string         `json:"group"` // type, worker, queue, live_worker
	Key    string         `json:"key"`
	Counts map[string]int `json:"counts,omitempty"`
	Total  int            `json:"total,omitempty"`

	Backend string `json:"backend,omitempty"`
	// Queues: a live worker's queues, as its --queue gave them (a, or
	// a,b and a=3,b=1 for a worker of several).
	Queues      string `json:"queues,omitempty"`
	Ready       *int64 `json:"ready,omitempty"`
	InFlight    *int64 `json:"in_flight,omitempty"`
	Delayed     *int64 `json:"delayed,omitempty"`
	DeadLetters *int64 `json:"dead_letters,omitempty"`
	Error       string `json:"error,omitempty"`
	// Missing: the broker has no such queue (its counts are zeros).
	Missing bool `json:"missing,omitempty"`
	// Paused: `palantir queue pause` paused it; its workers take nothing new.
	Paused bool `json:"paused,omitempty"`

	HeartbeatAt *time.Time `json:"heartbeat_at,omitempty"`
	Current     []string   `json:"current,omitempty"`
	Processed   *int64     `json:"processed,omitempty"`
	Host        string     `json:"host,omitempty"`
	PID         int        `json:"pid,omitempty"`

	// QueueErr is why the queue row has no figures (not encoded).
	QueueErr error `json:"-"`
}

// LiveWindow: a worker silent for longer is not listed as live.
const LiveWindow = 10 * time.Second

// Summary is what `palantir status` shows without ids: missions by state
// per type and per worker, the queue's figures, and the live workers of
// this backend's queue as of now. stats asks the broker; when it fails, the
// queue row carries the error, since the store's half is still worth
// showing.
//
// With scoped, the type and worker rows count backend's queue's missions
// alone (status --backend/--queue), else every mission in the store.
func Summary(ctx context.Context, st *store.Store, now time.Time, backend, queue string, scoped bool, stats func(context.Context) (backends.Stats, error)) ([]StatusRow, error) {
	var rows []StatusRow
	var in store.Scope
	if scoped {
		in = store.Scope{Backend: backend, Queue: queue}
	}
	for _, group := range []string{"type", "worker"} {
		counted, err := countRows(ctx, st, group, in)
		if err != nil {
			return nil, err
		}
		rows = append(rows, counted...)
	}
	qr := queueRow(ctx, backend, queue, stats)
	var err error
	if qr.Paused, err = st.QueuePaused(ctx, backend, queue); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	rows = append(rows, qr)
	workers, err := LiveWorkers(ctx, st, now, backend, queue) // this summary is about the current backend's queue
	if err != nil {
		return nil, err
	}
	for _, w := range workers {
		hb, processed := w.HeartbeatAt.UTC(), w.Processed
		r := StatusRow{Group: "live_worker", Key: w.Name, Backend: w.Backend, Queues: w.Queue, HeartbeatAt: &hb, Processed: &processed,
			Host: w.Host, PID: w.PID, Current: []string{}}
		if w.Current != "" {
			r.Current = strings.Split(w.Current, ",")
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// LiveWorkers are the workers of backend's queue that beat within
// LiveWindow before now and have not said they stopped: what status lists,
// what the dashboard draws, and what a waiting launch looks for.
func LiveWorkers(ctx context.Context, st *store.Store, now time.Time, backend, queue string) ([]store.Worker, error) {
	all, err := st.Workers(ctx, now.Add(-LiveWindow))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var live []store.Worker
	for _, w := range all {
		if w.StoppedAt.IsZero() && w.Backend == backend && Consumes(w.Queue, queue) {
			live = append(live, w)
		}
	}
	return live, nil
}

// Consumes reports whether a worker whose heartbeat names its queues
// list ("a", or "a,b" and "a=3,b=1" for a worker of several) takes
// queue's missions.
func Consumes(list, queue string) bool {
	for part := range strings.SplitSeq(list, ",") {
		if name, _, _ := strings.Cut(part, "="); name == queue {
			return true
		}
	}
	return false
}

// Namesakes are the live workers (beating within LiveWindow before now,
// not stopped) named name, on any backend or queue, other than process pid
// on host itself: a worker starting under name would be mixed up with them
// in status and history.
func Namesakes(ctx context.Context, st *store.Store, now time.Time, name, host string, pid int) ([]store.Worker, error) {
	all, err := st.Workers(ctx, now.Add(-LiveWindow))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var out []store.Worker
	for _, w := range all {
		if w.Name == name && w.StoppedAt.IsZero() && (w.PID != pid || w.Host != host) {
			out = append(out, w)
		}
	}
	return out, nil
}

func countRows(ctx context.Context, st *store.Store, group string, in store.Scope) ([]StatusRow, error) {
	counts, err := st.CountsBy(ctx, group, in)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	byKey := map[string]*StatusRow{}
	var order []string
	for _, c := range counts {
		key := c.Key
		if group == "worker" && key == "" {
			key = "(none yet)"
		}
		r, ok := byKey[key]
		if !ok {
			r = &StatusRow{Group: group, Key: key, Counts: map[string]int{}}
			byKey[key] = r
			order = append(order, key)
		}
		r.Counts[c.Status] += c.N
		r.Total += c.N
	}
	rows := make([]StatusRow, 0, len(order))
	for _, k := range order {
		rows = append(rows, *byKey[k])
	}
	return rows, nil
}

func queueRow(ctx context.Context, backend, queue string, stats func(context.Context) (backends.Stats, error)) StatusRow {
	r := StatusRow{Group: "queue", Key: queue, Backend: backend}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := stats(qctx)
	if errors.Is(err, backends.ErrNoQueue) {
		// A queue that does not exist holds nothing: scripts read zeros
		// (lab 6 reads a Redis restarted without persistence so), and
		// missing says why.
		r.Missing, r.QueueErr = true, err
		var zero backends.Stats
		s, err = zero, nil
	}
	if err != nil {
		r.Error, r.QueueErr = err.Error(), err
		return r
	}
	r.Ready, r.InFlight, r.Delayed, r.DeadLetters = &s.Ready, &s.InFlight, &s.Delayed, &s.DeadLetters
	return r
}
