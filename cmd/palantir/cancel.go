package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// cancelOptions are cancel's arguments.
type cancelOptions struct {
	IDs []string
}

func newCancelCmd(a *app, runF func(context.Context, *app, cancelOptions) error) *cobra.Command {
	var o cancelOptions
	cmd := &cobra.Command{
		Use:   "cancel ID...",
		Short: "End missions that have not ended: queued ones never run, running ones stop",
		Long: `Cancel missions: each one that has not ended becomes FAILURE with the
error "cancelled", at once and for good (dlq replay does not bring it back:
launch it again instead).

Its message stays where it is. A mission waiting in the queue is dropped
by the worker that takes it, unrun (acknowledged, not dead-lettered). A
running mission stops within one worker heartbeat (a second), unscored.
Cancel talks to the store only, so it works on every backend, from any
terminal on the store.

A mission that had already ended is left as it is, and said so on stderr.
IDs may be unique prefixes of four characters or more.

EXIT STATUS
  0  every mission given has ended (now or before)
  2  no ID, or an unknown or ambiguous one (nothing is cancelled then)
  3  store unreachable`,
		Example: `  palantir cancel bhqj51
  palantir cancel $(palantir history --status QUEUED -o json | jq -r '.[].id')`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("cancel needs a mission ID (see 'palantir history')")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.IDs = args
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runCancel(cmd.Context(), a, o)
		},
	}
	return cmd
}

func runCancel(ctx context.Context, a *app, o cancelOptions) error {
	st, err := a.ReadStore(ctx)
	if err != nil {
		return err
	}
	ids, err := ops.ResolveIDs(ctx, st, o.IDs)
	if err != nil {
		return err
	}
	ids = uniqueIDs(ids) // an id and its prefix are one mission
	tel := telemetry.NewRecorder(st, a.log)
	defer tel.Close()
	ended, err := ops.Cancel(ctx, st, tel, ids, telemetry.CLI(), a.now())
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	ms, err := st.Missions(ctx, ids)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var now []store.Mission
	for _, m := range ms {
		if slices.Contains(ended, m.ID) {
			now = append(now, m)
		} else {
			fmt.Fprintf(a.Err, "%s had already ended (%s); left as it is\n", m.ID, m.Status)
		}
	}
	if a.json() {
		return a.writeJSON(ops.Missions(now))
	}
	if len(now) == 0 {
		return nil
	}
	return missionTable(a.Out, now)
}

// uniqueIDs is ids without repeats, in their first order.
func uniqueIDs(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
