package store

import (
	"context"
	"path/filepath"
	"testing"

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
