package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/ops"
)

// leaderboardOptions are leaderboard's flags: none yet.
type leaderboardOptions struct{}

func (o leaderboardOptions) validate() error { return nil }

func newLeaderboardCmd(a *app, runF func(context.Context, *app, leaderboardOptions) error) *cobra.Command {
	var o leaderboardOptions
	return &cobra.Command{
		Use:   "leaderboard",
		Short: "Heroes ranked by score",
		Long: `Rank the heroes by the points their successful missions earned: more for
longer missions (recon 50, consult 30, raven 10), half as much again for
success on the first attempt. Each mission scores once, however often it
was delivered.

EXIT STATUS
  0  shown
  3  store unreachable`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runLeaderboard(cmd.Context(), a, o)
		},
	}
}

func runLeaderboard(ctx context.Context, a *app, _ leaderboardOptions) error {
	st, err := a.ReadStore(ctx)
	if err != nil {
		return err
	}
	rows, err := ops.Leaderboard(ctx, st)
	if err != nil {
		return err
	}
	if a.json() {
		return a.writeJSON(rows)
	}
	t := newTable(a.Out, "RANK", "HERO", "POINTS", "MISSIONS", "FIRST TRY")
	for _, r := range rows {
		t.row(r.Rank, r.Hero, r.Points, r.Missions, r.FirstTry)
	}
	return t.flush()
}
