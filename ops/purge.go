package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/store"
)

// Purger empties one queue and settles the store's account of it. Its
// fields are set once.
type Purger struct {
	Store     *store.Store
	Queue     backends.Admin // with All, also a backends.Destroyer
	Backend   string
	QueueName string
	// Now is the clock of the FAILURE stamps (nil: time.Now).
	Now func() time.Time
}

// PurgeResult is what a purge did: `palantir purge -o json`'s row.
type PurgeResult struct {
	Purged int64 // messages removed (-1: the broker cannot count them)
	Marked int64 // waiting missions marked FAILURE ("purged")
	// Deleted: every object of the queue is gone, dead letters and
	// in-flight messages too.
	Deleted bool
	// DeadDeleted counts the dead letters PurgeDead deleted.
	DeadDeleted int
}

// PurgeDead is Purge that also deletes the queue's dead letters (purge
// --dead), keeping what is in flight.
func (p *Purger) PurgeDead(ctx context.Context) (PurgeResult, error) {
	res, err := p.Purge(ctx, false)
	if err != nil {
		return res, err
	}
	gone, err := p.Queue.DeleteDeadLetters(ctx)
	if err != nil {
		return res, fmt.Errorf("delete the dead letters of %s queue %q: %w", p.Backend, p.QueueName, err)
	}
	res.DeadDeleted = len(gone)
	return res, nil
}

// Purge removes the queue's ready and delayed messages (with all, then
// deletes its every object), and marks the missions that were waiting
// on it FAILURE, so that nothing stays QUEUED forever. A queue that
// cannot delete its objects is an ErrInvalid error for all.
func (p *Purger) Purge(ctx context.Context, all bool) (PurgeResult, error) {
	n, err := p.Queue.Purge(ctx)
	if err != nil {
		return PurgeResult{}, fmt.Errorf("purge %s queue %q: %w", p.Backend, p.QueueName, err)
	}
	if all {
		d, ok := p.Queue.(backends.Destroyer)
		if !ok {
			return PurgeResult{}, fmt.Errorf("%w: purge --all: the %s backend cannot delete its queue's objects", ErrInvalid, p.Backend)
		}
		if err := d.Destroy(ctx); err != nil {
			return PurgeResult{}, fmt.Errorf("purge --all %s queue %q: %w", p.Backend, p.QueueName, err)
		}
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	marked, err := p.Store.MarkPurged(ctx, p.Backend, p.QueueName, now())
	if err != nil {
		return PurgeResult{}, fmt.Errorf("store: %w", err)
	}
	return PurgeResult{Purged: n, Marked: marked, Deleted: all}, nil
}
