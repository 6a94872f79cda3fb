package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

func newDLQCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Dead letters: list them, send them back, delete them",
		Long: `Dead letters are messages palantir gave up on: missions that failed their
last attempt, and messages that could not be decoded. They live beside the
work queue (RabbitMQ queue Q.dead, Redis stream palantir:{Q}:dead) or, for
inproc, in the store.`,
		Args: argsUsage(cobra.NoArgs),
	}
	cmd.AddCommand(newDLQListCmd(a, nil), newDLQReplayCmd(a, nil), newDLQDeleteCmd(a, nil))
	return cmd
}

// dlqListOptions are dlq list's flags.
type dlqListOptions struct {
	Limit int
}

func newDLQListCmd(a *app, runF func(context.Context, *app, dlqListOptions) error) *cobra.Command {
	var o dlqListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, oldest first",
		Long: `List the dead letters of the current backend's queue, oldest first, with
the reason each was given up on.

EXIT STATUS
  0  listed (possibly nothing)
  2  bad flag
  3  broker or store unreachable`,
		Example: `  palantir dlq list
  palantir dlq list --backend rabbitmq -o json`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runDLQList(cmd.Context(), a, o)
		},
	}
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "at most this many (0: all)")
	return cmd
}

// validate: a negative --limit once listed everything, as 0 does; it is
// refused as events and history refuse it.
func (o dlqListOptions) validate() error {
	if o.Limit < 0 {
		return usageErr("--limit must not be negative, got %d", o.Limit)
	}
	return nil
}

func runDLQList(ctx context.Context, a *app, o dlqListOptions) error {
	q, err := a.InspectQueue(ctx)
	var dead []backends.DeadLetter
	if err == nil {
		dead, err = q.DeadLetters(ctx, o.Limit)
	}
	if errors.Is(err, backends.ErrNoQueue) {
		dead, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("list dead letters of %s queue %q: %w", a.be.Name, a.cfg.Queue, err)
	}
	rows := make([]ops.DeadLetter, len(dead))
	for i, dl := range dead {
		rows[i] = ops.DeadLetterOf(dl)
	}
	if a.json() {
		return a.writeJSON(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(a.Err, "no dead letters on %s queue %q\n", a.be.Name, a.cfg.Queue)
		return nil
	}
	t := newTable(a.Out, "ID", "TYPE", "HERO", "ATTEMPT", "DEAD AT", "REASON")
	for _, r := range rows {
		t.row(r.ID, dash(r.Type), dash(r.Hero), r.Attempt, r.DeadAt.Local().Format("01-02 15:04:05"), truncate(r.Reason, 70))
	}
	return t.flush()
}

type replayOptions struct {
	IDs     []string
	Wait    bool
	Workers int
	// Overrides are --fail-rate, --max-attempts and --speed, those given.
	Overrides store.Overrides
}

func newDLQReplayCmd(a *app, runF func(context.Context, *app, replayOptions) error) *cobra.Command {
	var o replayOptions
	var failRate, speed float64
	var maxAttempts int
	cmd := &cobra.Command{
		Use:   "replay [ID...]",
		Short: "Send dead letters back to the queue",
		Long: `Send the dead letters with these ids (or unique prefixes), or all of them,
back to the work queue as attempt 1. Their missions become QUEUED again.

With inproc, the queue lives in this process, so replay runs --workers
embedded workers and waits, as launch does. With a broker, running workers
take the replayed missions; --wait follows them.

EXIT STATUS
  0  replayed (with --wait: all SUCCESS)
  1  with --wait: a replayed mission ended in FAILURE
  2  an id matches no dead letter, or several
  3  broker or store unreachable`,
		Example: `  palantir dlq replay            # all of them
  palantir dlq replay bhqj51 --backend redis --wait
  palantir dlq replay --fail-rate 0 --max-attempts 5   # give them a chance`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.IDs = args
			if cmd.Flags().Changed("fail-rate") {
				o.Overrides.FailRate = &failRate
			}
			if cmd.Flags().Changed("max-attempts") {
				o.Overrides.MaxAttempts = &maxAttempts
			}
			if cmd.Flags().Changed("speed") {
				o.Overrides.Speed = &speed
			}
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runDLQReplay(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVarP(&o.Wait, "wait", "w", false, "follow the replayed missions to the end (always on with inproc)")
	cmd.Flags().IntVar(&o.Workers, "workers", 2, "embedded workers for the inproc backend")
	cmd.Flags().Float64Var(&failRate, "fail-rate", 0, "replay with this fail rate instead of the one each mission carries (0 to 1)")
	cmd.Flags().IntVar(&maxAttempts, "max-attempts", 0, "replay with this many attempts instead of the mission's own (1 to 100)")
	cmd.Flags().Float64Var(&speed, "speed", 0, "replay at this speed instead of the mission's own")
	return cmd
}

func (o replayOptions) validate() error {
	if o.Workers < 1 || o.Workers > 64 {
		return usageErr("--workers must be between 1 and 64, got %d", o.Workers)
	}
	if err := ops.CheckOverrides(o.Overrides, ops.Flag); err != nil {
		return usageErr("%s", strings.TrimPrefix(err.Error(), ops.ErrInvalid.Error()+": "))
	}
	return nil
}

func runDLQReplay(ctx context.Context, a *app, o replayOptions) error {
	st, q, err := a.StoreAndQueue(ctx)
	if err != nil {
		return err
	}
	tel := telemetry.NewRecorder(st, a.log)
	defer tel.Close()
	r := &ops.Replayer{Store: st, Queue: q, Telemetry: tel, Backend: a.be.Name, QueueName: a.cfg.Queue, Now: a.now}
	r.Overrides = o.Overrides
	replayed, err := r.Replay(ctx, o.IDs)
	if err != nil {
		return fmt.Errorf("dlq replay: %w", err)
	}
	if len(replayed) == 0 {
		fmt.Fprintf(a.Err, "no dead letters on %s queue %q\n", a.be.Name, a.cfg.Queue)
		return emptyResult(a)
	}
	fmt.Fprintf(a.Err, "replayed %d dead letter(s) to %s queue %q\n", len(replayed), a.be.Name, a.cfg.Queue)
	missions, err := st.Missions(ctx, replayed)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	known, strange := ops.SplitReplayed(replayed, missions) // malformed messages have no mission to follow
	if len(strange) > 0 {
		// -o json lists mission objects; these have none, so say them here.
		fmt.Fprintf(a.Err, "replayed %d message(s) that are not missions (a worker will dead-letter them again): %s\n",
			len(strange), strings.Join(strange, " "))
	}
	embedded := a.be.Embedded
	if !o.Wait && !embedded {
		if a.json() {
			return a.writeJSON(ops.Missions(missions))
		}
		for _, id := range replayed {
			fmt.Fprintln(a.Out, id)
		}
		return nil
	}
	var final []store.Mission
	if embedded {
		final, err = runEmbedded(ctx, a, q, st, tel, o.Workers, known)
	} else {
		final, err = waitMissions(ctx, a, st, known)
	}
	if err != nil {
		return err
	}
	return reportFinal(a, final)
}

// emptyResult prints the empty document scripts expect.
func emptyResult(a *app) error {
	if a.json() {
		return a.writeJSON([]any{})
	}
	return nil
}

// dlqDeleteOptions are dlq delete's arguments and flags.
type dlqDeleteOptions struct {
	IDs []string
	All bool
}

func newDLQDeleteCmd(a *app, runF func(context.Context, *app, dlqDeleteOptions) error) *cobra.Command {
	var o dlqDeleteOptions
	cmd := &cobra.Command{
		Use:   "delete ID... | --all",
		Short: "Delete dead letters for good",
		Long: `Delete the dead letters with these ids (or unique prefixes of at least four
characters), or all of them with --all. Their missions stay FAILURE in the
store; only the messages go.

EXIT STATUS
  0  deleted
  2  no id and no --all, both, or an id that matches no dead letter, or several
  3  broker or store unreachable`,
		Example: `  palantir dlq delete bhqj51
  palantir dlq delete --all --backend redis --queue lab3`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.IDs = args
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runDLQDelete(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "delete every dead letter of the queue")
	return cmd
}

func (o dlqDeleteOptions) validate() error {
	switch {
	case len(o.IDs) == 0 && !o.All:
		return usageErr("dlq delete needs ids of dead letters, or --all")
	case len(o.IDs) > 0 && o.All:
		return usageErr("dlq delete takes ids or --all, not both")
	}
	return nil
}

func runDLQDelete(ctx context.Context, a *app, o dlqDeleteOptions) error {
	q, err := a.Queue(ctx)
	if err != nil {
		return err
	}
	var ids []string
	if !o.All {
		dead, err := q.DeadLetters(ctx, 0)
		if err != nil {
			return fmt.Errorf("list dead letters of %s queue %q: %w", a.be.Name, a.cfg.Queue, err)
		}
		if ids, err = ops.MatchDead(dead, o.IDs); err != nil {
			return err
		}
	}
	deleted, err := q.DeleteDeadLetters(ctx, ids...)
	if err != nil {
		return fmt.Errorf("dlq delete: %w", err)
	}
	fmt.Fprintf(a.Err, "deleted %d dead letter(s) from %s queue %q\n", len(deleted), a.be.Name, a.cfg.Queue)
	if deleted == nil {
		deleted = []string{} // JSON: an empty list, not null
	}
	if a.json() {
		return a.writeJSON(deleted)
	}
	for _, id := range deleted {
		fmt.Fprintln(a.Out, id)
	}
	return nil
}
