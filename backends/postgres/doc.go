// Package postgres is the PostgreSQL backend: the queue is a table in a
// PostgreSQL database (the store's, or another named by --backend
// postgres://…), claimed with FOR UPDATE SKIP LOCKED and woken with
// LISTEN/NOTIFY. The schema, the claim and the settlements are package
// sqlqueue's, shared with the SQLite backend; this package holds
// PostgreSQL's dialect, its URL, its listener and how it connects.
package postgres
