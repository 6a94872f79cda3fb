package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
)

type historyOptions struct {
	Filter store.Filter
	Since  string
}

func newHistoryCmd(a *app, runF func(context.Context, *app, historyOptions) error) *cobra.Command {
	var o historyOptions
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Past missions, newest first",
		Long: `List missions from the store, newest first, with who executed them, how
many attempts they took and what they scored.

EXIT STATUS
  0  listed (possibly nothing)
  2  bad filter
  3  store unreachable`,
		Example: `  palantir history
  palantir history --status FAILURE --since 1h
  palantir history --worker eagle1 --limit 5 -o json`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.parse(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runHistory(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Filter.Type, "type", "", "only this type (recon, consult, raven)")
	f.StringVar(&o.Filter.Status, "status", "", "only this state (PENDING, QUEUED, STARTED, PROCESSING, RETRY, SUCCESS, FAILURE)")
	f.StringVar(&o.Filter.Hero, "hero", "", "only this hero")
	f.StringVar(&o.Filter.Worker, "worker", "", "only missions executed by this worker")
	// Here --backend filters: history reads the store and needs no broker.
	f.StringVar(&o.Filter.Backend, "backend", "", "only missions launched on this backend (inproc, redis, rabbitmq)")
	f.StringVar(&o.Since, "since", "", "only missions created within this long (e.g. 30m, 2h, 7d)")
	f.IntVar(&o.Filter.Limit, "limit", 20, "at most this many (0: all)")
	return cmd
}

func (o *historyOptions) parse() error {
	if o.Filter.Type != "" {
		if _, err := mission.Lookup(mission.Type(o.Filter.Type)); err != nil {
			return fmt.Errorf("--type: %w", err)
		}
	}
	if o.Filter.Status != "" && !mission.State(strings.ToUpper(o.Filter.Status)).Valid() {
		return usageErr("--status %q: not a state (PENDING, QUEUED, STARTED, PROCESSING, RETRY, SUCCESS, FAILURE)", o.Filter.Status)
	}
	if o.Filter.Hero != "" {
		if err := mission.CheckHero(o.Filter.Hero); err != nil {
			return fmt.Errorf("--hero: %w", err)
		}
	}
	if o.Filter.Limit < 0 {
		return usageErr("--limit must not be negative, got %d", o.Filter.Limit)
	}
	if o.Since != "" {
		d, err := parseAge(o.Since)
		if err != nil {
			return usageErr("--since %q: %v (use e.g. 90s, 30m, 2h, 7d)", o.Since, err)
		}
		o.Filter.Since = time.Now().Add(-d)
	}
	return nil
}

// parseAge is time.ParseDuration plus a "d" suffix for days.
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("not a number of days")
		}
		return time.Duration(n * 24 * float64(time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		return 0, fmt.Errorf("negative")
	}
	return d, err
}

func runHistory(ctx context.Context, a *app, o historyOptions) error {
	st, err := a.Store(ctx)
	if err != nil {
		return err
	}
	ms, err := st.History(ctx, o.Filter)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if a.json() {
		return writeJSON(a.Out, missionsJSON(ms))
	}
	if len(ms) == 0 {
		fmt.Fprintln(a.Err, "no missions match; launch some with 'palantir launch fellowship --wait'")
		return nil
	}
	t := newTable(a.Out, "CREATED", "ID", "TYPE", "HERO", "STATUS", "ATTEMPTS", "WORKER", "BACKEND", "SCORE", "TOTAL TIME", "ERROR")
	for _, m := range ms {
		t.row(m.CreatedAt.Local().Format("01-02 15:04:05"), m.ID, m.Type, m.Hero, m.Status,
			fmt.Sprintf("%d/%d", m.Attempt, m.MaxAttempts), dash(m.Worker), m.Backend, m.Score, duration(m), dash(truncate(m.Error, 45)))
	}
	return t.flush()
}
