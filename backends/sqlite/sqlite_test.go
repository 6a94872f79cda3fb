package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
	"github.com/palantir-lab/palantir/backends/sqlite"
	"github.com/palantir-lab/palantir/backends/sqlqueue"
	"github.com/palantir-lab/palantir/backends/sqlqueue/sqlqueuetest"
)

const lease = 300 * time.Millisecond

// file is a fresh SQLite file for t, and a plain connection to it for
// doing what a student would with the sqlite3 shell.
type file struct {
	path  string
	plain *sql.DB
}

func newFile(t testing.TB) *file {
	t.Helper()
	path := filepath.Join(t.TempDir(), "palantir.db")
	plain, err := sql.Open("sqlite", sqlite.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	return &file{path: path, plain: plain}
}

// open opens queue in the file as a new, independent handle.
func (f *file) open(t testing.TB, cfg backends.Config) *sqlqueue.Queue {
	t.Helper()
	cfg.URL = f.path
	if cfg.Lease == 0 {
		cfg.Lease = lease
	}
	q, err := sqlite.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Queue, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func (f *file) harness() backendtest.Harness {
	return backendtest.Harness{
		Lease: lease,
		Open: func(t *testing.T, queue string) backends.Queue {
			return f.open(t, backends.Config{Queue: queue})
		},
		InjectRaw: func(t *testing.T, queue string, body []byte) {
			// What a student would type in the sqlite3 shell: no id, no
			// attempt.
			if _, err := f.plain.Exec(`INSERT INTO palantir_queue (queue, body) VALUES (?, ?)`, queue, body); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, newFile(t).harness())
}

func TestSQLQueue(t *testing.T) {
	sqlqueuetest.Run(t, sqlqueuetest.Kit{Lease: lease, NewDatabase: func(t *testing.T) sqlqueuetest.Database {
		f := newFile(t)
		return sqlqueuetest.Database{
			Open: func(cfg backends.Config) (backends.Queue, error) {
				cfg.URL = f.path
				return sqlite.Open(context.Background(), cfg)
			},
			InjectRaw: f.harness().InjectRaw,
		}
	}})
}
