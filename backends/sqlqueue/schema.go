package sqlqueue

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Table names. They are shared by every queue of a database (the queue
// column tells the queues apart), so that a student finds them without
// knowing the queue name, and Destroy drops nothing another queue uses.
const (
	Table     = "palantir_queue"
	DeadTable = "palantir_dead_letters"
)

// schema creates the tables and indexes if they are absent. Times are
// BIGINT microseconds on the database's clock ({{now}}). The defaults let
// a stranger insert a message by hand with just queue and body; its id is
// then the row id, its attempt 1.
//
// palantir_queue holds every message not yet settled: ready (visible_at
// in the past, no lease), delayed (visible_at in the future, no lease) or
// in flight (lease_token set, visible_at is when the lease ends).
var schema = []string{
	`CREATE TABLE IF NOT EXISTS ` + Table + ` (
	id          {{serial}},
	queue       TEXT NOT NULL,
	msg_id      TEXT,
	body        {{blob}} NOT NULL,
	attempt     INTEGER NOT NULL DEFAULT 1,
	deliveries  INTEGER NOT NULL DEFAULT 0,
	released    INTEGER NOT NULL DEFAULT 0,
	visible_at  BIGINT NOT NULL DEFAULT ({{now}}),
	enqueued_at BIGINT NOT NULL DEFAULT ({{now}}),
	lease_owner TEXT,
	lease_token BIGINT
)`,
	// The claim and the peek read this index in order and stop early.
	`CREATE INDEX IF NOT EXISTS ` + Table + `_claim ON ` + Table + ` (queue, visible_at, id)`,
	`CREATE TABLE IF NOT EXISTS ` + DeadTable + ` (
	id      {{serial}},
	queue   TEXT NOT NULL,
	msg_id  TEXT NOT NULL,
	body    {{blob}} NOT NULL,
	attempt INTEGER NOT NULL,
	reason  TEXT NOT NULL,
	dead_at BIGINT NOT NULL
)`,
	// Created last: its presence says the whole schema is there.
	`CREATE INDEX IF NOT EXISTS ` + DeadTable + `_queue ON ` + DeadTable + ` (queue, id)`,
}

// lastObject is the object schema creates last.
const lastObject = DeadTable + "_queue"

// ensureSchema creates the tables unless they exist. It first looks
// without writing: CREATE INDEX IF NOT EXISTS would otherwise lock the
// table against the claims and acks of running workers at every Open.
// Creating runs in one transaction, after the dialect's schema lock, so
// that two processes opening at once take turns.
func ensureSchema(ctx context.Context, db *sql.DB, d Dialect) error {
	exists := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) (bool, error) {
		var ok bool
		err := q.QueryRowContext(ctx, d.sql(d.Exists), lastObject).Scan(&ok)
		return ok, err
	}
	if ok, err := exists(db); err != nil || ok {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if d.SchemaLock != "" {
		if _, err := tx.ExecContext(ctx, d.SchemaLock); err != nil {
			return err
		}
		// Another process may have created it while we waited.
		if ok, err := exists(tx); err != nil || ok {
			return err
		}
	}
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, d.sql(stmt)); err != nil {
			return fmt.Errorf("create the queue tables: %w", err)
		}
	}
	return tx.Commit()
}

// statements is the SQL of one dialect, filled in once at Open.
type statements struct {
	notify string
	peek   string
	claim  string
	extend string
	ack    string
	// held counts the row if it still holds a delivery's lease token (a
	// settlement in a caller's transaction that did not commit; tx.go).
	held string
	// release gives a delivery back (Release): visible now, same attempt,
	// its delivery not counted; unread does the same for a claimed row
	// never handed out.
	release, unread string
	// retryCopy and deadCopy copy a leased row, inside the database, as a
	// new attempt or a dead letter; remove then deletes it.
	retryCopy, deadCopy, remove string
	stats                       string
	deadList, deadListN         string
	takeDeadAll                 string
	purge                       string
	destroy, destroyDead        string
}

// insertRows is the multi-row INSERT of n messages; each row takes queue,
// msg_id, body, attempt, and the delay in microseconds before it is
// visible.
func (d Dialect) insertRows(n int) string {
	row := "(?, ?, ?, ?, 0, 0, {{now}} + ?, {{now}} + ?)"
	return d.sql(`INSERT INTO ` + Table + ` (queue, msg_id, body, attempt, deliveries, released, visible_at, enqueued_at) VALUES ` +
		strings.TrimSuffix(strings.Repeat(row+", ", n), ", "))
}

// takeDead deletes the dead letters of a queue with n given message ids
// and returns them.
func (d Dialect) takeDead(n int) string {
	return d.sql(`DELETE FROM ` + DeadTable + ` WHERE queue = ? AND msg_id IN (` +
		strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `) RETURNING id, msg_id, body`)
}

// msgID is the message id of a row: the publisher's, or for a row a
// stranger inserted without one, the row id.
const msgID = `COALESCE(NULLIF(msg_id, ''), CAST(id AS TEXT))`

func (d Dialect) statements() statements {
	// The claim: the oldest visible rows of the queue (ready, or leased
	// and expired), locked as they are picked where the dialect locks,
	// leased to the claimer with a fresh token, deliveries counted. The
	// body is returned only when it is within the size limit, so that
	// an oversized one (a stranger's) never leaves the database.
	pick := `SELECT id FROM ` + Table + ` WHERE queue = ? AND visible_at <= {{now}} ORDER BY visible_at, id LIMIT ? {{lock}}`
	claim := `UPDATE ` + Table + ` SET visible_at = {{now}} + ?, deliveries = deliveries + 1, lease_owner = ?, lease_token = ?
WHERE ` + fmt.Sprintf(d.Claimable, pick) + `
RETURNING id, ` + msgID + `, CASE WHEN octet_length(body) <= ? THEN body END, octet_length(body), attempt, deliveries, released, enqueued_at`
	owned := ` WHERE id = ? AND lease_token = ?`
	s := statements{
		peek:  `SELECT MIN(visible_at), {{now}} FROM ` + Table + ` WHERE queue = ?`,
		claim: claim,
		// Extend and every settlement check the token: a row claimed
		// again since has another, and the statement changes nothing.
		extend:  `UPDATE ` + Table + ` SET visible_at = {{now}} + ?` + owned,
		ack:     `DELETE FROM ` + Table + owned,
		held:    `SELECT COUNT(*) FROM ` + Table + owned,
		release: `UPDATE ` + Table + ` SET visible_at = {{now}}, deliveries = CASE WHEN deliveries > 0 THEN deliveries - 1 ELSE 0 END, released = released + 1, lease_owner = NULL, lease_token = NULL` + owned,
		unread:  `UPDATE ` + Table + ` SET visible_at = {{now}}, deliveries = CASE WHEN deliveries > 0 THEN deliveries - 1 ELSE 0 END, lease_owner = NULL, lease_token = NULL` + owned,
		retryCopy: `INSERT INTO ` + Table + ` (queue, msg_id, body, attempt, deliveries, released, visible_at, enqueued_at)
SELECT queue, ` + msgID + `, body, attempt + 1, 0, 0, {{now}} + ?, {{now}} + ? FROM ` + Table + owned,
		deadCopy: `INSERT INTO ` + DeadTable + ` (queue, msg_id, body, attempt, reason, dead_at)
SELECT queue, ` + msgID + `, body, attempt, ?, {{now}} FROM ` + Table + owned,
		remove: `DELETE FROM ` + Table + owned,
		// Ready includes leases that ran out: the next claim takes them.
		stats: `SELECT
	COALESCE(SUM(CASE WHEN visible_at <= {{now}} THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN visible_at > {{now}} AND lease_token IS NOT NULL THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN visible_at > {{now}} AND lease_token IS NULL THEN 1 ELSE 0 END), 0),
	(SELECT COUNT(*) FROM ` + DeadTable + ` WHERE queue = ?)
FROM ` + Table + ` WHERE queue = ?`,
		deadList:  `SELECT msg_id, body, attempt, reason, dead_at FROM ` + DeadTable + ` WHERE queue = ? ORDER BY id`,
		deadListN: `SELECT msg_id, body, attempt, reason, dead_at FROM ` + DeadTable + ` WHERE queue = ? ORDER BY id LIMIT ?`,
		takeDeadAll: `DELETE FROM ` + DeadTable + ` WHERE id IN (SELECT id FROM ` + DeadTable + ` WHERE queue = ? ORDER BY id LIMIT ?)
RETURNING id, msg_id, body`,
		// In-flight rows stay: their consumers still hold them.
		purge:       `DELETE FROM ` + Table + ` WHERE queue = ? AND (lease_token IS NULL OR visible_at <= {{now}})`,
		destroy:     `DELETE FROM ` + Table + ` WHERE queue = ?`,
		destroyDead: `DELETE FROM ` + DeadTable + ` WHERE queue = ?`,
	}
	if d.Notify != "" {
		s.notify = d.sql(d.Notify)
	}
	for _, p := range []*string{&s.peek, &s.claim, &s.extend, &s.ack, &s.held, &s.release, &s.unread, &s.retryCopy, &s.deadCopy,
		&s.remove, &s.stats, &s.deadList, &s.deadListN, &s.takeDeadAll, &s.purge, &s.destroy, &s.destroyDead} {
		*p = d.sql(*p)
	}
	return s
}
