// Package sqlite is the SQLite backend: the queue is a table in the
// store's SQLite file (modernc.org/sqlite, pure Go), so that workers in
// several terminals of one machine share it with nothing installed. The
// schema, the claim and the settlements are package sqlqueue's, shared
// with the PostgreSQL backend; this package holds SQLite's dialect, its
// URL and how it opens the file.
package sqlite
