package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
)

type statusOptions struct {
	IDs   []string
	Watch bool
}

func newStatusCmd(a *app, runF func(context.Context, *app, statusOptions) error) *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status [ID...]",
		Short: "One mission or several, or a summary of everything",
		Long: `With ids (or unique prefixes of at least 4 characters), show those missions.
With none, a summary: missions by state per type and per worker, the
broker's queue (ready, in flight, delayed, dead letters), and the live
workers with their last heartbeat and current missions.

--watch refreshes every second until interrupted (with ids: until they all
end). With -o json, the mission objects, or an array of summary rows, each
with a "group" of type, worker, queue or live_worker; with --watch -o json,
one such array per line per refresh (JSON Lines).

EXIT STATUS
  0  shown
  2  unknown or ambiguous id
  3  the store or the broker is unreachable (with the store up, the rest is
     still shown and the queue's row says why it is unavailable)`,
		Example: `  palantir status
  palantir status bhqj51 r54n
  palantir status --backend redis --watch`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.IDs = args
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runStatus(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "refresh every second")
	return cmd
}

// validate has no flag value to refuse: an id is checked against the
// store (a short one may still be a whole id).
func (o statusOptions) validate() error { return nil }

func runStatus(ctx context.Context, a *app, o statusOptions) error {
	// A follower waits for the store a launch is about to make.
	open := a.ReadStore
	if o.Watch {
		open = a.Store
	}
	st, err := open(ctx)
	if err != nil {
		return err
	}
	ids, err := ops.ResolveIDs(ctx, st, o.IDs)
	if err != nil {
		return err
	}
	if !o.Watch {
		return printStatus(ctx, a, st, ids)
	}
	if a.json() {
		// A stream has no end, so --watch -o json prints JSON Lines: one
		// compact document per refresh, as events --follow does.
		a.compactJSON = true
	}
	out := outage{a: a}
	screen := newWatchScreen(a)
	defer screen.close()
	for {
		if err := screen.frame(func() error { return printStatus(ctx, a, st, ids) }); err != nil {
			if exitCode(err) == exitUsage {
				return err // a --template or --json that cannot print it: retrying will not help
			}
			if out.failed(ctx, err) {
				continue
			}
			return nil
		}
		out.ok()
		if len(ids) > 0 {
			ms, err := st.Missions(ctx, ids)
			if err == nil && allFinal(ms) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func printStatus(ctx context.Context, a *app, st *store.Store, ids []string) error {
	if len(ids) > 0 {
		ms, err := st.Missions(ctx, ids)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if a.json() {
			return a.writeJSON(ops.Missions(ms))
		}
		return missionTable(a.Out, ms)
	}
	// Named on purpose (not the defaults): that queue's missions alone.
	scoped := a.cfg.Source("backend") != "the default" || a.cfg.Source("queue") != "the default"
	rows, err := ops.Summary(ctx, st, a.now(), a.be.Name, a.cfg.Queue, scoped, func(ctx context.Context) (backends.Stats, error) {
		q, err := a.InspectQueue(ctx)
		if err != nil {
			return backends.Stats{}, err
		}
		return q.Stats(ctx)
	})
	if err != nil {
		return err
	}
	if a.json() {
		err = a.writeJSON(rows)
	} else {
		err = summaryTables(a, rows)
	}
	if err != nil {
		return err
	}
	// The store's half was worth showing; still, scripts must learn that
	// the broker did not answer.
	for _, r := range rows {
		// A queue that does not exist is an answer, not a failure.
		if r.Group == "queue" && r.QueueErr != nil && !errors.Is(r.QueueErr, backends.ErrNoQueue) {
			return r.QueueErr
		}
	}
	return nil
}

func summaryTables(a *app, rows []ops.StatusRow) error {
	states := []string{}
	for _, s := range mission.States() {
		states = append(states, string(s))
	}
	for _, group := range []string{"type", "worker"} {
		t := newTable(a.Out, append([]string{strings.ToUpper(group)}, append(states, "TOTAL")...)...)
		n := 0
		for _, r := range rows {
			if r.Group != group {
				continue
			}
			cells := []any{r.Key}
			for _, s := range states {
				cells = append(cells, r.Counts[s])
			}
			t.row(append(cells, r.Total)...)
			n++
		}
		if n == 0 {
			t.row("(no missions yet)")
		}
		if err := t.flush(); err != nil {
			return err
		}
		fmt.Fprintln(a.Out)
	}
	now := a.now()
	t := newTable(a.Out, "QUEUE", "BACKEND", "READY", "IN FLIGHT", "DELAYED", "DEAD LETTERS")
	var live []ops.StatusRow
	for _, r := range rows {
		switch r.Group {
		case "queue":
			if r.Paused {
				r.Key += " (paused)"
			}
			if r.Missing {
				t.row(r.Key, r.Backend, a.noQueue())
				continue
			}
			if r.Error != "" {
				t.row(r.Key, r.Backend, "unavailable: "+r.Error)
				continue
			}
			t.row(r.Key, r.Backend, count(r.Ready), count(r.InFlight), count(r.Delayed), count(r.DeadLetters))
		case "live_worker":
			live = append(live, r)
		}
	}
	t.flush()
	fmt.Fprintln(a.Out)
	wt := newTable(a.Out, "LIVE WORKER", "BACKEND", "HOST/PID", "LAST HEARTBEAT", "PROCESSED", "CURRENT")
	if len(live) == 0 {
		wt.row("(none)")
	}
	slices.SortFunc(live, func(x, y ops.StatusRow) int { return strings.Compare(x.Key, y.Key) })
	for _, r := range live {
		wt.row(r.Key, r.Backend, fmt.Sprintf("%s/%d", r.Host, r.PID), fmtAgo(now, *r.HeartbeatAt), *r.Processed, dash(strings.Join(r.Current, ",")))
	}
	return wt.flush()
}

func count(p *int64) string {
	if p == nil || *p < 0 {
		return "?"
	}
	return fmt.Sprint(*p)
}

// watchScreen draws status --watch. On a terminal it draws on the
// alternate screen, as watch and top do, so that the scrollback does not
// fill with copies of the table, and leaves the last frame on the normal
// screen at the end. Piped, it appends each refresh under its time. JSON
// Lines are written as they come.
type watchScreen struct {
	a    *app
	out  io.Writer // the real output; a.Out points at the frame while one is drawn
	tty  bool
	last []byte
}

func newWatchScreen(a *app) *watchScreen {
	w := &watchScreen{a: a, out: a.Out, tty: isTTY(a.Out) && !a.json()}
	if w.tty {
		fmt.Fprint(w.out, "\033[?1049h")
	}
	return w
}

// frame draws what draw prints as one frame, written at once.
func (w *watchScreen) frame(draw func() error) error {
	if w.a.json() {
		return draw()
	}
	var buf bytes.Buffer
	w.a.Out = &buf
	err := draw()
	w.a.Out = w.out
	if err != nil {
		return err
	}
	now := w.a.now().Local().Format("15:04:05")
	if w.tty {
		fmt.Fprintf(w.out, "\033[H\033[2JEvery 1s: palantir status · %s · Ctrl-C to stop\n\n", now)
	} else {
		fmt.Fprintf(w.out, "== %s\n", now)
	}
	w.out.Write(buf.Bytes())
	if !w.tty {
		fmt.Fprintln(w.out)
	}
	w.last = buf.Bytes()
	return nil
}

// close leaves the alternate screen, with the last frame left below.
func (w *watchScreen) close() {
	if w.tty {
		fmt.Fprint(w.out, "\033[?1049l")
		w.out.Write(w.last)
	}
}
