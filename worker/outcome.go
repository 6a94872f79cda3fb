package worker

import (
	"time"

	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// outcome carries a final outcome's telemetry into the store's
// transaction (store.OutcomeEvents), so that a worker killed right after
// the commit cannot leave an outcome whose trace stops half way: the
// worker's own event (completed, failed) is stamped now, the store's
// (persisted, hero_scored) when the store writes the outcome.
type outcome struct {
	w       *Worker
	own     telemetry.Event
	store   func(svc string) []telemetry.Event
	written []telemetry.Event
}

// newOutcome stamps the worker's event name now; storeEvents builds the
// store's events, with svc the store's telemetry service name.
func (w *Worker) newOutcome(name telemetry.Name, id string, attempt int, detail string, storeEvents func(svc string) []telemetry.Event) *outcome {
	oc := &outcome{w: w, store: storeEvents}
	if w.tel != nil {
		oc.own = w.tel.Stamp(telemetry.Event{Name: name, MissionID: id, Attempt: attempt, Service: w.self, Detail: detail}, time.Time{})
	}
	return oc
}

// events is what Complete and Fail write with the outcome; nil without a
// recorder.
func (oc *outcome) events() store.OutcomeEvents {
	if oc.w.tel == nil {
		return nil
	}
	return func() []telemetry.Event {
		oc.written = append([]telemetry.Event{oc.own}, oc.store(telemetry.Store(oc.w.st.Driver()))...)
		return oc.written
	}
}

// report echoes the written events, or, when the store had already
// recorded the mission's end (a duplicate), emits the worker's own event:
// this copy did complete or fail, and changed nothing.
func (oc *outcome) report(recorded bool) {
	if oc.w.tel == nil {
		return
	}
	if !recorded {
		oc.w.tel.Emit(oc.own, time.Time{})
		return
	}
	for _, e := range oc.written {
		oc.w.tel.Announce(e)
	}
}

// stamp is an event stamped by the recorder but not written (see
// telemetry.Recorder.Stamp); the zero Event without a recorder.
func (w *Worker) stamp(name telemetry.Name, id string, attempt int, service, detail string) telemetry.Event {
	if w.tel == nil {
		return telemetry.Event{}
	}
	return w.tel.Stamp(telemetry.Event{Name: name, MissionID: id, Attempt: attempt, Service: service, Detail: detail}, time.Time{})
}
