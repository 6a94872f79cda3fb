package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/store/storetest"
)

func openT(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store {
		return openT(t, filepath.Join(t.TempDir(), "p.db"))
	})
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store {
		return openT(t, testservices.PostgresDB(t))
	})
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, url string
		want      error
	}{
		{"unknown scheme", "mysql://root@localhost/db", store.ErrBadURL},
		{"unreachable postgres", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2", store.ErrUnreachable},
		{"unwritable sqlite", "/proc/nope/palantir.db", store.ErrUnreachable},
		{"postgres without ://", "postgres//u:hunter2@127.0.0.1/db", store.ErrBadURL},
		{"postgres with one slash", "postgresql:/u:hunter2@127.0.0.1/db", store.ErrBadURL},
		{"key=value DSN", "host=127.0.0.1 user=u password=hunter2 dbname=d", store.ErrBadURL},
		{"bad sslmode", "postgres://u:hunter2@127.0.0.1/db?sslmode=bogus", store.ErrBadURL},
		{"bad connect_timeout", "postgres://u:hunter2@127.0.0.1/db?connect_timeout=abc", store.ErrBadURL},
		{"unknown scheme with a password", "mysql://root:hunter2@localhost/db", store.ErrBadURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.Open(context.Background(), tt.url)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestSQLiteCheckpointsBesideTheWriter checks that the write-ahead log is
// copied back into the database while the store is open, not only when
// the log passes SQLite's 1000-page mark inside some unlucky commit.
func TestSQLiteCheckpointsBesideTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s := openT(t, path)
	ctx := context.Background()
	var ms []store.Mission
	for i := range 50 {
		o := mission.Order{ID: fmt.Sprintf("c%02d", i), Type: mission.Raven, Hero: "frodo", MaxAttempts: 3, Speed: 1, CreatedAt: time.Now()}
		ms = append(ms, store.MissionFromOrder(o, "inproc", "q"))
	}
	for _, m := range ms { // 50 small commits: far below 1000 pages
		if err := s.CreateMissions(ctx, []store.Mission{m}); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		// NOOP mode reports the log's frames and how many are copied
		// without copying any itself.
		var busy, logged, copied int
		if err := db.QueryRow(`PRAGMA wal_checkpoint(NOOP)`).Scan(&busy, &logged, &copied); err != nil {
			t.Fatal(err)
		}
		if logged > 0 && copied == logged {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5s the log has %d frames, %d copied back: no checkpoint ran beside the writer", logged, copied)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A write that races Close (a worker's heartbeat while its process shuts
// down) gets ErrClosed instead of panicking on a closed committer.
func TestWritesAfterCloseFailCleanly(t *testing.T) {
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	err = s.Heartbeat(context.Background(), store.Worker{Name: "late", Backend: "inproc", Queue: "q", HeartbeatAt: time.Now()})
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("Heartbeat after Close: %v, want ErrClosed", err)
	}
	s.SetProgress(context.Background(), "m", 1, 50, "stage", time.Now()) // asynchronous: must not panic either
}

// A PostgreSQL password can sit in the query (?password=, ?sslpassword=)
// as well as in the user part; neither may reach a message or a page.
func TestLocationHidesPasswordsInTheQuery(t *testing.T) {
	url := testservices.PostgresDB(t) // trust auth: the passwords are ignored
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	s := openT(t, url+sep+"password=secret2&sslpassword=secret3")
	if loc := s.Location(); strings.Contains(loc, "secret2") || strings.Contains(loc, "secret3") || !strings.Contains(loc, "127.0.0.1") {
		t.Errorf("Location() = %q: want the host and no password", loc)
	}
}

// A process frozen inside a write transaction (SIGSTOP, a VM paused)
// holds SQLite's one write lock. Readers beside it (history, status,
// serve) must still open the store: WAL lets them read, and a store whose
// migrations are all applied has nothing to write.
func TestSQLiteOpensForReadingBesideAHeldWriteLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s := openT(t, path)
	o := mission.Order{ID: "held1", Type: mission.Raven, Hero: "frodo", MaxAttempts: 3, Speed: 1, CreatedAt: time.Now()}
	if err := s.CreateMissions(context.Background(), []store.Mission{store.MissionFromOrder(o, "inproc", "q")}); err != nil {
		t.Fatal(err)
	}
	holder, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	conn, err := holder.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), `ROLLBACK`)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	r, err := store.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open beside a held write lock: %v (after %v)", err, time.Since(start).Round(time.Millisecond))
	}
	defer r.Close()
	ms, err := r.Missions(ctx, []string{"held1"})
	if err != nil || len(ms) != 1 {
		t.Fatalf("read beside a held write lock: %+v, %v", ms, err)
	}
}
