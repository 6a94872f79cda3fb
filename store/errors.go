package store

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrRejected marks a write the store refused for what it held, not for
// where the store was: trying it again would fail again.
var ErrRejected = errors.New("the store refused the data")

// Permanent reports whether err is the store refusing the data itself (a
// constraint, a value too long or of the wrong kind), as opposed to the
// store being away (unreachable, locked, out of disk), which passes. A
// worker dead-letters a message whose write fails permanently and waits
// out every other failure.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrRejected) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && len(pe.Code) == 5 {
		// Class 22 is "data exception", class 23 "integrity constraint
		// violation"; the rest (connections, resources, shutdown) pass.
		return pe.Code[:2] == "22" || pe.Code[:2] == "23"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary code, without its extension
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE:
			return true
		}
	}
	return false
}

// Permanent is the package's Permanent as a method, so that a telemetry
// recorder writing to the store can tell a refused batch from an outage.
func (s *Store) Permanent(err error) bool { return Permanent(err) }
