// Package sqlite is the SQLite backend: the queue is a table in the
// store's SQLite file (modernc.org/sqlite, pure Go), so that workers in
// several terminals of one machine share it with nothing installed:
//
//	palantir worker --backend sqlite        # in two terminals
//	palantir launch raven --count 6 --backend sqlite --wait
//
// The schema, the claim and the settlements are package sqlqueue's,
// shared with the PostgreSQL backend; this package holds SQLite's
// dialect, its URL and how it opens the file. Inspect the queue with
//
//	sqlite3 palantir.db "SELECT msg_id, attempt, deliveries, lease_owner FROM palantir_queue"
//
// # URL
//
// The store's file (--store, default palantir.db); with a PostgreSQL
// store, --backend sqlite is a usage error (use --backend postgres).
// --backend sqlite:PATH or sqlite://PATH names another file. The file
// is created with mode 0600 and opened as the store opens it: WAL
// (readers beside one writer, processes sharing the file),
// synchronous=FULL (every commit fsynced), a busy timeout of 15 s and
// immediate write transactions. Parameters in the URL, ":memory:" and
// other schemes are errors wrapping backends.ErrBadURL.
//
// # Concurrency and wakeups
//
// SQLite has one writer at a time: a claim is a write transaction that
// no other claim can interleave with, so it needs no row locks (SQLite
// has no SKIP LOCKED). A Queue uses one connection, so that its
// statements take turns in order in the pool rather than in SQLite's
// busy handler, which sleeps. Consumers of one process are woken at once
// by its publishes; another process's publish is seen at the next poll,
// every 100 ms after finding work, backing off to a second when idle.
// Processes on other machines cannot share the file (SQLite's locks do
// not work over network file systems): use PostgreSQL.
package sqlite
