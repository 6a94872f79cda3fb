package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
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
  3  store unreachable (the broker's figures are left out when it is)`,
		Example: `  palantir status
  palantir status bhqj51 r54n
  palantir status --backend redis --watch`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.IDs = args
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runStatus(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "refresh every second")
	return cmd
}

func runStatus(ctx context.Context, a *app, o statusOptions) error {
	st, err := a.Store(ctx)
	if err != nil {
		return err
	}
	ids, err := resolveIDs(ctx, st, o.IDs)
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
	for {
		if isTTY(a.Out) && !a.json() {
			fmt.Fprint(a.Out, "\033[H\033[2J")
		}
		if err := printStatus(ctx, a, st, ids); err != nil {
			return err
		}
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

func resolveIDs(ctx context.Context, st *store.Store, args []string) ([]string, error) {
	ids := make([]string, 0, len(args))
	for _, arg := range args {
		id, err := st.Resolve(ctx, arg)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func printStatus(ctx context.Context, a *app, st *store.Store, ids []string) error {
	if len(ids) > 0 {
		ms, err := st.Missions(ctx, ids)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if a.json() {
			return a.writeJSON(missionsJSON(ms))
		}
		return missionTable(a.Out, ms)
	}
	rows, err := summaryRows(ctx, a, st)
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
		if r.Group == "queue" && r.queueErr != nil {
			return r.queueErr
		}
	}
	return nil
}

// summaryRow is one row of the status summary.
type summaryRow struct {
	Group  string         `json:"group"` // type, worker, queue, live_worker
	Key    string         `json:"key"`
	Counts map[string]int `json:"counts,omitempty"`
	Total  int            `json:"total,omitempty"`

	Backend     string `json:"backend,omitempty"`
	Ready       *int64 `json:"ready,omitempty"`
	InFlight    *int64 `json:"in_flight,omitempty"`
	Delayed     *int64 `json:"delayed,omitempty"`
	DeadLetters *int64 `json:"dead_letters,omitempty"`
	Error       string `json:"error,omitempty"`

	HeartbeatAt *time.Time `json:"heartbeat_at,omitempty"`
	Current     []string   `json:"current,omitempty"`
	Processed   *int64     `json:"processed,omitempty"`
	Host        string     `json:"host,omitempty"`
	PID         int        `json:"pid,omitempty"`

	queueErr error
}

// liveWindow: a worker silent for longer is not listed as live.
const liveWindow = 10 * time.Second

func summaryRows(ctx context.Context, a *app, st *store.Store) ([]summaryRow, error) {
	var rows []summaryRow
	for _, group := range []string{"type", "worker"} {
		counts, err := st.CountsBy(ctx, group)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		byKey := map[string]*summaryRow{}
		var order []string
		for _, c := range counts {
			key := c.Key
			if group == "worker" && key == "" {
				key = "(none yet)"
			}
			r, ok := byKey[key]
			if !ok {
				r = &summaryRow{Group: group, Key: key, Counts: map[string]int{}}
				byKey[key] = r
				order = append(order, key)
			}
			r.Counts[c.Status] += c.N
			r.Total += c.N
		}
		for _, k := range order {
			rows = append(rows, *byKey[k])
		}
	}
	rows = append(rows, queueRow(ctx, a))
	workers, err := st.Workers(ctx, time.Now().Add(-liveWindow))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	for _, w := range workers {
		if !w.StoppedAt.IsZero() || w.Backend != a.be.Name || w.Queue != a.cfg.Queue {
			continue // this summary is about the current backend's queue
		}
		hb, processed := w.HeartbeatAt, w.Processed
		r := summaryRow{Group: "live_worker", Key: w.Name, Backend: w.Backend, HeartbeatAt: &hb, Processed: &processed,
			Host: w.Host, PID: w.PID, Current: []string{}}
		if w.Current != "" {
			r.Current = strings.Split(w.Current, ",")
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// queueRow asks the broker; an unreachable broker is reported in the row,
// since the store's half of the summary is still worth showing.
func queueRow(ctx context.Context, a *app) summaryRow {
	r := summaryRow{Group: "queue", Key: a.cfg.Queue, Backend: a.be.Name}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	q, err := a.Queue(qctx)
	var s backends.Stats
	if err == nil {
		s, err = q.Stats(qctx)
	}
	if err != nil {
		r.Error, r.queueErr = err.Error(), err
		return r
	}
	r.Ready, r.InFlight, r.Delayed, r.DeadLetters = &s.Ready, &s.InFlight, &s.Delayed, &s.DeadLetters
	return r
}

func summaryTables(a *app, rows []summaryRow) error {
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
	now := time.Now()
	t := newTable(a.Out, "QUEUE", "BACKEND", "READY", "IN FLIGHT", "DELAYED", "DEAD LETTERS")
	var live []summaryRow
	for _, r := range rows {
		switch r.Group {
		case "queue":
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
	slices.SortFunc(live, func(x, y summaryRow) int { return strings.Compare(x.Key, y.Key) })
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
