package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newPurgeCmd(a *app, runF func(context.Context, *app, bool) error) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Empty the queue of the current backend",
		Long: `Remove every waiting message (ready and delayed retries) from the current
backend's work queue. Missions in flight and dead letters are kept. The
purged missions are marked FAILURE ("purged") in the store, so that nothing
stays QUEUED forever.

Asks for confirmation on a terminal; elsewhere --yes is required.

EXIT STATUS
  0  purged (or declined at the prompt)
  2  not confirmed (no terminal and no --yes)
  3  broker or store unreachable`,
		Example: `  palantir purge --backend redis --yes`,
		Args:    argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), a, yes)
			}
			return runPurge(cmd.Context(), a, yes)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func runPurge(ctx context.Context, a *app, yes bool) error {
	if !yes {
		if !isTTY(a.Err) {
			return usageErr("purge: refusing to empty %s queue %q without --yes", a.be.Name, a.cfg.Queue)
		}
		fmt.Fprintf(a.Err, "Empty %s queue %q? Waiting missions are lost. [y/N] ", a.be.Name, a.cfg.Queue)
		answer, _ := bufio.NewReader(a.In).ReadString('\n')
		if ans := strings.ToLower(strings.TrimSpace(answer)); ans != "y" && ans != "yes" {
			fmt.Fprintln(a.Err, "not purged")
			return nil
		}
	}
	st, q, err := a.StoreAndQueue(ctx)
	if err != nil {
		return err
	}
	n, err := q.Purge(ctx)
	if err != nil {
		return fmt.Errorf("purge %s queue %q: %w", a.be.Name, a.cfg.Queue, err)
	}
	marked, err := st.MarkPurged(ctx, a.be.Name, a.cfg.Queue, time.Now())
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if a.json() {
		return writeJSON(a.Out, []map[string]any{{"backend": a.be.Name, "queue": a.cfg.Queue, "purged": n, "missions_marked": marked}})
	}
	fmt.Fprintf(a.Out, "purged %d message(s) from %s queue %q; %d waiting mission(s) marked FAILURE\n", n, a.be.Name, a.cfg.Queue, marked)
	return nil
}
