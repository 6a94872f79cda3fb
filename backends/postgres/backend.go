package postgres

import (
	"context"
	"strings"

	"github.com/palantir-lab/palantir/backends"
)

// Backend registers postgres for the name postgres and the schemes
// postgres and postgresql. Its URL is the store's when the store is
// PostgreSQL; --backend postgres://… names another database.
func Backend() backends.Backend {
	return backends.Backend{
		Name:      Name,
		Schemes:   []string{"postgres", "postgresql"},
		Holds:     "a table in PostgreSQL (palantir_queue)",
		FromStore: FromStore,
		Networked: true,
		Open: func(ctx context.Context, cfg backends.Config) (backends.Queue, error) {
			q, err := Open(ctx, cfg)
			if err != nil {
				return nil, err // not a typed nil inside the interface
			}
			return q, nil
		},
		Hint:       hint,
		Ceiling:    ceiling,
		Primitives: Dialect.Primitives(),
		Guarantees: backends.Guarantees{
			Holds: []string{
				"a launch returns once its missions are committed (fsynced by PostgreSQL)",
				"nothing lost on a PostgreSQL restart: messages, leases, retries and dead letters are rows",
				"a dead worker's missions come back after the lease (its rows become visible again)",
				"consumers woken at commit by LISTEN/NOTIFY; a poll every second covers a lost notification",
				"with the store in the same database: missions and their messages, outcomes and their acks, each commit in one transaction (no redelivery after a recorded outcome)",
			},
			DoesNot: []string{
				"FIFO across workers: SKIP LOCKED passes over rows other claimers hold",
				"a broker's throughput: every claim, extension and ack is a write (dead rows for VACUUM)",
			},
		},
	}
}

// hint is doctor's advice when Open fails. Open's errors carry the
// server's SQLSTATE in their text (the driver's error is not wrapped: its
// text is redacted).
func hint(err error) string {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	switch {
	case strings.Contains(msg, "SQLSTATE 28"):
		return "PostgreSQL refused the login: check the user and password (in the URL or PGPASSWORD) and pg_hba.conf"
	case strings.Contains(msg, "SQLSTATE 3D000"):
		return "the database does not exist: create it (createdb NAME) or name another in the URL"
	}
	return "start PostgreSQL (systemctl start postgresql) and check host, port and database in --store postgres://… or --backend postgres://…"
}
