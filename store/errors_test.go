package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/store"
)

// The drivers' own errors are told apart: what the store refuses for the
// data is permanent, the store being away is not.
func TestPermanentTellsRefusedDataFromAnAbsentStore(t *testing.T) {
	ctx := context.Background()
	lite, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "e.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if _, err := lite.ExecContext(ctx, `CREATE TABLE t (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	_, _ = lite.ExecContext(ctx, `INSERT INTO t VALUES ('a')`)
	_, dupErr := lite.ExecContext(ctx, `INSERT INTO t VALUES ('a')`)
	cases := map[string]struct {
		err  error
		want bool
	}{
		"sqlite constraint":  {dupErr, true},
		"marked rejected":    {fmt.Errorf("x: %w", store.ErrRejected), true},
		"connection refused": {fmt.Errorf("dial: %w", syscall.ECONNREFUSED), false},
		"closed":             {store.ErrClosed, false},
		"nil":                {nil, false},
	}
	pgURL := testservices.PostgresDB(t)
	pg, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	var s string
	cases["postgres NUL byte"] = struct {
		err  error
		want bool
	}{pg.QueryRowContext(ctx, `SELECT $1::text`, "a\x00b").Scan(&s), true}
	_, shutdown := pg.ExecContext(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
	cases["postgres session terminated"] = struct {
		err  error
		want bool
	}{shutdown, false}
	for name, c := range cases {
		if name != "nil" && c.err == nil {
			t.Errorf("%s: the driver returned no error", name)
			continue
		}
		if got := store.Permanent(c.err); got != c.want {
			t.Errorf("%s (%v): Permanent = %v, want %v", name, c.err, got, c.want)
		}
	}
}
