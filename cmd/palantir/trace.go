package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// traceOptions are trace's flags.
type traceOptions struct {
	ID      string
	Explain bool
}

func newTraceCmd(a *app, runF func(context.Context, *app, traceOptions) error) *cobra.Command {
	var o traceOptions
	cmd := &cobra.Command{
		Use:   "trace ID [--explain]",
		Short: "One mission's stages as a timeline",
		Long: `Show one mission's life as a timeline: every stage, which service did it
(cli, broker:<backend>, worker:<name>, store:<driver>), when (OFFSET from the
first event), and the GAP since the row above: queue waits, backoffs and
stage durations. Retries and redeliveries show as repeated
attempts.

--explain adds a PRIMITIVE column: the broker or database operation that
produced each event on the mission's backend (XADD, basic.publish with a
confirm, FOR UPDATE SKIP LOCKED, …) and on the store (the outcome's
COMMIT).

EXIT STATUS
  0  shown
  2  unknown or ambiguous id
  3  store unreachable`,
		Example: `  palantir trace bhqj51
  palantir trace bhqj51 --explain --backend redis
  palantir trace bhqj51 -o json`,
		Args: argsUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID = args[0]
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runTrace(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVar(&o.Explain, "explain", false, "name the broker or database primitive behind each event")
	return cmd
}

// validate has no flag value to refuse: the id is checked against the
// store (a short one may still be a whole id).
func (o traceOptions) validate() error { return nil }

// traceJSON is the -o json shape of a trace.
type traceJSON struct {
	Mission ops.Mission `json:"mission"`
	Steps   []traceStep `json:"steps"`
}

type traceStep struct {
	ops.Event
	OffsetMS float64 `json:"offset_ms"`
	// Explain is the primitive behind the event (--explain only).
	Explain string `json:"explain,omitempty"`
}

// explainer names the primitive behind an event: the store's for its
// own events, else the mission's backend's from its descriptor.
func explainer(a *app, st *store.Store, backend string) func(telemetry.Event) string {
	prims := map[string]string{}
	if b, err := a.registry.Resolve(backend); err == nil {
		prims = b.Primitives
	}
	return func(e telemetry.Event) string {
		queue := prims[string(e.Name)]
		if !strings.HasPrefix(e.Service, "store:") {
			return queue
		}
		// The store's commit, then what the worker does on the broker
		// once it is durable (the ack).
		return strings.Join(slices.DeleteFunc([]string{st.Primitive(string(e.Name)), queue}, func(s string) bool { return s == "" }), "; ")
	}
}

func runTrace(ctx context.Context, a *app, o traceOptions) error {
	st, err := a.Store(ctx)
	if err != nil {
		return err
	}
	id, err := st.Resolve(ctx, o.ID)
	if err != nil {
		return err
	}
	ms, err := st.Missions(ctx, []string{id})
	if err != nil || len(ms) == 0 {
		return fmt.Errorf("store: mission %s: %v", id, err)
	}
	m := ms[0]
	evs, err := st.Events(ctx, store.EventFilter{MissionID: id})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	// Processes on one machine share a clock, but their events reach the
	// store in batches: order the timeline by time, not by arrival.
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	var start time.Time
	if len(evs) > 0 {
		start = evs[0].At
	}
	explain := func(telemetry.Event) string { return "" }
	if o.Explain {
		explain = explainer(a, st, m.Backend)
	}
	if a.json() {
		out := traceJSON{Mission: ops.MissionOf(m), Steps: make([]traceStep, len(evs))}
		for i, e := range evs {
			out.Steps[i] = traceStep{Event: ops.EventOf(e), OffsetMS: float64(e.At.Sub(start).Microseconds()) / 1000, Explain: explain(e)}
		}
		return writeJSON(a.Out, out)
	}
	fmt.Fprintf(a.Out, "mission %s: %s for %s, %s after %d/%d attempt(s), worker %s, score %d\n",
		m.ID, m.Type, m.Hero, m.Status, m.Attempt, m.MaxAttempts, dash(m.Worker), m.Score)
	if m.Error != "" {
		fmt.Fprintf(a.Out, "last error: %s\n", m.Error)
	}
	fmt.Fprintln(a.Out)
	var total time.Duration
	if len(evs) > 0 {
		total = evs[len(evs)-1].At.Sub(start)
	}
	// +GAP is measured from the row above; the events' own since_prev_ms
	// (in -o json and `events`) is measured by the emitting process from
	// the stage it last saw.
	cols := []string{"OFFSET", "+GAP", "SERVICE", "EVENT", "ATTEMPT", "TIMELINE", "DETAIL"}
	if o.Explain {
		cols = append(cols, "PRIMITIVE")
	}
	t := newTable(a.Out, cols...)
	prev := start
	for _, e := range evs {
		off := e.At.Sub(start)
		row := []any{"+" + off.Round(time.Millisecond).String(), fmtSince(e.At.Sub(prev)), e.Service, e.Name, e.Attempt,
			timeline(off, total, 24), dash(e.Detail)}
		if o.Explain {
			row = append(row, dash(explain(e)))
		}
		t.row(row...)
		prev = e.At
	}
	return t.flush()
}

// timeline draws where in the mission's life an event happened.
func timeline(off, total time.Duration, width int) string {
	pos := 0
	if total > 0 {
		pos = int(float64(off) / float64(total) * float64(width-1))
	}
	return "|" + strings.Repeat("·", pos) + "●" + strings.Repeat(" ", width-1-pos) + "|"
}
