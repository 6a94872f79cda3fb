package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
)

func newTraceCmd(a *app, runF func(context.Context, *app, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   "trace ID",
		Short: "One mission's stages as a timeline",
		Long: `Show one mission's life as a timeline: every stage, which service did it
(cli, broker:<backend>, worker:<name>, store:<driver>), when (OFFSET from the
first event), and the GAP since the row above: queue waits, backoffs and
stage durations. Retries and redeliveries show as repeated
attempts.

EXIT STATUS
  0  shown
  2  unknown or ambiguous id
  3  store unreachable`,
		Example: `  palantir trace bhqj51
  palantir trace bhqj51 -o json`,
		Args: argsUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), a, args[0])
			}
			return runTrace(cmd.Context(), a, args[0])
		},
	}
}

// traceJSON is the -o json shape of a trace.
type traceJSON struct {
	Mission ops.Mission `json:"mission"`
	Steps   []traceStep `json:"steps"`
}

type traceStep struct {
	ops.Event
	OffsetMS float64 `json:"offset_ms"`
}

func runTrace(ctx context.Context, a *app, arg string) error {
	st, err := a.Store(ctx)
	if err != nil {
		return err
	}
	id, err := st.Resolve(ctx, arg)
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
	if a.json() {
		out := traceJSON{Mission: ops.MissionOf(m), Steps: make([]traceStep, len(evs))}
		for i, e := range evs {
			out.Steps[i] = traceStep{Event: ops.EventOf(e), OffsetMS: float64(e.At.Sub(start).Microseconds()) / 1000}
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
	t := newTable(a.Out, "OFFSET", "+GAP", "SERVICE", "EVENT", "ATTEMPT", "TIMELINE", "DETAIL")
	prev := start
	for _, e := range evs {
		off := e.At.Sub(start)
		t.row("+"+off.Round(time.Millisecond).String(), fmtSince(e.At.Sub(prev)), e.Service, e.Name, e.Attempt,
			timeline(off, total, 24), dash(e.Detail))
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
