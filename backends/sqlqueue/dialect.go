package sqlqueue

import (
	"strconv"
	"strings"
	"time"
)

// Dialect is what differs between the databases that hold a queue. The
// SQL itself is written once (see statements), with ? placeholders and a
// few {{words}} that the dialect fills in.
type Dialect struct {
	// Name is the backend's registered name ("postgres", "sqlite"), used
	// in errors and logs.
	Name string
	// Serial is the type of an auto-incrementing primary key whose values
	// are never reused; Blob the type of a byte string.
	Serial, Blob string
	// Now is an SQL expression for the database's clock in microseconds
	// since the Unix epoch. Every time in the tables is on that clock, so
	// that processes with skewed clocks still agree on leases.
	Now string
	// Claimable turns the SELECT of the ids to claim into the condition of
	// the claim's UPDATE (%s is the SELECT).
	Claimable string
	// Lock is appended to that SELECT to lock the rows it picks ("FOR
	// UPDATE SKIP LOCKED"), or "" where one writer at a time makes it
	// unnecessary.
	Lock string
	// Numbered is true when placeholders are $1, $2, … rather than ?.
	Numbered bool
	// Notify, if not "", runs in every transaction that makes messages
	// receivable, with the queue name as its one argument, to wake the
	// consumers of other processes when it commits.
	Notify string
	// SchemaLock, if not "", runs first in the transaction that creates
	// the tables, so that processes opening at once take turns.
	SchemaLock string
	// Exists answers whether the table or index named by its one argument
	// exists (one boolean or integer column).
	Exists string
	// Identity is a query whose one text column tells this database from
	// every other one reachable now (a file's path; a server's start time,
	// port and database name), so that a caller's connection can be
	// matched with the queue's (TxQueue.SameDatabase).
	Identity string
	// Transient reports whether err means the database cannot be reached
	// right now (down, restarting, locked for too long): the operation
	// may succeed later, and the error wraps backends.ErrUnreachable.
	Transient func(err error) bool
	// PollMin and PollMax bound how long an idle consumer waits before it
	// looks again without being woken: it starts at PollMin after finding
	// work and doubles up to PollMax while it finds none.
	PollMin, PollMax time.Duration
}

// sql fills the dialect's words into query and numbers its placeholders
// if the dialect wants them numbered.
func (d Dialect) sql(query string) string {
	query = strings.NewReplacer(
		"{{now}}", d.Now,
		"{{serial}}", d.Serial,
		"{{blob}}", d.Blob,
		"{{lock}}", d.Lock,
	).Replace(query)
	if !d.Numbered {
		return query
	}
	// Our SQL has no ? inside string literals, so every ? is a
	// placeholder.
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
