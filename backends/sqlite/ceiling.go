package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// ceiling is the same queue design with database/sql and the driver
// alone, as a tuned program of its own would write it: a table of its own
// in the file (palantir_ceiling_<random>, dropped afterwards), rows
// inserted 500 to a transaction by one producer, and run.Concurrency
// consumers each claiming up to run.Prefetch rows with one UPDATE …
// RETURNING and acking them with one DELETE, every statement a commit
// (fsynced) through one connection, as SQLite has one writer at a time.
func ceiling(ctx context.Context, run backends.CeilingRun) (time.Duration, error) {
	path, err := ParsePath(run.URL)
	if err != nil {
		return 0, err
	}
	if err := createPrivate(path); err != nil {
		return 0, fmt.Errorf("sqlite %s: %w: %v", backends.Redact(path), backends.ErrUnreachable, err)
	}
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := ping(ctx, db); err != nil {
		return 0, fmt.Errorf("sqlite %s: %w: %v", backends.Redact(path), backends.ErrUnreachable, err)
	}
	table := fmt.Sprintf("palantir_ceiling_%08x", rand.Uint32())
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+table+` (id INTEGER PRIMARY KEY, body BLOB NOT NULL, visible_at INTEGER NOT NULL)`); err != nil {
		return 0, fmt.Errorf("sqlite ceiling: create %s: %w", table, err)
	}
	defer db.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+table)
	claim := `UPDATE ` + table + ` SET visible_at = ? WHERE id IN (SELECT id FROM ` + table +
		` WHERE visible_at <= ? ORDER BY id LIMIT ?) RETURNING id, body`

	return backends.MeasureCeiling(ctx, run, "sqlite", 500,
		func(ctx context.Context, n int) error {
			args := make([]any, 0, 2*n)
			for range n {
				args = append(args, run.Body, time.Now().UnixMicro())
			}
			q := `INSERT INTO ` + table + ` (body, visible_at) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?), ", n), ", ")
			_, err := db.ExecContext(ctx, q, args...)
			return err
		},
		func(ctx context.Context, _ int) (int, error) { return ceilingTake(ctx, db, table, claim, run.Prefetch) })
}

// ceilingTake claims up to prefetch rows and acks them with one DELETE.
func ceilingTake(ctx context.Context, db *sql.DB, table, claim string, prefetch int) (int, error) {
	now := time.Now().UnixMicro()
	rows, err := db.QueryContext(ctx, claim, now+(30*time.Second).Microseconds(), now, prefetch)
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	var ids []any
	for rows.Next() {
		var id int64
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			rows.Close()
			return 0, fmt.Errorf("claim: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	ack := `DELETE FROM ` + table + ` WHERE id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + `)`
	if _, err := db.ExecContext(ctx, ack, ids...); err != nil {
		return 0, fmt.Errorf("ack: %w", err)
	}
	return len(ids), nil
}
