package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/verify"
)

type verifyOptions struct {
	RestartCmd string
	Lease      time.Duration
}

func (o verifyOptions) validate() error {
	if o.Lease < 100*time.Millisecond || o.Lease > time.Minute {
		return usageErr("verify: --scratch-lease %v is out of range (100ms–1m)", o.Lease)
	}
	return nil
}

func newVerifyCmd(a *app, runF func(context.Context, *app, verifyOptions) error) *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify [--restart-cmd CMD]",
		Short: "Measure the broker's delivery semantics: the guarantees matrix, live",
		Long: `Run short scenarios against --backend's live broker, on scratch queues
(verify-<random>-<scenario>, deleted afterwards; --queue is never touched),
and print what holds, with the figure measured:

  redelivery after a consumer dies   one consumer receives and goes away
                                     unsettled; another must get it (how long)
  lease extension keeps a message    extended every lease/3 for 2.5 leases, no
                                     other consumer may get it
  delayed retry accuracy             Retry(1s) five messages: lateness min /
                                     median / max; holds when none is early by
                                     more than 10ms and the median is under 500ms
  dead letters listed and replayed   dead-lettered with a reason, listed with
                                     it, replayed as attempt 1
  ordering within a queue            50 published at once, one consumer with
                                     prefetch 1: how many out of order
  a stalled consumer's message is    a connected consumer that neither settles
  redelivered after the lease        nor extends: does another one get it?
  durability across a broker restart 20 published, --restart-cmd run, how many
                                     are still there (not measured without it)

The scratch queues use a lease of --scratch-lease (default 1s), not --lease.
The whole run takes about 10 s on a local broker. Progress goes to stderr;
stdout gets a table, or with -o json one array of objects with scenario,
verdict (holds, does not hold, not measured), figure, note, duration_ms.
See docs/verify.md for what each row teaches.

"does not hold" is a finding about the broker, not a failure of verify:
the exit status is still 0.

EXIT STATUS
  0  every scenario reached a verdict (holds, does not hold, or not
     measured for want of --restart-cmd)
  1  a scenario could not run to a verdict (its row says why)
  2  bad arguments or configuration
  3  the broker is unreachable`,
		Example: `  palantir verify                           # inproc
  palantir verify --backend redis
  palantir verify --backend rabbitmq -o json
  palantir verify --backend redis --restart-cmd 'sudo systemctl restart redis-server'`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runVerify(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.RestartCmd, "restart-cmd", "", "shell command that restarts the broker, to measure durability (e.g. 'systemctl restart redis')")
	f.DurationVar(&o.Lease, "scratch-lease", verify.DefaultLease, "visibility timeout of the scratch queues (100ms–1m)")
	return cmd
}

func runVerify(ctx context.Context, a *app, o verifyOptions) error {
	cfg, err := a.backendConfig()
	if err != nil {
		return redactErr(err)
	}
	rows, err := verify.Run(ctx, a.be, cfg, verify.Options{Lease: o.Lease, RestartCmd: o.RestartCmd, Progress: a.Err})
	if err != nil && !errors.Is(err, verify.ErrScenario) {
		return redactErr(fmt.Errorf("verify %s: %w", a.be.Name, err))
	}
	if rows == nil {
		rows = []verify.Result{}
	}
	if a.json() {
		if werr := a.writeJSON(rows); werr != nil {
			return werr
		}
	} else {
		t := newTable(a.Out, "SCENARIO", "VERDICT", "FIGURE", "NOTE")
		for _, r := range rows {
			t.row(r.Scenario, r.Verdict, r.Figure, r.Note)
		}
		if werr := t.flush(); werr != nil {
			return werr
		}
	}
	return redactErr(err)
}
