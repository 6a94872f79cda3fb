package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/ops"
)

func newLeaderboardCmd(a *app, runF func(context.Context, *app) error) *cobra.Command {
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
			if runF != nil {
				return runF(cmd.Context(), a)
			}
			return runLeaderboard(cmd.Context(), a)
		},
	}
}

func runLeaderboard(ctx context.Context, a *app) error {
	st, err := a.Store(ctx)
	if err != nil {
		return err
	}
	rows, err := ops.Leaderboard(ctx, st)
	if err != nil {
		return err
	}
	if a.json() {
		return writeJSON(a.Out, rows)
	}
	t := newTable(a.Out, "RANK", "HERO", "POINTS", "MISSIONS", "FIRST TRY")
	for _, r := range rows {
		t.row(r.Rank, r.Hero, r.Points, r.Missions, r.FirstTry)
	}
	return t.flush()
}
