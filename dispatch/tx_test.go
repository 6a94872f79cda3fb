package dispatch_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/postgres"
	"github.com/palantir-lab/palantir/backends/sqlite"
	"github.com/palantir-lab/palantir/dispatch"
	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// oneFile is a store and a queue kept in the same SQLite file.
func oneFile(t *testing.T) (*store.Store, backends.Queue, *telemetry.Recorder) {
	path := filepath.Join(t.TempDir(), "one.db")
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqlite.Open(context.Background(), backends.Config{URL: path, Queue: "q", MaxMessageBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	tel := telemetry.NewRecorder(st, nil)
	t.Cleanup(func() { tel.Close(); q.Close(); st.Close() })
	return st, q, tel
}

// When the queue lives in the store's database, the missions' rows and
// their messages are one transaction: both, already QUEUED, or neither.
func TestLaunchIntoTheStoresDatabaseIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	st, q, tel := oneFile(t)
	if st.Shares(ctx, q) == nil {
		t.Fatal("the store does not see that the queue is in its file")
	}
	d := &dispatch.Dispatcher{Store: oneStep{st, t}, Queue: q, Telemetry: tel, Backend: "sqlite", QueueName: "q"}
	if err := d.Publish(ctx, orders("a", "b"), nil); err != nil {
		t.Fatal(err)
	}
	ms, _ := st.Missions(ctx, []string{"a", "b"})
	if len(ms) != 2 || ms[0].Status != mission.Queued || ms[1].Status != mission.Queued || ms[0].QueuedAt.IsZero() {
		t.Fatalf("missions after dispatch: %+v, want both QUEUED with a queued time", ms)
	}
	if s, _ := q.Stats(ctx); s.Ready != 2 {
		t.Fatalf("ready %d, want 2", s.Ready)
	}
	tel.Flush()
	evs, _ := st.Events(ctx, store.EventFilter{MissionID: "a"})
	if len(evs) != 2 || evs[0].Name != telemetry.MissionInvoked || evs[1].Name != telemetry.MissionQueued {
		t.Errorf("events of a: %+v, want invoked then queued", evs)
	}

	// One message over the limit: the broker part fails, and the rows
	// of the batch go with it, in the same rollback.
	big := orders("c", "d")
	err := d.Publish(ctx, big, [][]byte{nil, []byte(strings.Repeat("x", 2048))})
	if !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if n, _ := st.CountMissions(ctx); n != 2 {
		t.Errorf("%d missions after the refused batch, want the first 2 only", n)
	}
	if s, _ := q.Stats(ctx); s.Ready != 2 {
		t.Errorf("ready %d after the refused batch, want 2", s.Ready)
	}
}

// oneStep fails the test if the dispatcher takes the two-step path
// (create PENDING, publish, mark QUEUED or delete).
type oneStep struct {
	*store.Store
	t *testing.T
}

func (o oneStep) CreateMissions(context.Context, []store.Mission) error {
	o.t.Error("CreateMissions called: the rows were written apart from the messages")
	return errors.New("two-step path")
}

func (o oneStep) MarkQueued(context.Context, []string, time.Time) error {
	o.t.Error("MarkQueued called: the missions were PENDING for a while")
	return nil
}

func (o oneStep) DeleteMissions(context.Context, []string) error {
	o.t.Error("DeleteMissions called: a refused publish left rows to remove")
	return nil
}

// A PostgreSQL store shares its own database with a postgres queue, and
// not another database of the same server: launching into that one is
// the two-step path.
func TestStoreSharesOnlyItsOwnPostgresDatabase(t *testing.T) {
	ctx := context.Background()
	url := testservices.PostgresDB(t)
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The same database, but a search_path that puts the queue's tables
	// in another schema: the store's transaction would reach a table no
	// worker reads (a new user's review found launch --wait stuck there).
	plain, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.ExecContext(ctx, `CREATE SCHEMA qschema`); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, tc := range []struct {
		name, url string
		shared    bool
	}{
		{"its own database", url, true},
		{"another database", testservices.PostgresDB(t), false},
		{"its database, another schema", url + sep + "search_path=qschema", false},
	} {
		q, err := postgres.Open(ctx, backends.Config{URL: tc.url, Queue: "q"})
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Shares(ctx, q) != nil; got != tc.shared {
			t.Errorf("%s: Shares = %v, want %v", tc.name, got, tc.shared)
		}
		q.Close()
	}
}
