package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
)

// Pipelined group commit on PostgreSQL. A group's writes are many small
// statements, and each statement sent on its own is a round trip:
// profiling `bench --store postgres://…` showed the committers spending
// ~80% of their time waiting for about one millisecond per statement on
// a loaded 2-core machine, four statements per mission. When every write
// of a group has a statement form (pgStmt), the committer sends the
// whole group as one pgx batch: one round trip, one implicit transaction
// (PostgreSQL's extended protocol runs everything before its Sync in
// one), committed at the end. A write whose outcome depends on what an
// earlier statement found (Complete: score only a mission it finished)
// says so in SQL, with a data-modifying WITH, rather than in Go between
// round trips. Writes without that form (a queue's TxHook, the careful
// BeginAttempt) run as closures, statement by statement, as on SQLite.

// pgStmt is one statement of a write: ? placeholders (rebound for
// PostgreSQL) and, if rows is set, what to do with the number of rows it
// changed.
type pgStmt struct {
	query string
	args  []any
	rows  func(n int64)
	// returned, if set, is told the first column of the rows the
	// statement returns (the statement is a query).
	returned func(ids []string)
}

// stmtsOp is a write made of stmts, as a closure (SQLite, and the run
// alone after a failed group) and as a pipelined form.
func (s *Store) stmtsOp(ctx context.Context, stmts ...pgStmt) groupOp {
	return groupOp{
		fn: func(tx *sqlx.Tx) error {
			for _, st := range stmts {
				res, err := s.execTx(ctx, tx, st.query, st.args...)
				if err != nil {
					return err
				}
				if st.rows != nil {
					n, err := res.RowsAffected()
					if err != nil {
						return err
					}
					st.rows(n)
				}
			}
			return nil
		},
		pg: func() []pgStmt { return stmts },
	}
}

// groupExec runs statements about key as part of a group commit.
func (s *Store) groupExec(ctx context.Context, key, query string, args ...any) error {
	return s.submit(ctx, key, s.stmtsOp(ctx, pgStmt{query: query, args: args}))
}

// groupAsyncExec is groupExec without waiting for the commit (groupAsync).
func (s *Store) groupAsyncExec(key, query string, args ...any) {
	s.groupAsync(key, s.stmtsOp(context.Background(), pgStmt{query: query, args: args}))
}

// pipelined reports whether batch can go as one PostgreSQL batch.
func (s *Store) pipelined(batch []groupOp) bool {
	if s.driver != "postgres" {
		return false
	}
	for _, op := range batch {
		if op.pg == nil {
			return false
		}
	}
	return true
}

// errNotPgx: the pool handed out a connection of another driver.
var errNotPgx = errors.New("not a pgx connection")

// pipeline sends batch's statements in one round trip and reports the
// rows each changed. On an error nothing was committed.
func (s *Store) pipeline(ctx context.Context, batch []groupOp) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stmts := merged(batch)
	if stmts == nil {
		for _, op := range batch {
			stmts = append(stmts, op.pg()...)
		}
	}
	var b pgx.Batch
	for _, st := range stmts {
		b.Queue(s.rebind(st.query), st.args...)
	}
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("%w: %T", errNotPgx, dc)
		}
		br := c.Conn().SendBatch(ctx, &b)
		for _, st := range stmts {
			if err := result(br, st); err != nil {
				br.Close()
				return err
			}
		}
		return br.Close()
	})
}

// result reads st's result from br and tells st what it changed.
func result(br pgx.BatchResults, st pgStmt) error {
	if st.returned != nil {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		st.returned(ids)
		return nil
	}
	tag, err := br.Exec()
	if err != nil {
		return err
	}
	if st.rows != nil {
		st.rows(tag.RowsAffected())
	}
	return nil
}
