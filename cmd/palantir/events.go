package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

type eventsOptions struct {
	Mission string
	Follow  bool
	Limit   int
}

func newEventsCmd(a *app, runF func(context.Context, *app, eventsOptions) error) *cobra.Command {
	var o eventsOptions
	cmd := &cobra.Command{
		Use:   "events",
		Short: "The telemetry feed",
		Long: `Show the telemetry events that every stage emits, oldest first: which
process (cli, broker:<backend>, worker:<name>, store:<driver>) did what to
which mission, and how long after the previous stage.

--follow keeps printing new events as they arrive, until interrupted. With
-o json, the events are one JSON array; with --follow -o json, one JSON
object per line (JSON Lines), since the stream never ends.

EXIT STATUS
  0  shown
  2  unknown mission id or bad flag
  3  store unreachable`,
		Example: `  palantir events --limit 20
  palantir events --mission bhqj51
  palantir events --follow`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runEvents(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Mission, "mission", "m", "", "only this mission (id or unique prefix)")
	f.BoolVarP(&o.Follow, "follow", "f", false, "stream new events until interrupted")
	f.IntVar(&o.Limit, "limit", 100, "show the newest this many (0: all)")
	return cmd
}

func (o eventsOptions) validate() error {
	if o.Limit < 0 {
		return usageErr("--limit must not be negative, got %d", o.Limit)
	}
	return nil
}

func runEvents(ctx context.Context, a *app, o eventsOptions) error {
	// A follower waits for the store a launch is about to make.
	open := a.ReadStore
	if o.Follow {
		open = a.Store
	}
	st, err := open(ctx)
	if err != nil {
		return err
	}
	f := store.EventFilter{Limit: o.Limit}
	if o.Mission != "" {
		if f.MissionID, err = st.Resolve(ctx, o.Mission); err != nil {
			return err
		}
	}
	evs, err := st.Events(ctx, f)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if !o.Follow {
		// Processes write their events in batches, and a mission's outcome
		// events with the outcome itself: list them by time, not by arrival
		// (as trace does).
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
		if a.json() {
			out := make([]ops.Event, len(evs))
			for i, e := range evs {
				out[i] = ops.EventOf(e)
			}
			return a.writeJSON(out)
		}
		t := newTable(a.Out, eventHeader...)
		for _, e := range evs {
			t.row(eventCells(e)...)
		}
		return t.flush()
	}
	return followEvents(ctx, a, st, f, evs)
}

// followFormat aligns streamed rows, which no table can wait for.
const followFormat = "%-12s  %-21s  %-12s  %-7v  %-16s  %-11s  %s\n"

var eventHeader = []string{"TIME", "EVENT", "MISSION", "ATTEMPT", "SERVICE", "+SINCE PREV", "DETAIL"}

func eventCells(e telemetry.Event) []any {
	return []any{fmtTime(e.At), e.Name, e.MissionID, e.Attempt, e.Service, fmtSince(e.SincePrev), dash(e.Detail)}
}

func fmtSince(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("+%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("+%.1fms", float64(d.Microseconds())/1000)
	default:
		return "+" + d.Round(time.Millisecond).String()
	}
}

// followEvents prints evs and then every new event until ctx ends.
func followEvents(ctx context.Context, a *app, st *store.Store, f store.EventFilter, evs []telemetry.Event) error {
	// A stream has no end: JSON Lines, each event through --json and
	// --template as any JSON document is.
	a.compactJSON = true
	print := func(e telemetry.Event) error {
		if a.json() {
			return a.writeJSON(ops.EventOf(e))
		}
		_, err := fmt.Fprintf(a.Out, followFormat, eventCells(e)...)
		return err
	}
	if err := a.checkTemplate(ops.Event{}); err != nil {
		return err
	}
	if !a.json() {
		fmt.Fprintf(a.Out, followFormat, anySlice(eventHeader)...)
	}
	after := int64(0)
	for _, e := range evs {
		if err := print(e); err != nil {
			return err
		}
		after = max(after, e.ID)
	}
	if after == 0 && len(evs) == 0 && f.Limit > 0 {
		// Nothing yet: start from the newest id so old events are not replayed.
		if last, err := st.LastEventID(ctx); err == nil {
			after = last
		}
	}
	cur := st.FollowEvents(f.MissionID, after)
	out := outage{a: a}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
		more, err := cur.Next(ctx)
		if err != nil {
			if !out.failed(ctx, fmt.Errorf("store: %w", err)) {
				return nil
			}
			continue
		}
		out.ok()
		for _, e := range more {
			if err := print(e); err != nil {
				return err
			}
		}
	}
}
