package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/ops"
)

// purgeOptions are purge's flags.
type purgeOptions struct {
	Yes bool
	// All deletes the queue's every broker object, dead letters and
	// in-flight messages included.
	All bool
	// Dead deletes the dead letters too.
	Dead bool
}

func newPurgeCmd(a *app, runF func(context.Context, *app, purgeOptions) error) *cobra.Command {
	var o purgeOptions
	cmd := &cobra.Command{
		Use:   "purge [--dead | --all]",
		Short: "Empty the queue of the current backend",
		Long: `Remove every waiting message (ready and delayed retries) from the current
backend's work queue. Missions in flight and dead letters are kept. The
purged missions are marked FAILURE ("purged") in the store, so that nothing
stays QUEUED forever.

--dead deletes the queue's dead letters too (as 'dlq delete --all'),
keeping the missions in flight.

--all deletes everything the backend keeps for the queue: the work queue
itself, its delayed retries, its dead letters and the messages in flight
(streams, queues, tables rows, as the backend names them), to leave a
broker clean after a lab. Workers still running on the queue lose their
leases. The inproc backend keeps nothing outside its process: there --all
is a usage error.

Asks for confirmation on a terminal; elsewhere --yes is required.

EXIT STATUS
  0  purged (or declined at the prompt)
  2  not confirmed (no terminal and no --yes), or --all on inproc
  3  broker or store unreachable`,
		Example: `  palantir purge --backend redis --yes
  palantir purge --dead --backend redis --yes   # the dead letters too
  palantir purge --all --backend rabbitmq --queue lab3 --yes`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(a); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runPurge(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.Dead, "dead", false, "delete the queue's dead letters too")
	cmd.Flags().BoolVar(&o.All, "all", false, "delete the queue's every broker object: dead letters and in-flight messages too")
	return cmd
}

// validate refuses --all where the backend keeps nothing outside this
// process, and a purge nobody can confirm: no --yes and no terminal to
// ask on.
func (o purgeOptions) validate(a *app) error {
	switch {
	case o.All && o.Dead:
		return usageErr("purge: give --dead or --all, not both (--all deletes the dead letters too)")
	case o.All && a.be.Embedded:
		return usageErr("purge --all: the %s backend keeps nothing outside its process; plain purge empties it", a.be.Name)
	case !o.Yes && !isTTY(a.Err):
		return usageErr("purge: refusing to empty %s queue %q without --yes", a.be.Name, a.cfg.Queue)
	}
	return nil
}

func runPurge(ctx context.Context, a *app, o purgeOptions) error {
	what := "Empty"
	if o.Dead {
		what = "Empty, dead letters too,"
	}
	if o.All {
		what = "Delete everything of"
	}
	if !o.Yes {
		fmt.Fprintf(a.Err, "%s %s queue %q? Waiting missions are lost. [y/N] ", what, a.be.Name, a.cfg.Queue)
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
	p := &ops.Purger{Store: st, Queue: q, Backend: a.be.Name, QueueName: a.cfg.Queue, Now: a.now}
	purge := func(ctx context.Context) (ops.PurgeResult, error) { return p.Purge(ctx, o.All) }
	if o.Dead {
		purge = p.PurgeDead
	}
	res, err := purge(ctx)
	if err != nil {
		return err
	}
	if a.json() {
		return a.writeJSON([]map[string]any{{"backend": a.be.Name, "queue": a.cfg.Queue, "purged": res.Purged, "missions_marked": res.Marked,
			"deleted": res.Deleted, "dead_letters_deleted": res.DeadDeleted}})
	}
	fmt.Fprintf(a.Out, "purged %d message(s) from %s queue %q; %d waiting mission(s) marked FAILURE\n", res.Purged, a.be.Name, a.cfg.Queue, res.Marked)
	if o.Dead {
		fmt.Fprintf(a.Out, "deleted %d dead letter(s)\n", res.DeadDeleted)
	}
	if res.Deleted {
		fmt.Fprintf(a.Out, "deleted every object of %s queue %q, dead letters included\n", a.be.Name, a.cfg.Queue)
	}
	return nil
}
