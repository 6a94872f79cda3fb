// Package dispatch is the launching half of the pipeline: it records new
// missions in the store, publishes them, and marks them queued, emitting
// the telemetry of each step. `palantir launch` and `palantir bench` both
// send missions through it, so that bench measures what launch does.
package dispatch

import (
	"context"
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
}

// Publish records orders as PENDING, publishes them, and marks them
// QUEUED. bodies[i] is the wire form of orders[i]; nil bodies are encoded
// here. If the broker refuses, the PENDING rows are removed again, so that
// nothing is half-written, and the error is returned.
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
	if err := d.Store.CreateMissions(ctx, ms); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	source := d.Source
	if source == "" {
		source = telemetry.CLI()
	}
	for _, o := range orders {
		d.Telemetry.Emit(telemetry.Event{Name: telemetry.MissionInvoked, MissionID: o.ID, Attempt: 1, Service: source,
			Detail: fmt.Sprintf("%s for %s", o.Type, o.Hero), At: o.CreatedAt}, time.Time{})
	}
	start := time.Now()
	err := d.Queue.Publish(ctx, msgs...)
	if d.OnPublish != nil {
		d.OnPublish(time.Since(start), len(msgs))
	}
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = d.Store.DeleteMissions(dctx, ids)
		cancel()
		return fmt.Errorf("publish to %s queue %q: %w", d.Backend, d.QueueName, err)
	}
	// Stamped when the publish began: the broker took the messages
	// somewhere before it answered, and a fast worker may have started
	// one already; a later stamp would sort after its mission_started.
	now := start
	if err := d.Store.MarkQueued(ctx, ids, now); err != nil && d.Log != nil {
		// The broker has them: a worker will start them whatever the row says.
		d.Log.Warn("missions published but not marked QUEUED", "err", err)
	}
	for _, id := range ids {
		d.Telemetry.Emit(telemetry.Event{Name: telemetry.MissionQueued, MissionID: id, Attempt: 1,
			Service: telemetry.Broker(d.Backend), Detail: "queue " + d.QueueName, At: now}, time.Time{})
	}
	return nil
}

func (d *Dispatcher) body(o mission.Order, bodies [][]byte, i int) ([]byte, error) {
	if i < len(bodies) && bodies[i] != nil {
		return bodies[i], nil
	}
	return o.Encode()
}
