package dispatch

import (
	"context"
	"fmt"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
)

// dueStore is a store that keeps messages until they are due
// (*store.Store).
type dueStore interface {
	CreateDelayed(ctx context.Context, ms []store.Mission, bodies [][]byte, due time.Time) error
	ClaimDue(ctx context.Context, backend, queue string, now time.Time, lease time.Duration, limit int) ([]store.DueMessage, error)
	DoneDue(ctx context.Context, ids []string) error
}

func (d *Dispatcher) dueStore() (dueStore, error) {
	if ds, ok := d.Store.(dueStore); ok {
		return ds, nil
	}
	return nil, fmt.Errorf("this store cannot keep missions for later")
}

// PublishLater records orders as PENDING, their messages kept in the
// store until due (launch --in/--at); PublishDue, run by the queue's
// workers and serve, publishes them then. Nothing reaches the broker now.
func (d *Dispatcher) PublishLater(ctx context.Context, orders []mission.Order, due time.Time) error {
	ms := make([]store.Mission, len(orders))
	bodies := make([][]byte, len(orders))
	for i, o := range orders {
		ms[i] = store.MissionFromOrder(o, d.Backend, d.QueueName)
		body, err := o.Encode()
		if err != nil {
			return err
		}
		bodies[i] = body
	}
	ds, err := d.dueStore()
	if err != nil {
		return err
	}
	if err := ds.CreateDelayed(ctx, ms, bodies, due); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	d.invoked(orders, due)
	return nil
}

// DueClaim is how long a claimer has to publish what it claimed before
// another may take it.
const DueClaim = 30 * time.Second

// PublishDue publishes the queue's messages that are due at now, and
// returns how many. Each is claimed in the store first, so that of the
// processes running this, one publishes it; a mission cancelled while it
// waited is dropped. A refused publish leaves the claim to lapse and the
// messages to be tried again.
func (d *Dispatcher) PublishDue(ctx context.Context, now time.Time) (int, error) {
	ds, err := d.dueStore()
	if err != nil {
		return 0, err
	}
	due, err := ds.ClaimDue(ctx, d.Backend, d.QueueName, now, DueClaim, 500)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	var msgs []backends.Message
	var ids, dropped []string
	for _, m := range due {
		if m.Status != mission.Pending {
			dropped = append(dropped, m.ID)
			continue
		}
		msgs = append(msgs, backends.Message{ID: m.ID, Body: m.Body, Attempt: 1})
		ids = append(ids, m.ID)
	}
	if err := ds.DoneDue(ctx, dropped); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	start := time.Now()
	if err := d.Queue.Publish(ctx, msgs...); err != nil {
		return 0, fmt.Errorf("publish to %s queue %q: %w", d.Backend, d.QueueName, err)
	}
	// Published: forget the kept copies, then say QUEUED. A failure here
	// publishes them again once the claim lapses: a duplicate, which the
	// store's once-only outcomes absorb.
	if err := ds.DoneDue(ctx, ids); err != nil {
		return len(ids), fmt.Errorf("store: %w", err)
	}
	if err := d.Store.MarkQueued(ctx, ids, start); err != nil && d.Log != nil {
		d.Log.Warn("due missions published but not marked QUEUED", "err", err)
	}
	d.queued(ids, start)
	return len(ids), nil
}
