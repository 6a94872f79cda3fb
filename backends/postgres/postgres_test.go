package postgres_test

import (
	"context"
	"database/sql"
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
		Inspect: func(t *testing.T, queue string) (backends.Queue, error) {
			q, err := postgres.Open(context.Background(), backends.Config{URL: db.url, Queue: queue, Lease: lease, Inspect: true})
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { q.Close() })
			return q, nil
		},
		Exists: func(t *testing.T, queue string) bool {
			var n int
			err := db.plain.QueryRow(`SELECT (SELECT COUNT(*) FROM `+sqlqueue.Table+` WHERE queue = $1) + (SELECT COUNT(*) FROM `+sqlqueue.DeadTable+` WHERE queue = $1)`, queue).Scan(&n)
			if err != nil && tableMissing(err) {
				return false // nothing was ever made in this database
			}
			if err != nil {
				t.Fatal(err)
			}
			return n > 0
		},
		InjectRaw: func(t *testing.T, queue string, body []byte) {
			// What a student would type in psql: no id, no attempt.
			if _, err := db.plain.Exec(`INSERT INTO palantir_queue (queue, body) VALUES ($1, $2)`, queue, body); err != nil {
				t.Fatal(err)
			}
		},
		OpenURL: func(ctx context.Context, url, queue string) (backends.Queue, error) {
			return postgres.Backend().Open(ctx, backends.Config{URL: url, Queue: queue, Lease: lease})
		},
		Unreachable: "postgres://palantir:secret@127.0.0.1:1/palantir?sslmode=disable",
		BadURLs: []string{
			"postgres://palantir:secret@127.0.0.1:5432/palantir?sslmode=bogus",
			"postgres://palantir:secret@127.0.0.1:port/palantir",
			"postgresql://palantir:secret@[::1/palantir",
			"redis://:secret@127.0.0.1:6379/0",
		},
		Restartable: func(t *testing.T) (string, func()) {
			p := testservices.StartPostgres(t)
			return p.URL(), func() { p.Stop(); p.Start() }
		},
	}
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, needPostgres(t).harness())
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
			Plain:     db.plain,
		}
	}})
}

// A consumer waiting on an empty queue is woken by another process's
// NOTIFY (here a plain connection's insert and pg_notify, as a stranger
// would publish), not by its poll: the poll is made an hour long.
func TestListenWakesConsumers(t *testing.T) {
	db := needPostgres(t)
	saved := postgres.Dialect
	t.Cleanup(func() { postgres.Dialect = saved })
	postgres.Dialect.PollMin, postgres.Dialect.PollMax = time.Hour, time.Hour

	queue := backendtest.QueueName(t)
	q := db.open(t, backends.Config{Queue: queue})
	c, err := q.Subscribe(context.Background(), backends.ConsumerOptions{Name: "sleeper"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d, err := c.Receive(ctx)
		if err == nil {
			err = d.Ack(ctx)
		}
		got <- err
	}()
	// Until the listener listens, a notification would be lost.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		err := db.plain.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN palantir_queue'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no LISTEN connection after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	tx, err := db.plain.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO palantir_queue (queue, body) VALUES ($1, 'hello')`, queue); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`SELECT pg_notify('palantir_queue', $1)`, queue); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer was not woken by NOTIFY within 10s")
	}
}

// tableMissing: the queue's tables were never made in this database.
func tableMissing(err error) bool { return strings.Contains(err.Error(), "42P01") }
