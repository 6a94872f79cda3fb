package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

func newDLQCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Dead letters: list them, send them back",
		Long: `Dead letters are messages palantir gave up on: missions that failed their
last attempt, and messages that could not be decoded. They live beside the
work queue (RabbitMQ queue Q.dead, Redis stream palantir:{Q}:dead) or, for
inproc, in the store.`,
		Args: argsUsage(cobra.NoArgs),
	}
	cmd.AddCommand(newDLQListCmd(a, nil), newDLQReplayCmd(a, nil))
	return cmd
}

type deadJSON struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Hero    string    `json:"hero"`
	Attempt int       `json:"attempt"`
	Reason  string    `json:"reason"`
	DeadAt  time.Time `json:"dead_at"`
	Body    string    `json:"body,omitempty"` // only when it is not a mission
}

func toDeadJSON(dl backends.DeadLetter) deadJSON {
	out := deadJSON{ID: dl.ID, Attempt: dl.Attempt, Reason: dl.Reason, DeadAt: dl.DeadAt.UTC()}
	if o, err := mission.Decode(dl.Body); err == nil {
		out.Type, out.Hero = string(o.Type), o.Hero
	} else {
		out.Body = truncate(strings.ToValidUTF8(string(dl.Body), "?"), 200)
	}
	return out
}

func newDLQListCmd(a *app, runF func(context.Context, *app, int) error) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, oldest first",
		Long: `List the dead letters of the current backend's queue, oldest first, with
the reason each was given up on.

EXIT STATUS
  0  listed (possibly nothing)
  3  broker or store unreachable`,
		Example: `  palantir dlq list
  palantir dlq list --backend rabbitmq -o json`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), a, limit)
			}
			return runDLQList(cmd.Context(), a, limit)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many (0: all)")
	return cmd
}

func runDLQList(ctx context.Context, a *app, limit int) error {
	q, err := a.Queue(ctx)
	if err != nil {
		return err
	}
	dead, err := q.DeadLetters(ctx, limit)
	if err != nil {
		return fmt.Errorf("list dead letters of %s queue %q: %w", a.be.Name, a.cfg.Queue, err)
	}
	rows := make([]deadJSON, len(dead))
	for i, dl := range dead {
		rows[i] = toDeadJSON(dl)
	}
	if a.json() {
		return writeJSON(a.Out, rows)
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
}

func newDLQReplayCmd(a *app, runF func(context.Context, *app, replayOptions) error) *cobra.Command {
	var o replayOptions
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
  palantir dlq replay bhqj51 --backend redis --wait`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.IDs = args
			if o.Workers < 1 || o.Workers > 64 {
				return usageErr("--workers must be between 1 and 64, got %d", o.Workers)
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runDLQReplay(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVarP(&o.Wait, "wait", "w", false, "follow the replayed missions to the end (always on with inproc)")
	cmd.Flags().IntVar(&o.Workers, "workers", 2, "embedded workers for the inproc backend")
	return cmd
}

// matchDead resolves ids or unique prefixes against the dead letters.
func matchDead(dead []backends.DeadLetter, args []string) ([]string, error) {
	var ids []string
	for _, arg := range args {
		arg = strings.ToLower(arg)
		var hits []string
		for _, dl := range dead {
			if dl.ID == arg {
				hits = []string{dl.ID}
				break
			}
			if len(arg) >= 4 && strings.HasPrefix(strings.ToLower(dl.ID), arg) {
				hits = append(hits, dl.ID)
			}
		}
		switch len(hits) {
		case 0:
			return nil, usageErr("dlq replay: no dead letter %q (see 'palantir dlq list')", arg)
		case 1:
			ids = append(ids, hits[0])
		default:
			return nil, usageErr("dlq replay: %q matches %d dead letters; type more of it", arg, len(hits))
		}
	}
	return ids, nil
}

func runDLQReplay(ctx context.Context, a *app, o replayOptions) error {
	st, q, err := a.StoreAndQueue(ctx)
	if err != nil {
		return err
	}
	dead, err := q.DeadLetters(ctx, 0)
	if err != nil {
		return fmt.Errorf("list dead letters of %s queue %q: %w", a.be.Name, a.cfg.Queue, err)
	}
	ids, err := matchDead(dead, o.IDs)
	if err != nil {
		return err
	}
	if len(dead) == 0 {
		fmt.Fprintf(a.Err, "no dead letters on %s queue %q\n", a.be.Name, a.cfg.Queue)
		return emptyResult(a)
	}
	if len(ids) == 0 {
		for _, dl := range dead {
			ids = append(ids, dl.ID)
		}
	}
	// Reset first, so a worker that takes a replayed message at once finds
	// its mission ready to run rather than already FAILURE.
	if err := st.ResetFailed(ctx, ids, time.Now()); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	replayed, err := q.Replay(ctx, ids...)
	if err != nil {
		return fmt.Errorf("replay to %s queue %q: %w", a.be.Name, a.cfg.Queue, err)
	}
	tel := telemetry.NewRecorder(st, a.log)
	defer tel.Close()
	now := time.Now()
	for _, id := range replayed {
		tel.Emit(telemetry.Event{Name: telemetry.MissionQueued, MissionID: id, Attempt: 1, Service: telemetry.Broker(a.be.Name),
			Detail: "replayed from the dead letters", At: now}, time.Time{})
	}
	fmt.Fprintf(a.Err, "replayed %d dead letter(s) to %s queue %q\n", len(replayed), a.be.Name, a.cfg.Queue)
	missions, err := st.Missions(ctx, replayed)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var known []string // malformed messages have no mission to follow
	for _, m := range missions {
		known = append(known, m.ID)
	}
	embedded := a.be.Name == "inproc"
	if !o.Wait && !embedded {
		if a.json() {
			return writeJSON(a.Out, missionsJSON(missions))
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
		return writeJSON(a.Out, []any{})
	}
	return nil
}
