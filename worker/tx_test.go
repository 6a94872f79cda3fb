package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/sqlite"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/worker"
)

// diesAfterCommit is a store whose process loses its queue connection
// right after an outcome commits, before the worker acks: the window in
// which a broker's message outlives a recorded outcome.
type diesAfterCommit struct {
	*store.Store
	q backends.Queue
}

func (s diesAfterCommit) Complete(ctx context.Context, m store.Mission, points int, at time.Time, b store.Beside) (bool, error) {
	ok, err := s.Store.Complete(ctx, m, points, at, b)
	s.q.Close()
	return ok, err
}

// twoCommits hides the store's Shares: the worker settles after the
// commit, as it must with a broker.
type twoCommits struct{ worker.Store }

// When the queue lives in the store's database, an outcome and its ack
// are one transaction: a worker that loses its queue right after the
// commit leaves nothing to be delivered again. With two commits (as with
// a broker), the same loss is a redelivery, which the store recognises
// as a duplicate; both score once.
func TestOutcomeAndAckCommitTogetherWhenTheQueueIsInTheStore(t *testing.T) {
	for _, tc := range []struct {
		name        string
		inTx        bool
		redelivered bool
	}{
		{"one transaction", true, false},
		{"two commits", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "one.db")
			st, err := store.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			open := func() backends.Queue {
				q, err := sqlite.Open(ctx, backends.Config{URL: path, Queue: "q", Lease: lease})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { q.Close() })
				return q
			}
			q := open()
			o := mission.Order{ID: "m1", Type: mission.Raven, Hero: "samwise", MaxAttempts: 3, Speed: 1000, Seed: 3, CreatedAt: time.Now()}
			body, _ := o.Encode()
			if err := st.CreateMissions(ctx, []store.Mission{store.MissionFromOrder(o, "sqlite", "q")}); err != nil {
				t.Fatal(err)
			}
			if err := q.Publish(ctx, backends.Message{ID: o.ID, Body: body}); err != nil {
				t.Fatal(err)
			}

			var ws worker.Store = diesAfterCommit{st, q}
			if !tc.inTx {
				ws = twoCommits{ws}
			}
			var logs lines
			w := worker.New(worker.Config{Name: "w", Lease: lease, ShutdownTimeout: time.Second, Backend: "sqlite", Queue: "q",
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}, q, ws, nil)
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- w.Run(runCtx) }()
			deadline := time.Now().Add(10 * time.Second)
			for {
				ms, _ := st.Missions(ctx, []string{o.ID})
				if len(ms) == 1 && ms[0].Status == mission.Success {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the mission never succeeded")
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			<-done
			said := strings.Contains(logs.String(), "each outcome commits with its ack in one transaction")
			if said != tc.inTx {
				t.Errorf("worker said it settles in the store's transaction: %v, want %v; log:\n%s", said, tc.inTx, logs.String())
			}

			// Another process looks after the lease has run out.
			c, err := open().Subscribe(ctx, backends.ConsumerOptions{Name: "next"})
			if err != nil {
				t.Fatal(err)
			}
			rc, cancel := context.WithTimeout(ctx, 3*lease+time.Second)
			defer cancel()
			d, err := c.Receive(rc)
			if got := err == nil; got != tc.redelivered {
				t.Fatalf("message delivered again after the outcome committed: %v (err %v), want %v", got, err, tc.redelivered)
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Receive: %v", err)
			}
			if d != nil {
				d.Ack(ctx)
			}
			if n, err := st.Leaderboard(ctx); err != nil || len(n) != 1 || n[0].Missions != 1 {
				t.Errorf("leaderboard %+v (%v), want samwise scored once", n, err)
			}
		})
	}
}
