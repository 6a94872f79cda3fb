package dispatch

import (
	"context"
	"encoding/json"
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
// the missions of launches whose launcher died before it published them
// (recoverKept), and returns how many. Each is claimed in the store first, so that of the
// processes running this, one publishes it; a mission cancelled while it
// waited is dropped. A refused publish leaves the claim to lapse and the
// messages to be tried again.
func (d *Dispatcher) PublishDue(ctx context.Context, now time.Time) (int, error) {
	recovered, err := d.recoverKept(ctx, now)
	if err != nil {
		return recovered, err
	}
	n, err := d.publishDue(ctx, now)
	return recovered + n, err
}

func (d *Dispatcher) publishDue(ctx context.Context, now time.Time) (int, error) {
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

// recoverKept publishes the missions of the queue's launches whose
// launcher died between recording and publishing them (store/kept.go):
// those still PENDING and never queued, their orders rebuilt from their
// rows. One of the processes running this claims each launch.
func (d *Dispatcher) recoverKept(ctx context.Context, now time.Time) (int, error) {
	k, ok := d.Store.(keeper)
	if !ok {
		return 0, nil
	}
	recs, err := k.ClaimKept(ctx, d.Backend, d.QueueName, now, DueClaim, 10)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	total := 0
	for _, rec := range recs {
		n, err := d.recoverLaunch(ctx, k, rec)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// recoverLaunch publishes what one kept launch left PENDING, and forgets
// its record. A failure leaves the claim to lapse and the launch to be
// tried again.
func (d *Dispatcher) recoverLaunch(ctx context.Context, k keeper, rec store.KeptLaunch) (int, error) {
	ms, err := k.Missions(ctx, rec.IDs)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	kinds := map[mission.Type]*mission.Kind{}
	if rec.Kinds != "" {
		if err := json.Unmarshal([]byte(rec.Kinds), &kinds); err != nil {
			return 0, fmt.Errorf("kept launch %s: %w", rec.ID, err)
		}
	}
	var msgs []backends.Message
	var ids []string
	for _, m := range ms {
		if m.Status != mission.Pending || !m.QueuedAt.IsZero() || !m.DueAt.IsZero() {
			continue
		}
		o := m.Order()
		o.Kind = kinds[o.Type]
		body, err := o.Encode()
		if err != nil {
			return 0, err
		}
		msgs = append(msgs, backends.Message{ID: o.ID, Body: body, Attempt: 1})
		ids = append(ids, o.ID)
	}
	if len(msgs) > 0 {
		start := time.Now()
		if err := d.Queue.Publish(ctx, msgs...); err != nil {
			return 0, fmt.Errorf("publish to %s queue %q: %w", d.Backend, d.QueueName, err)
		}
		if err := d.Store.MarkQueued(ctx, ids, start); err != nil && d.Log != nil {
			d.Log.Warn("recovered missions published but not marked QUEUED", "err", err)
		}
		if d.Log != nil {
			d.Log.Warn("published missions whose launch died before publishing them", "missions", len(ids), "launch", rec.ID)
		}
		d.queued(ids, start)
	}
	k.ForgetKept(rec.ID)
	return len(ids), nil
}
