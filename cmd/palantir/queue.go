package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/ops"
)

func newQueueCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Queues: list them, pause one, resume it",
		Long: `Queues are named by --queue on a backend. A paused queue still takes
launches; its workers finish what they run and start nothing new (what
they hold waits in them, its lease kept) until it is resumed. Workers read
the pause from the store at every heartbeat, so it takes effect within a
second, on every backend alike.`,
		Args: argsUsage(cobra.NoArgs),
	}
	cmd.AddCommand(newQueueListCmd(a), newQueueSwitchCmd(a, true), newQueueSwitchCmd(a, false))
	return cmd
}

func newQueueListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "The queues missions were launched on, and the paused ones",
		Long: `List every queue the store knows, on every backend: whether it is paused,
how many missions were launched on it and how many of those have not ended,
and when the last was launched. It reads the store only.

EXIT STATUS
  0  listed (possibly nothing)
  3  store unreachable`,
		Example: `  palantir queue list
  palantir queue list -o json`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runQueueList(cmd.Context(), a) },
	}
}

func runQueueList(ctx context.Context, a *app) error {
	st, err := a.ReadStore(ctx)
	if err != nil {
		return err
	}
	qs, err := st.Queues(ctx)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if a.json() {
		return a.writeJSON(ops.Queues(qs))
	}
	if len(qs) == 0 {
		fmt.Fprintln(a.Err, "no queues yet; launch some missions with 'palantir launch fellowship --wait'")
		return nil
	}
	t := newTable(a.Out, "BACKEND", "QUEUE", "STATE", "MISSIONS", "NOT ENDED", "LAST LAUNCH")
	for _, q := range qs {
		state := "active"
		if q.Paused {
			state = "paused since " + q.PausedAt.Local().Format("01-02 15:04:05")
		}
		last := "-"
		if !q.LastLaunch.IsZero() {
			last = q.LastLaunch.Local().Format("01-02 15:04:05")
		}
		t.row(q.Backend, q.Queue, state, q.Total, q.Unfinished, last)
	}
	return t.flush()
}

// newQueueSwitchCmd is queue pause (pause true) or queue resume.
func newQueueSwitchCmd(a *app, pause bool) *cobra.Command {
	use, short, long := "resume", "Let the workers of the current queue take missions again",
		`Resume the current backend's queue (--backend, --queue): its workers take
missions again within a second.`
	if pause {
		use, short, long = "pause", "Stop the workers of the current queue taking new missions",
			`Pause the current backend's queue (--backend, --queue): within a second
its workers start nothing new; what runs finishes, what they hold waits in
them with its lease kept. Launches still go to the queue. 'palantir queue
resume' undoes it; 'palantir status' marks the queue "(paused)".`
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long: long + `

EXIT STATUS
  0  done (also when it was so already)
  3  store unreachable`,
		Example: fmt.Sprintf(`  palantir queue %s --backend redis --queue lab`, use),
		Args:    argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runQueueSwitch(cmd.Context(), a, pause)
		},
	}
}

// queueSwitchJSON is what queue pause and resume print with -o json.
type queueSwitchJSON struct {
	Backend string `json:"backend"`
	Queue   string `json:"queue"`
	Paused  bool   `json:"paused"`  // as it is now
	Changed bool   `json:"changed"` // false: it was so already
}

func runQueueSwitch(ctx context.Context, a *app, pause bool) error {
	st, err := a.Store(ctx)
	if err != nil {
		return err
	}
	name, backend := a.cfg.Queue, a.be.Name
	var changed bool
	if pause {
		changed, err = st.PauseQueue(ctx, backend, name, a.now())
	} else {
		changed, err = st.ResumeQueue(ctx, backend, name)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if a.json() {
		return a.writeJSON(queueSwitchJSON{Backend: backend, Queue: name, Paused: pause, Changed: changed})
	}
	switch {
	case pause && changed:
		fmt.Fprintf(a.Err, "paused queue %s on %s: its workers start nothing new within a second ('palantir queue resume' to undo)\n", name, backend)
	case pause:
		fmt.Fprintf(a.Err, "queue %s on %s was paused already\n", name, backend)
	case changed:
		fmt.Fprintf(a.Err, "resumed queue %s on %s: its workers take missions again within a second\n", name, backend)
	default:
		fmt.Fprintf(a.Err, "queue %s on %s was not paused\n", name, backend)
	}
	return nil
}
