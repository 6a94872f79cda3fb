package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palantir-lab/palantir/backends"
)

// ceilingIdle is how long a ceiling consumer that found nothing waits
// before it claims again (the producer is still copying).
const ceilingIdle = time.Millisecond

// ceiling is the same queue design with pgx alone, as a tuned program of
// its own would write it: a table of its own (palantir_ceiling_<random>,
// dropped afterwards), rows COPYed in batches of 500 by one producer,
// and run.Concurrency consumers each claiming up to run.Prefetch rows
// with UPDATE … FOR UPDATE SKIP LOCKED and acking them with one DELETE.
func ceiling(ctx context.Context, run backends.CeilingRun) (time.Duration, error) {
	pcfg, err := ParseURL(run.URL)
	if err != nil {
		return 0, err
	}
	poolCfg, err := pgxpool.ParseConfig("")
	if err != nil {
		return 0, err
	}
	poolCfg.ConnConfig = pcfg
	poolCfg.MaxConns = int32(run.Concurrency + 1)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return 0, fmt.Errorf("postgres %s: %w", backends.Redact(run.URL), err)
	}
	defer pool.Close()
	pctx, cancel := context.WithTimeout(ctx, pcfg.ConnectTimeout+time.Second)
	err = pool.Ping(pctx)
	cancel()
	if err != nil {
		return 0, openError(ctx, backends.Redact(run.URL), err)
	}
	table := pgx.Identifier{fmt.Sprintf("palantir_ceiling_%08x", rand.Uint32())}
	tname := table.Sanitize()
	if _, err := pool.Exec(ctx, `CREATE TABLE `+tname+` (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL,
		visible_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return 0, fmt.Errorf("postgres ceiling: create %s: %w", tname, err)
	}
	defer pool.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+tname)
	claim := `UPDATE ` + tname + ` SET visible_at = now() + interval '30 seconds'
		WHERE id = ANY(ARRAY(SELECT id FROM ` + tname + ` WHERE visible_at <= now() ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED))
		RETURNING id, body`
	ack := `DELETE FROM ` + tname + ` WHERE id = ANY($1)`

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var end atomic.Int64 // when the last message was acked (unix ns)
	errs := make(chan error, run.Concurrency+1)
	start := time.Now()
	go func() {
		const batch = 500
		for sent := 0; sent < run.Messages; sent += batch {
			rows := make([][]any, min(batch, run.Messages-sent))
			for i := range rows {
				rows[i] = []any{run.Body}
			}
			if _, err := pool.CopyFrom(ctx, table, []string{"body"}, pgx.CopyFromRows(rows)); err != nil {
				errs <- fmt.Errorf("postgres ceiling: COPY: %w", err)
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
			if err := ceilingConsume(ctx, pool, claim, ack, run, &end); err != nil && ctx.Err() == nil {
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
		return 0, fmt.Errorf("postgres ceiling: %d of %d messages acked: %w", run.Acked.Load(), run.Messages, context.Cause(ctx))
	}
	if err := <-errs; err != nil {
		return 0, err
	}
	return time.Unix(0, end.Load()).Sub(start), nil
}

// ceilingConsume claims and acks until every message is acked.
func ceilingConsume(ctx context.Context, pool *pgxpool.Pool, claim, ack string, run backends.CeilingRun, end *atomic.Int64) error {
	ids := make([]int64, 0, run.Prefetch)
	for ctx.Err() == nil && run.Acked.Load() < int64(run.Messages) {
		rows, err := pool.Query(ctx, claim, run.Prefetch)
		if err != nil {
			return fmt.Errorf("postgres ceiling: claim: %w", err)
		}
		ids = ids[:0]
		var id int64
		var body []byte
		_, err = pgx.ForEachRow(rows, []any{&id, &body}, func() error {
			ids = append(ids, id)
			return nil
		})
		if err != nil {
			return fmt.Errorf("postgres ceiling: claim: %w", err)
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
		if _, err := pool.Exec(ctx, ack, ids); err != nil {
			return fmt.Errorf("postgres ceiling: ack: %w", err)
		}
		if run.Acked.Add(int64(len(ids))) >= int64(run.Messages) {
			end.CompareAndSwap(0, time.Now().UnixNano())
		}
	}
	return nil
}
