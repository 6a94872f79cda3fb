package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/palantir-lab/palantir/internal/testservices"
)

// An outcome is acked only once it is on disk: a power cut after the ack
// must not lose it. SQLite in WAL mode fsyncs a commit only with
// synchronous=FULL (NORMAL leaves it in the WAL until the next
// checkpoint: 17 ms after the ack in one measured run); PostgreSQL's
// commits must not be asynchronous.
func TestCommitsAreDurableBeforeTheyReturn(t *testing.T) {
	ctx := context.Background()
	lite, err := Open(ctx, filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	// Every pooled connection, not only the first, must be FULL.
	conns := make([]int, 0, 3)
	for range 3 { // of the pool of 4, one may be busy with the checkpointer
		c, err := lite.db.Connx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var level int
		if err := c.GetContext(ctx, &level, `PRAGMA synchronous`); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, level)
	}
	for i, level := range conns {
		if level != 2 {
			t.Errorf("SQLite connection %d: synchronous = %d, want 2 (FULL)", i, level)
		}
	}
	pg, err := Open(ctx, testservices.PostgresDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	var commit string
	if err := pg.db.GetContext(ctx, &commit, `SHOW synchronous_commit`); err != nil {
		t.Fatal(err)
	}
	if commit != "on" && commit != "remote_write" && commit != "remote_apply" {
		t.Errorf("PostgreSQL synchronous_commit = %s, want on", commit)
	}
}

// Launch rows, QUEUED, STARTED, progress, events and heartbeats are
// "lazy" writes: a group made only of them commits without its own fsync
// (the next durable commit's fsync of the same log, or a checkpoint,
// makes it durable). A group with one durable write (an outcome) commits
// with the fsync, and so does a durable write run alone after its group
// failed. No connection goes back to the pool without synchronous=FULL.
func TestLazyGroupsSkipTheFsyncDurableOnesDoNot(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// seen records the synchronous level its transaction commits with.
	seen := func(level *int, lazy bool) groupOp {
		return groupOp{lazy: lazy, done: make(chan error, 1), fn: func(tx *sqlx.Tx) error {
			return tx.GetContext(ctx, level, `PRAGMA synchronous`)
		}}
	}
	failing := groupOp{done: make(chan error, 1), fn: func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO no_such_table VALUES (1)`)
		return err
	}}
	var a, b, c, d, e int
	s.commitGroup([]groupOp{seen(&a, true), seen(&b, true)})
	s.commitGroup([]groupOp{seen(&c, true), seen(&d, false)})
	s.commitGroup([]groupOp{seen(&e, true), failing}) // e runs again alone
	for name, got := range map[string][2]int{
		"lazy group, first write": {a, 1}, "lazy group, second write": {b, 1},
		"lazy write beside a durable one": {c, 2}, "durable write": {d, 2},
		"lazy write run alone after its group failed": {e, 1},
	} {
		if got[0] != got[1] {
			t.Errorf("%s: committed with synchronous = %d, want %d", name, got[0], got[1])
		}
	}
	for i := range 3 { // of the pool of 4, the checkpointer keeps one
		c, err := s.db.Connx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var level int
		if err := c.GetContext(ctx, &level, `PRAGMA synchronous`); err != nil {
			t.Fatal(err)
		}
		if level != 2 {
			t.Errorf("pooled connection %d after lazy groups: synchronous = %d, want 2 (FULL)", i, level)
		}
	}
}
