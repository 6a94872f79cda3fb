package store

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/palantir-lab/palantir/telemetry"
)

type eventRow struct {
	ID        int64  `db:"id"`
	AtUS      int64  `db:"at_us"`
	Name      string `db:"name"`
	MissionID string `db:"mission_id"`
	Attempt   int    `db:"attempt"`
	Service   string `db:"service"`
	SinceUS   int64  `db:"since_us"`
	Detail    string `db:"detail"`
}

var _ telemetry.Writer = (*Store)(nil)

// eventsPerInsert stays under SQLite's default limit of 32766 parameters
// and PostgreSQL's 65535.
const eventsPerInsert = 64

func insertEventsSQL(n int) string {
	return `INSERT INTO events (at_us, name, mission_id, attempt, service, since_us, detail) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?), ", n), ", ")
}

// InsertEvents writes a batch of events in one transaction.
func (s *Store) InsertEvents(ctx context.Context, events []telemetry.Event) error {
	if len(events) == 0 {
		return nil
	}
	return s.submit(ctx, "", groupOp{
		fn:   func(tx *sqlx.Tx) error { return s.insertEventsTx(ctx, tx, events) },
		pg:   func() []pgStmt { return insertEventsStmts(events) },
		lazy: true, // telemetry: the next outcome's fsync makes it durable
	})
}

// insertEventsStmts are the multi-row inserts of events, one statement
// per eventsPerInsert events.
func insertEventsStmts(events []telemetry.Event) []pgStmt {
	var out []pgStmt
	for start := 0; start < len(events); start += eventsPerInsert {
		chunk := events[start:min(start+eventsPerInsert, len(events))]
		args := make([]any, 0, 7*len(chunk))
		for _, e := range chunk {
			args = append(args, eventArgs(e)...)
		}
		out = append(out, pgStmt{query: insertEventsSQL(len(chunk)), args: args})
	}
	return out
}

// eventArgs are an event's values in insertEventsSQL's order, made
// readable (a stranger's bytes may be anywhere in them).
func eventArgs(e telemetry.Event) []any {
	return []any{micros(e.At), string(e.Name), readable(e.MissionID, 256), e.Attempt,
		readable(e.Service, 256), e.SincePrev.Microseconds(), readable(e.Detail, 4096)}
}

// insertEventsTx writes events in tx, with multi-row inserts: one
// statement per eventsPerInsert events.
func (s *Store) insertEventsTx(ctx context.Context, tx *sqlx.Tx, events []telemetry.Event) error {
	for _, st := range insertEventsStmts(events) {
		if _, err := s.execTx(ctx, tx, st.query, st.args...); err != nil {
			return err
		}
	}
	return nil
}

// EventFilter selects events.
type EventFilter struct {
	MissionID string
	AfterID   int64 // only events with a larger id (for --follow)
	Limit     int   // the newest Limit events (0: all)
}

// Events returns events in the order they were stored.
func (s *Store) Events(ctx context.Context, f EventFilter) ([]telemetry.Event, error) {
	q := `SELECT id, at_us, name, mission_id, attempt, service, since_us, detail FROM events WHERE id > ?`
	args := []any{f.AfterID}
	if f.MissionID != "" {
		q += ` AND mission_id = ?`
		args = append(args, f.MissionID)
	}
	if f.Limit > 0 {
		q = `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ?) AS newest`
		args = append(args, f.Limit)
	}
	q += ` ORDER BY id`
	return s.selectEvents(ctx, q, args...)
}

func (s *Store) selectEvents(ctx context.Context, q string, args ...any) ([]telemetry.Event, error) {
	var rows []eventRow
	if err := s.db.SelectContext(ctx, &rows, s.rebind(q), args...); err != nil {
		return nil, err
	}
	out := make([]telemetry.Event, len(rows))
	for i, r := range rows {
		out[i] = telemetry.Event{ID: r.ID, At: time.UnixMicro(r.AtUS).UTC(), Name: telemetry.Name(r.Name),
			MissionID: r.MissionID, Attempt: r.Attempt, Service: r.Service,
			SincePrev: time.Duration(r.SinceUS) * time.Microsecond, Detail: r.Detail}
	}
	return out, nil
}

// readable makes text from outside (a stranger's message id, an error
// quoting its bytes) storable on every store: valid UTF-8, no NUL byte
// (PostgreSQL refuses both, and would refuse the whole batch), at most max
// bytes.
func readable(s string, max int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
