package store

import (
	"context"
	"hash/fnv"

	"github.com/jmoiron/sqlx"

	"github.com/palantir-lab/palantir/internal/batch"
)

// Group commit. Workers write a handful of small updates per mission; a
// transaction each would make the disk's commit rate the ceiling of the
// whole pipeline. Instead, writes are queued to committer goroutines that
// run whatever has accumulated (up to maxGroup) in one transaction, so
// many missions share each commit. Nothing waits on purpose: while one
// transaction commits, the next group forms.
//
// Writes about one mission go to one committer, chosen by the mission's
// id, so they commit in the order they were queued even where several
// committers run (PostgreSQL): a write that is not waited for (progress,
// STARTED) can never land after a later write of the same mission.
//
// Each write keeps its own all-or-nothing meaning: if any write of a group
// fails, the group is rolled back and every write is run again in a
// transaction of its own, so one bad write cannot take others down.

const maxGroup = 512

type groupOp struct {
	fn func(*sqlx.Tx) error
	// pg, if not nil, is the same write as statements that PostgreSQL
	// takes in one round trip with the rest of its group (pipeline.go).
	pg func() []pgStmt
	// merge, if not nil, lets PostgreSQL make the write together with
	// others of its kind (merge.go); pg is its form alone.
	merge *mergeable
	key   string // the mission the write is about; "" for several or none
	done  chan error
	async bool // counted in Store.pending until committed
	// lazy: the write need not be on disk when it returns (lazyTx).
	lazy bool
}

// startCommitters starts n committers; stopCommitters ends them.
func (s *Store) startCommitters(n int) {
	s.ops = make([]chan groupOp, n)
	for i := range s.ops {
		s.ops[i] = make(chan groupOp, 4*maxGroup)
		s.committers.Add(1)
		go s.commitLoop(s.ops[i])
	}
}

func (s *Store) stopCommitters() {
	s.closeMu.Lock()
	s.closed = true
	for _, ops := range s.ops {
		close(ops)
	}
	s.closeMu.Unlock()
	s.committers.Wait()
}

// queueFor is the committer for writes about key (a mission id); writes
// about no one mission ("") take turns.
func (s *Store) queueFor(key string) chan groupOp {
	if len(s.ops) == 1 {
		return s.ops[0]
	}
	if key == "" {
		return s.ops[s.nextOps.Add(1)%uint32(len(s.ops))]
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return s.ops[h.Sum32()%uint32(len(s.ops))]
}

// group runs fn, a write about mission key ("" for none), in a shared
// transaction and returns its own error. It waits for the commit even if
// ctx ends meanwhile, so that the caller never mistakes a committed write
// for a lost one.
func (s *Store) group(ctx context.Context, key string, fn func(*sqlx.Tx) error) error {
	return s.submit(ctx, key, groupOp{fn: fn})
}

// submit is group for an op that may have a pipelined form.
func (s *Store) submit(ctx context.Context, key string, op groupOp) error {
	op.done, op.key = make(chan error, 1), key
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case s.queueFor(key) <- op:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	s.closeMu.RUnlock()
	return <-op.done
}

// groupAsync queues fn without waiting for its commit; errors are lost.
// Only for writes that later writes of the same mission supersede
// (progress, STARTED), whose WHERE clauses make them harmless if the
// mission moved on.
func (s *Store) groupAsync(key string, op groupOp) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return
	}
	s.pending.Add(1)
	// Nothing waits for it, so nothing waits for its fsync either.
	op.done, op.async, op.lazy, op.key = make(chan error, 1), true, true, key
	s.queueFor(key) <- op
}

// Flush waits until every write queued so far without waiting (progress)
// is committed.
func (s *Store) Flush() { s.pending.Wait() }

func (s *Store) commitLoop(ops chan groupOp) {
	defer s.committers.Done()
	group := make([]groupOp, 0, maxGroup)
	for first := range ops {
		group = batch.Fill(group, first, ops, maxGroup)
		s.commitGroup(group)
		select { // wake the checkpointer (checkpoint.go)
		case s.committed <- struct{}{}:
		default:
		}
	}
}

func (s *Store) commitGroup(batch []groupOp) {
	// The writes are already accepted; they must land even if the
	// process is shutting down, so they run under their own context.
	ctx := context.Background()
	if s.pipelined(batch) {
		if err := s.pipeline(ctx, batch); err == nil {
			for _, op := range batch {
				s.finish(op, nil)
			}
			return
		}
		// Run each alone, below, to give each its own error.
	}
	errs := make([]error, len(batch))
	err := s.txOf(ctx, allLazy(batch), func(tx *sqlx.Tx) error {
		for i, op := range batch {
			if errs[i] = op.fn(tx); errs[i] != nil {
				return errs[i]
			}
		}
		return nil
	})
	if err == nil || (len(batch) == 1 && !s.pipelined(batch)) {
		for _, op := range batch {
			s.finish(op, err)
		}
		return
	}
	// Someone's write failed (or the commit did): run each alone.
	for _, op := range batch {
		s.finish(op, s.txOf(ctx, op.lazy, op.fn))
	}
}

// allLazy reports whether no write of batch needs to be on disk when it
// returns.
func allLazy(batch []groupOp) bool {
	for _, op := range batch {
		if !op.lazy {
			return false
		}
	}
	return true
}

// txOf is lazyTx for lazy writes, tx for the rest.
func (s *Store) txOf(ctx context.Context, lazy bool, fn func(*sqlx.Tx) error) error {
	if lazy {
		return s.lazyTx(ctx, fn)
	}
	return s.tx(ctx, fn)
}

func (s *Store) finish(op groupOp, err error) {
	op.done <- err
	if op.async {
		s.pending.Done()
	}
}
