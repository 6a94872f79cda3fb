// Package postgres is the PostgreSQL backend: the queue is a table in a
// PostgreSQL database, claimed with FOR UPDATE SKIP LOCKED and woken with
// LISTEN/NOTIFY. The schema, the claim and the settlements are package
// sqlqueue's, shared with the SQLite backend; this package holds
// PostgreSQL's dialect, its URL, its listener and how it connects (pgx
// through database/sql).
//
//	palantir worker --backend postgres --store postgres://postgres@127.0.0.1:5432/palantir
//	psql palantir -c "SELECT msg_id, attempt, deliveries, lease_owner FROM palantir_queue"
//
// # URL
//
// The store's database when the store is PostgreSQL; --backend
// postgres://user[:password]@host:5432/db (or postgresql://) names
// another. With a SQLite store and no URL, --backend postgres is a usage
// error naming the fix. The URL is read by pgx (libpq's parameters:
// sslmode, connect_timeout, …); connecting gives up after three seconds
// unless connect_timeout says otherwise, with an error wrapping
// backends.ErrUnreachable. Errors show the URL redacted.
//
// # Wakeups
//
// Every transaction that makes messages receivable (publish, release,
// retry, replay) runs pg_notify('palantir_queue', Q), delivered at commit.
// A Queue with consumers LISTENs on a connection of its own (started by
// the first Subscribe) and wakes them; while that connection is down it
// reconnects with backoff (500 ms doubling to 15 s), says so once in the
// log, and consumers poll every second. Every 30 s without a notification
// it pings the server, so that a connection that died silently is
// replaced.
//
// # Load
//
// Every claim, extension and ack is a write: rows die and are reclaimed
// by autovacuum. Concurrent acks share a transaction, claims take up to
// the prefetch at once, and idle consumers only read (a peek) until a
// row is visible.
package postgres
