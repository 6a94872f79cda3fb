package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/ops"
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

func runTrace(ctx context.Context, a *app, o traceOptions) error {
	st, err := a.ReadStore(ctx)
	if err != nil {
		return err
	}
	tr, err := ops.LoadTrace(ctx, st, a.registry, o.ID, o.Explain)
	if err != nil {
		return err
	}
	if a.json() {
		return a.writeJSON(ops.TraceObjectOf(tr))
	}
	m := tr.Mission
	fmt.Fprintf(a.Out, "mission %s: %s for %s, %s after %d/%d attempt(s), worker %s, score %d\n",
		m.ID, m.Type, m.Hero, m.Status, m.Attempt, m.MaxAttempts, dash(m.Worker), m.Score)
	if m.Error != "" {
		fmt.Fprintf(a.Out, "last error: %s\n", m.Error)
	}
	fmt.Fprintln(a.Out)
	// +GAP is measured from the row above; the events' own since_prev_ms
	// (in -o json and `events`) is measured by the emitting process from
	// the stage it last saw.
	cols := []string{"OFFSET", "+GAP", "SERVICE", "EVENT", "ATTEMPT", "TIMELINE", "DETAIL"}
	if o.Explain {
		cols = append(cols, "PRIMITIVE")
	}
	t := newTable(a.Out, cols...)
	for _, s := range tr.Steps {
		row := []any{"+" + s.Offset.Round(time.Millisecond).String(), fmtSince(s.Gap), s.Service, s.Name, s.Attempt,
			timeline(s.Offset, tr.Total, 24), dash(s.Detail)}
		if o.Explain {
			row = append(row, dash(s.Explain))
		}
		t.row(row...)
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
