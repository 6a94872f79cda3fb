package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
	"github.com/palantir-lab/palantir/backends/postgres"
	"github.com/palantir-lab/palantir/backends/sqlqueue"
	"github.com/palantir-lab/palantir/backends/sqlqueue/sqlqueuetest"
	"github.com/palantir-lab/palantir/internal/testservices"
)

const lease = 300 * time.Millisecond

// database is a scratch PostgreSQL database for t (dropped when t ends),
// and a plain connection to it for doing what a student would with psql.
type database struct {
	url   string
	plain *sql.DB
}

// needPostgres skips t when PostgreSQL is unreachable, or fails it when
// PALANTIR_REQUIRE_SERVICES=1.
func needPostgres(t testing.TB) *database {
	t.Helper()
	url := testservices.PostgresDB(t)
	plain, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	// Closed before the database is dropped (cleanups run last first).
	t.Cleanup(func() { plain.Close() })
	return &database{url: url, plain: plain}
}

// open opens queue as a new, independent handle.
func (db *database) open(t testing.TB, cfg backends.Config) *sqlqueue.Queue {
	t.Helper()
	cfg.URL = db.url
	if cfg.Lease == 0 {
		cfg.Lease = lease
	}
	q, err := postgres.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Queue, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func (db *database) harness() backendtest.Harness {
	return backendtest.Harness{
		Lease: lease,
		Open: func(t *testing.T, queue string) backends.Queue {
			return db.open(t, backends.Config{Queue: queue})
		},
		InjectRaw: func(t *testing.T, queue string, body []byte) {
			// What a student would type in psql: no id, no attempt.
			if _, err := db.plain.Exec(`INSERT INTO palantir_queue (queue, body) VALUES ($1, $2)`, queue, body); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, needPostgres(t).harness())
}

func TestOpenUnreachable(t *testing.T) {
	const url = "postgres://palantir:secret@127.0.0.1:1/palantir?sslmode=disable"
	start := time.Now()
	q, err := postgres.Open(context.Background(), backends.Config{URL: url, Queue: "q"})
	if err == nil {
		q.Close()
		t.Fatal("Open of a closed port succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Open took %v, want at most 5s", took)
	}
	if !errors.Is(err, backends.ErrUnreachable) {
		t.Errorf("err = %v, want ErrUnreachable", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q shows the password", err)
	}
	if want := backends.Redact(url); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}

func TestSQLQueue(t *testing.T) {
	sqlqueuetest.Run(t, sqlqueuetest.Kit{Lease: lease, NewDatabase: func(t *testing.T) sqlqueuetest.Database {
		db := needPostgres(t)
		return sqlqueuetest.Database{
			Open: func(cfg backends.Config) (backends.Queue, error) {
				cfg.URL = db.url
				return postgres.Open(context.Background(), cfg)
			},
			InjectRaw: db.harness().InjectRaw,
		}
	}})
}
