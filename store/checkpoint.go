package store

import (
	"context"
	"time"
)

// Checkpoints. SQLite copies the write-ahead log back into the database
// file ("checkpoint") inside the commit that takes the log past 1000
// pages. At thousands of small commits a second that is a stall of
// several milliseconds, many times a second, for every write waiting on
// the group: the tail of every latency a worker measures. So a goroutine
// checkpoints beside the committer, on its own connection, every
// checkpointEvery (PASSIVE: it never blocks the writer or readers). The
// commit-time checkpoint still runs but finds almost everything copied,
// so it is short, and it lets the log start over (a log never restarts
// while a checkpoint beside a busy writer is copying).
const checkpointEvery = 20 * time.Millisecond

// startCheckpointer runs until stop is called; SQLite only. It wakes only
// after commits (committed), so an idle process, or one that only
// reads, never checkpoints.
func (s *Store) startCheckpointer() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return // the commit-time checkpoints still run
		}
		defer conn.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.committed:
			}
			// Let the commits of the next checkpointEvery pile up first.
			select {
			case <-ctx.Done():
				return
			case <-time.After(checkpointEvery):
			}
			// Best effort: a busy or failed checkpoint is retried after the
			// next commit, and the commit-time one stays as the backstop.
			_, _ = conn.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}()
	return func() { cancel(); <-done }
}
