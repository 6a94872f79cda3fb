// Package dispatch is the launching half of the pipeline: it records new
// missions in the store, publishes them, and marks them queued, emitting
// the telemetry of each step. `palantir launch` and `palantir bench` both
// send missions through it, so that bench measures what launch does.
package dispatch

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// Store is what dispatching needs of the store.
type Store interface {
	CreateMissions(ctx context.Context, ms []store.Mission) error
	MarkQueued(ctx context.Context, ids []string, at time.Time) error
	DeleteMissions(ctx context.Context, ids []string) error
}

// Dispatcher publishes batches of orders to one queue. Its fields are set
// once; Publish may not be called concurrently.
type Dispatcher struct {
	Store     Store
	Queue     backends.Publisher
	Telemetry *telemetry.Recorder
	Backend   string // registered backend name, for the store and telemetry
	QueueName string
	// Source is the telemetry service that invokes the missions
	// (telemetry.CLI() when empty, telemetry.API() for serve).
	Source string
	Log    *slog.Logger // may be nil
	// OnPublish, when set, is told how long each broker Publish of n
	// messages took (bench's publish latency).
	OnPublish func(d time.Duration, n int)
	// RecoverAfter is how long after a launch its missions' kept copies
	// fall due, should the launcher die before it published them
	// (store.CreateKept) [DefaultRecoverAfter]. A publish slower than
	// this may be duplicated, which at-least-once delivery allows.
	RecoverAfter time.Duration

	checked bool             // whether tx was looked for
	tx      backends.TxQueue // the queue, when it lives in the store's database
}

// DefaultRecoverAfter is Dispatcher.RecoverAfter's default: the default
// lease, after which a silent worker's missions are delivered again too.
const DefaultRecoverAfter = backends.DefaultLease

// keeper is a store that keeps each launch's record until it is
// published (*store.Store; store/kept.go).
type keeper interface {
	CreateKept(ctx context.Context, ms []store.Mission, k store.KeptLaunch, recoverAt time.Time) error
	ForgetKept(id string)
	ClaimKept(ctx context.Context, backend, queue string, now time.Time, lease time.Duration, limit int) ([]store.KeptLaunch, error)
	Missions(ctx context.Context, ids []string) ([]store.Mission, error)
}

// txStore is a store that can tell whether a queue lives in its own
// database and then create missions and publish their messages in one
// transaction (*store.Store; see store/tx.go).
type txStore interface {
	Shares(ctx context.Context, q any) backends.TxQueue
	CreateQueued(ctx context.Context, ms []store.Mission, at time.Time, publish store.TxHook) error
}

// Publish records orders as PENDING, publishes them, and marks them
// QUEUED. bodies[i] is the wire form of orders[i]; nil bodies are encoded
// here. If the broker refuses, the PENDING rows are removed again, so that
// nothing is half-written, and the error is returned. When the queue lives
// in the store's database, the rows (QUEUED at once) and the messages are
// written in one transaction instead.
func (d *Dispatcher) Publish(ctx context.Context, orders []mission.Order, bodies [][]byte) error {
	ms := make([]store.Mission, len(orders))
	msgs := make([]backends.Message, len(orders))
	ids := make([]string, len(orders))
	for i, o := range orders {
		ms[i] = store.MissionFromOrder(o, d.Backend, d.QueueName)
		body, err := d.body(o, bodies, i)
		if err != nil {
			return err
		}
		msgs[i] = backends.Message{ID: o.ID, Body: body, Attempt: 1}
		ids[i] = o.ID
	}
	if tq := d.txQueue(ctx); tq != nil {
		return d.publishInTx(ctx, tq, orders, ms, msgs)
	}
	if len(orders) == 0 {
		return nil
	}
	kept, err := d.create(ctx, orders, ms)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	d.invoked(orders, time.Time{})
	start := time.Now()
	err = d.Queue.Publish(ctx, msgs...)
	if d.OnPublish != nil {
		d.OnPublish(time.Since(start), len(msgs))
	}
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if d.Store.DeleteMissions(dctx, ids) == nil {
			d.forget(kept)
		}
		cancel()
		return fmt.Errorf("publish to %s queue %q: %w", d.Backend, d.QueueName, err)
	}
	defer d.forget(kept) // after MarkQueued: a record left finds nothing PENDING
	// Stamped when the publish began: the broker took the messages
	// somewhere before it answered, and a fast worker may have started
	// one already; a later stamp would sort after its mission_started.
	now := start
	if err := d.Store.MarkQueued(ctx, ids, now); err != nil && d.Log != nil {
		// The broker has them: a worker will start them whatever the row says.
		d.Log.Warn("missions published but not marked QUEUED", "err", err)
	}
	d.queued(ids, now)
	return nil
}

// create records the missions as PENDING, with the launch's record where
// the store keeps one, so that they are published even if this process
// dies before it publishes them. It returns the record's id ("" for
// none), for forget.
func (d *Dispatcher) create(ctx context.Context, orders []mission.Order, ms []store.Mission) (string, error) {
	k, ok := d.Store.(keeper)
	if !ok {
		return "", d.Store.CreateMissions(ctx, ms)
	}
	rec := store.KeptLaunch{ID: orders[0].ID}
	kinds := map[mission.Type]*mission.Kind{}
	for _, o := range orders {
		rec.IDs = append(rec.IDs, o.ID)
		if o.Kind != nil {
			kinds[o.Type] = o.Kind
		}
	}
	if len(kinds) > 0 {
		b, err := json.Marshal(kinds)
		if err != nil {
			return "", err
		}
		rec.Kinds = string(b)
	}
	after := d.RecoverAfter
	if after <= 0 {
		after = DefaultRecoverAfter
	}
	return rec.ID, k.CreateKept(ctx, ms, rec, time.Now().Add(after))
}

// forget drops the launch record create made, once it is not needed.
func (d *Dispatcher) forget(id string) {
	if k, ok := d.Store.(keeper); ok && id != "" {
		k.ForgetKept(id)
	}
}

// txQueue is the queue as a backends.TxQueue if it lives in the store's
// database, looked for once.
func (d *Dispatcher) txQueue(ctx context.Context) backends.TxQueue {
	if !d.checked {
		d.checked = true
		if ts, ok := d.Store.(txStore); ok {
			d.tx = ts.Shares(ctx, d.Queue)
		}
	}
	return d.tx
}

// publishInTx creates the missions as QUEUED and publishes their
// messages in one store transaction: all or nothing, with no PENDING
// rows to remove after a refusal.
func (d *Dispatcher) publishInTx(ctx context.Context, tq backends.TxQueue, orders []mission.Order, ms []store.Mission, msgs []backends.Message) error {
	var pubErr error
	start := time.Now()
	err := d.Store.(txStore).CreateQueued(ctx, ms, start, func(ctx context.Context, tx *sql.Tx) error {
		pubErr = tq.PublishTx(ctx, tx, msgs...)
		return pubErr
	})
	if d.OnPublish != nil {
		d.OnPublish(time.Since(start), len(msgs))
	}
	switch {
	case pubErr != nil:
		return fmt.Errorf("publish to %s queue %q: %w", d.Backend, d.QueueName, pubErr)
	case err != nil:
		return fmt.Errorf("store: %w", err)
	}
	tq.Published()
	d.invoked(orders, time.Time{})
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	d.queued(ids, start)
	return nil
}

// invoked emits each order's mission_invoked, at its creation.
func (d *Dispatcher) invoked(orders []mission.Order, due time.Time) {
	source := d.Source
	if source == "" {
		source = telemetry.CLI()
	}
	for _, o := range orders {
		detail := fmt.Sprintf("%s for %s", o.Type, o.Hero)
		if !due.IsZero() {
			detail += ", due " + due.UTC().Format(time.RFC3339)
		}
		d.Telemetry.Emit(telemetry.Event{Name: telemetry.MissionInvoked, MissionID: o.ID, Attempt: 1, Service: source,
			Detail: detail, At: o.CreatedAt}, time.Time{})
	}
}

// queued emits mission_queued for ids, at at.
func (d *Dispatcher) queued(ids []string, at time.Time) {
	for _, id := range ids {
		d.Telemetry.Emit(telemetry.Event{Name: telemetry.MissionQueued, MissionID: id, Attempt: 1,
			Service: telemetry.Broker(d.Backend), Detail: "queue " + d.QueueName, At: at}, time.Time{})
	}
}

func (d *Dispatcher) body(o mission.Order, bodies [][]byte, i int) ([]byte, error) {
	if i < len(bodies) && bodies[i] != nil {
		return bodies[i], nil
	}
	return o.Encode()
}
