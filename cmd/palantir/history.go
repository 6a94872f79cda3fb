package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
)

type historyOptions struct {
	Query  ops.HistoryQuery
	Filter store.Filter // Query, checked
	Plan   string       // a file of mission types that --type may name
}

func newHistoryCmd(a *app, runF func(context.Context, *app, historyOptions) error) *cobra.Command {
	var o historyOptions
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Past missions, newest first",
		Long: `List missions from the store, newest first, with who executed them, how
many attempts they took and what they scored.

EXIT STATUS
  0  listed (possibly nothing)
  2  bad filter
  3  store unreachable`,
		Example: `  palantir history
  palantir history --status FAILURE --since 1h
  palantir history --worker eagle1 --limit 5 -o json`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Query.Backend != "" {
				// A URL, as launch took it, filters by the backend it
				// selects (the root has resolved it).
				o.Query.Backend = a.be.Name
			}
			defined, err := definedTypes(a.cfg, o.Plan)
			if err != nil {
				return err
			}
			o.Query.Defined = defined
			if err := o.validate(a.now()); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runHistory(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Query.Type, "type", "", "only this type (recon, consult, raven, or one the config's missions: or --plan defines)")
	f.StringVar(&o.Plan, "plan", "", "YAML `FILE` defining mission types, as launch --plan takes")
	_ = cmd.MarkFlagFilename("plan", "yaml", "yml")
	f.StringVar(&o.Query.Status, "status", "", "only this state (PENDING, QUEUED, STARTED, PROCESSING, RETRY, SUCCESS, FAILURE)")
	f.StringVar(&o.Query.Hero, "hero", "", "only this hero")
	f.StringVar(&o.Query.Worker, "worker", "", "only missions executed by this worker")
	// Here --backend filters: history reads the store and needs no broker.
	f.StringVar(&o.Query.Backend, "backend", "", "only missions launched on this backend: "+strings.Join(a.registry.Names(), ", ")+", or a URL whose scheme picks one")
	f.StringVar(&o.Query.Since, "since", "", "only missions created within this long (e.g. 30m, 2h, 7d)")
	f.IntVar(&o.Query.Limit, "limit", 20, "at most this many (0: all)")
	return cmd
}

// validate checks the filter and resolves --since against now.
func (o *historyOptions) validate(now time.Time) error {
	f, err := o.Query.Filter(now, ops.Flag)
	o.Filter = f
	return err
}

func runHistory(ctx context.Context, a *app, o historyOptions) error {
	st, err := a.ReadStore(ctx)
	if err != nil {
		return err
	}
	ms, err := st.History(ctx, o.Filter)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if a.json() {
		return a.writeJSON(ops.Missions(ms))
	}
	if len(ms) == 0 {
		fmt.Fprintln(a.Err, "no missions match; launch some with 'palantir launch fellowship --wait'")
		return nil
	}
	t := newTable(a.Out, "CREATED", "ID", "TYPE", "HERO", paintState(a.Out, "STATUS"), "ATTEMPTS", "WORKER", "BACKEND", "SCORE", "TOTAL TIME", "ERROR")
	for _, m := range ms {
		t.row(m.CreatedAt.Local().Format("01-02 15:04:05"), m.ID, m.Type, m.Hero, paintState(a.Out, string(m.Status)),
			fmt.Sprintf("%d/%d", m.Attempt, m.MaxAttempts), dash(m.Worker), m.Backend, m.Score, duration(m), dash(truncate(m.Error, 45)))
	}
	return t.flush()
}
