package sqlite

import (
	"context"

	"github.com/palantir-lab/palantir/backends"
)

// Backend registers sqlite for the name sqlite and the scheme sqlite
// (sqlite://PATH names another file). Its file is the store's when the
// store is SQLite (by default palantir.db in the working directory).
func Backend() backends.Backend {
	return backends.Backend{
		Name:      Name,
		Schemes:   []string{"sqlite"},
		Holds:     "a table in the store's SQLite file (palantir_queue)",
		FromStore: FromStore,
		// Processes of one machine share the file; SQLite's locks do
		// not work over network file systems.
		Networked: false,
		Open: func(ctx context.Context, cfg backends.Config) (backends.Queue, error) {
			q, err := Open(ctx, cfg)
			if err != nil {
				return nil, err // not a typed nil inside the interface
			}
			return q, nil
		},
		Hint: func(error) string {
			return "check that the store's directory is writable, and that the file is on a local disk (not NFS); " +
				"another process may be holding a long write"
		},
		Ceiling:    ceiling,
		Primitives: Dialect.Primitives(),
		Guarantees: backends.Guarantees{
			Holds: []string{
				"nothing to install: workers in several terminals of one machine share the store's file",
				"a launch returns once its missions are committed and fsynced (synchronous=FULL)",
				"a dead worker's missions come back after the lease (its rows become visible again)",
				"with the store in the same database: missions and their messages, outcomes and their acks, each commit in one transaction (no redelivery after a recorded outcome)",
			},
			DoesNot: []string{
				"workers on other machines (a file on one machine, not over NFS)",
				"parallel writes: one writer at a time, each commit an fsync",
				"instant wakeup across processes: another process's publish is seen at the next poll (up to 1 s when idle)",
			},
		},
	}
}
