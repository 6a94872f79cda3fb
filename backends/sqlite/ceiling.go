package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// ceilingIdle is how long a ceiling consumer that found nothing waits
// before it claims again (the producer is still inserting).
const ceilingIdle = time.Millisecond

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

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var end atomic.Int64 // when the last message was acked (unix ns)
	errs := make(chan error, run.Concurrency+1)
	start := time.Now()
	go func() {
		const batch = 500
		for sent := 0; sent < run.Messages; sent += batch {
			n := min(batch, run.Messages-sent)
			args := make([]any, 0, 2*n)
			for range n {
				args = append(args, run.Body, time.Now().UnixMicro())
			}
			q := `INSERT INTO ` + table + ` (body, visible_at) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?), ", n), ", ")
			if _, err := db.ExecContext(ctx, q, args...); err != nil {
				errs <- fmt.Errorf("sqlite ceiling: insert: %w", err)
				stop()
				return
			}
		}
		errs <- nil
	}()
	var wg sync.WaitGroup
	for range run.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ceilingConsume(ctx, db, table, claim, run, &end); err != nil && ctx.Err() == nil {
				errs <- err
				stop()
			}
		}()
	}
	wg.Wait()
	if run.Acked.Load() < int64(run.Messages) {
		stop()
		select {
		case err := <-errs:
			if err != nil {
				return 0, err
			}
		default:
		}
		return 0, fmt.Errorf("sqlite ceiling: %d of %d messages acked: %w", run.Acked.Load(), run.Messages, context.Cause(ctx))
	}
	if err := <-errs; err != nil {
		return 0, err
	}
	return time.Unix(0, end.Load()).Sub(start), nil
}

// ceilingConsume claims and acks until every message is acked.
func ceilingConsume(ctx context.Context, db *sql.DB, table, claim string, run backends.CeilingRun, end *atomic.Int64) error {
	for ctx.Err() == nil && run.Acked.Load() < int64(run.Messages) {
		now := time.Now().UnixMicro()
		rows, err := db.QueryContext(ctx, claim, now+(30*time.Second).Microseconds(), now, run.Prefetch)
		if err != nil {
			return fmt.Errorf("sqlite ceiling: claim: %w", err)
		}
		var ids []any
		for rows.Next() {
			var id int64
			var body []byte
			if err := rows.Scan(&id, &body); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite ceiling: claim: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite ceiling: claim: %w", err)
		}
		if len(ids) == 0 {
			t := time.NewTimer(ceilingIdle)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			continue
		}
		ack := `DELETE FROM ` + table + ` WHERE id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + `)`
		if _, err := db.ExecContext(ctx, ack, ids...); err != nil {
			return fmt.Errorf("sqlite ceiling: ack: %w", err)
		}
		if run.Acked.Add(int64(len(ids))) >= int64(run.Messages) {
			end.CompareAndSwap(0, time.Now().UnixNano())
		}
	}
	return nil
}
