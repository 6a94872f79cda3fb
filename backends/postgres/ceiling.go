package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palantir-lab/palantir/backends"
)

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

	return backends.MeasureCeiling(ctx, run, "postgres", 500,
		func(ctx context.Context, n int) error {
			rows := make([][]any, n)
			for i := range rows {
				rows[i] = []any{run.Body}
			}
			_, err := pool.CopyFrom(ctx, table, []string{"body"}, pgx.CopyFromRows(rows))
			return err
		},
		func(ctx context.Context, _ int) (int, error) { return ceilingTake(ctx, pool, claim, ack, run.Prefetch) })
}

// ceilingTake claims up to prefetch rows and acks them with one DELETE.
func ceilingTake(ctx context.Context, pool *pgxpool.Pool, claim, ack string, prefetch int) (int, error) {
	rows, err := pool.Query(ctx, claim, prefetch)
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	var ids []int64
	var id int64
	var body []byte
	if _, err = pgx.ForEachRow(rows, []any{&id, &body}, func() error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if _, err := pool.Exec(ctx, ack, ids); err != nil {
		return 0, fmt.Errorf("ack: %w", err)
	}
	return len(ids), nil
}
