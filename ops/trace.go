package ops

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// Trace is one mission's life as a timeline: what `palantir trace` shows.
type Trace struct {
	Mission store.Mission
	Steps   []Step
	// Total is the time from the first event to the last.
	Total time.Duration
}

// Step is one event of a trace.
type Step struct {
	telemetry.Event
	// Offset is the time since the mission's first event, Gap since the
	// step above (zero for the first).
	Offset, Gap time.Duration
	// Explain names the broker or database primitive behind the event
	// (empty unless asked for, or when none is known).
	Explain string
}

// LoadTrace finds the mission arg names (an id or a unique prefix) and
// builds its trace. With explain, each step names its primitive on the
// mission's backend as reg describes it, and on st.
func LoadTrace(ctx context.Context, st *store.Store, reg *backends.Registry, arg string, explain bool) (Trace, error) {
	id, err := st.Resolve(ctx, arg)
	if err != nil {
		return Trace{}, err
	}
	ms, err := st.Missions(ctx, []string{id})
	if err != nil || len(ms) == 0 {
		return Trace{}, fmt.Errorf("store: mission %s: %v", id, err)
	}
	evs, err := st.Events(ctx, store.EventFilter{MissionID: id})
	if err != nil {
		return Trace{}, fmt.Errorf("store: %w", err)
	}
	var explainer func(telemetry.Event) string
	if explain {
		prims := map[string]string{}
		if b, err := reg.Resolve(ms[0].Backend); err == nil {
			prims = b.Primitives
		}
		explainer = Explainer(prims, st.Primitive)
	}
	steps, total := Steps(evs, explainer)
	return Trace{Mission: ms[0], Steps: steps, Total: total}, nil
}

// SortEvents orders evs by time, keeping the store's order among equal
// times. Processes on one machine share a clock, but their events reach
// the store in batches: a timeline goes by time, not by arrival.
func SortEvents(evs []telemetry.Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
}

// Steps sorts evs (see SortEvents) and measures each from the first and
// from the one before; explain, when not nil, names each one's primitive.
// It returns the steps and the time from the first event to the last.
func Steps(evs []telemetry.Event, explain func(telemetry.Event) string) ([]Step, time.Duration) {
	SortEvents(evs)
	steps := make([]Step, len(evs))
	if len(evs) == 0 {
		return steps, 0
	}
	start, prev := evs[0].At, evs[0].At
	for i, e := range evs {
		steps[i] = Step{Event: e, Offset: e.At.Sub(start), Gap: e.At.Sub(prev)}
		if explain != nil {
			steps[i].Explain = explain(e)
		}
		prev = e.At
	}
	return steps, evs[len(evs)-1].At.Sub(start)
}

// Explainer names the primitive behind an event: for the store's own
// events, storePrimitive's (the outcome's COMMIT) followed by the
// backend's, else the backend's from its descriptor's primitives.
func Explainer(primitives map[string]string, storePrimitive func(event string) string) func(telemetry.Event) string {
	return func(e telemetry.Event) string {
		queue := primitives[string(e.Name)]
		if !strings.HasPrefix(e.Service, "store:") {
			return queue
		}
		// The store's commit, then what the worker does on the broker
		// once it is durable (the ack).
		return strings.Join(slices.DeleteFunc([]string{storePrimitive(string(e.Name)), queue}, func(s string) bool { return s == "" }), "; ")
	}
}

// TraceObject is the -o json shape of a trace.
type TraceObject struct {
	Mission Mission     `json:"mission"`
	Steps   []TraceStep `json:"steps"`
}

// TraceStep is one step of a TraceObject.
type TraceStep struct {
	Event
	OffsetMS float64 `json:"offset_ms"`
	// Explain is the primitive behind the event (when asked for).
	Explain string `json:"explain,omitempty"`
}

// TraceObjectOf is t as its -o json object.
func TraceObjectOf(t Trace) TraceObject {
	out := TraceObject{Mission: MissionOf(t.Mission), Steps: make([]TraceStep, len(t.Steps))}
	for i, s := range t.Steps {
		out.Steps[i] = TraceStep{Event: EventOf(s.Event), OffsetMS: float64(s.Offset.Microseconds()) / 1000, Explain: s.Explain}
	}
	return out
}
