package ops_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/inproc"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// openStore opens a fresh SQLite store closed when the test ends.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "ops.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// launch stores and publishes n ravens on an inproc queue stamped at
// now, and returns their ids.
func launch(t *testing.T, st *store.Store, now time.Time, n int) []string {
	t.Helper()
	tel := telemetry.NewRecorder(st, nil)
	defer tel.Close()
	l := &ops.Launcher{Store: st, Queue: inproc.NewBroker().Open(backends.Config{Queue: "q"}), Telemetry: tel,
		Backend: "inproc", QueueName: "q", Source: telemetry.CLI(), Now: func() time.Time { return now }}
	var ids []string
	r := ops.LaunchRequest{Types: []string{"raven"}, Count: n, FailRate: 0, MaxAttempts: 1, Speed: 1, SeedSet: true}
	if err := l.Launch(context.Background(), r, func(chunk []string) error { ids = append(ids, chunk...); return nil }); err != nil {
		t.Fatal(err)
	}
	return ids
}
