package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/internal/config"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

type launchOptions struct {
	ops.LaunchRequest
	Wait    bool
	Workers int
	Plan    string // a file of mission types to define, beside the config's
	// In and At (launch --in/--at) become Due, checked against the clock.
	In time.Duration
	At string
}

func newLaunchCmd(a *app, runF func(context.Context, *app, launchOptions) error) *cobra.Command {
	var o launchOptions
	cmd := &cobra.Command{
		Use:   "launch TYPE...",
		Short: "Publish missions to the queue (and follow them with --wait)",
		Long: `Publish missions to the queue and print their ids.

Types: recon (~5s, Reconnaissance in Mordor), consult (~3s, Consult the
Elves), raven (~1s, Send a messenger raven), and fellowship, a batch of five
missions of mixed types. Durations have ±20% jitter; --seed makes a run
reproducible (durations, ambushes and their stages).

Each attempt may fail at a random stage with probability --fail-rate ("an
orc ambush"); it is retried with backoff up to --max-attempts, then the
mission is FAILURE and its message goes to the dead letters.

Types of your own (stages with a duration and a chance of failing there,
points, a payload size) are defined in the config file's missions:
section or in a --plan file of the same form (docs/missions.md). Each
order carries its type's definition: workers need no copy of it.

--in 30s or --at 18:00 launches for later: the missions wait PENDING in
the store, nothing in the broker, until a worker or serve of the queue
publishes them when due (on inproc, the embedded workers of this launch).

With the inproc backend there is no separate worker process: launch runs
--workers embedded workers (eagle1, eagle2, …) and waits. With a broker,
start 'palantir worker' processes and add --wait to follow the missions.

--wait shows live progress bars on a terminal and plain lines otherwise
(both on stderr); stdout gets the final table, or with -o json an array of
mission objects in their final state.

EXIT STATUS
  0  published (and with --wait: every mission SUCCESS)
  1  with --wait: a mission ended in FAILURE
  2  bad arguments or configuration
  3  broker or store unreachable`,
		Example: `  palantir launch fellowship --wait
  palantir launch raven --count 3 --fail-rate 1 --max-attempts 2 --wait   # exits 1
  palantir launch recon consult --hero gandalf --speed 10 --seed 42 --wait
  ID=$(palantir launch raven --backend redis)    # just the id, for scripts
  palantir launch heist --plan examples/missions/heist.yaml --count 20 --wait   # a type you define
  palantir launch raven --hero frodo --unique-for 1m   # again within the minute: skipped`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("launch needs a mission TYPE: %s (see 'palantir launch --help')", mission.TypeChoices())
			}
			return nil
		},
		ValidArgs: []string{"recon", "consult", "raven", "fellowship"},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Types = args
			o.SeedSet = cmd.Flags().Changed("seed")
			defined, err := definedTypes(a.cfg, o.Plan)
			if err != nil {
				return err
			}
			o.Defined = defined
			if o.Due, err = dueTime(o.In, o.At, cmd.Flags().Changed("in"), cmd.Flags().Changed("at"), a.now()); err != nil {
				return err
			}
			if err := o.validate(a.cfg.MaxMessageBytes()); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runLaunch(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.IntVarP(&o.Count, "count", "n", 1, "launch each TYPE this many times")
	f.StringVar(&o.Hero, "hero", "", "hero for every mission (default: the rotation aragorn, legolas, …)")
	f.Float64Var(&o.FailRate, "fail-rate", mission.DefaultFailRate, "probability that an attempt is ambushed (0–1)")
	f.IntVar(&o.MaxAttempts, "max-attempts", mission.DefaultMaxAttempts, "attempts before a mission is FAILURE and dead-lettered")
	f.Float64Var(&o.Speed, "speed", mission.DefaultSpeed, "time multiplier: 10 runs ten times faster (backoff too)")
	f.Uint64Var(&o.Seed, "seed", 0, "seed for reproducible durations and ambushes (default: random)")
	f.BoolVarP(&o.Wait, "wait", "w", false, "follow the missions to the end (always on with inproc)")
	f.IntVar(&o.Workers, "workers", 2, "embedded workers for the inproc backend")
	f.DurationVar(&o.In, "in", 0, "launch for later: publish when this long has passed (e.g. 30s, 2h; at most 720h)")
	f.StringVar(&o.At, "at", "", "launch for later: publish at this TIME (15:04, 15:04:05 today, or RFC 3339)")
	f.DurationVar(&o.UniqueFor, "unique-for", 0, "launch at most one mission per type and hero on the queue within this long (e.g. 1m); the others are skipped, said on stderr")
	f.StringVar(&o.Plan, "plan", "", "YAML `FILE` defining mission types (a missions: section, as in the config file)")
	_ = cmd.MarkFlagFilename("plan", "yaml", "yml")
	return cmd
}

// dueTime is when --in or --at say to publish (zero: now), checked.
func dueTime(in time.Duration, at string, inSet, atSet bool, now time.Time) (time.Time, error) {
	switch {
	case inSet && atSet:
		return time.Time{}, usageErr("give --in or --at, not both")
	case inSet && (in <= 0 || in > ops.MaxLater):
		return time.Time{}, usageErr("--in must be above 0 and at most %v, got %v", ops.MaxLater, in)
	case inSet:
		return now.Add(in), nil
	case atSet && strings.TrimSpace(at) == "":
		return time.Time{}, usageErr("--at needs a TIME (15:04, 15:04:05 today, or RFC 3339)")
	case !atSet:
		return time.Time{}, nil
	}
	t, err := parseAt(at, now)
	switch {
	case err != nil:
		return time.Time{}, usageErr("--at %q: not a time (use 15:04, 15:04:05 for today, or RFC 3339 such as 2026-12-24T18:00:00+01:00)", at)
	case !t.After(now):
		return time.Time{}, usageErr("--at %s is in the past (it is %s); give a later time or a date", t.Format(time.RFC3339), now.Format(time.RFC3339))
	case t.Sub(now) > ops.MaxLater:
		return time.Time{}, usageErr("--at %s is more than %v ahead", t.Format(time.RFC3339), ops.MaxLater)
	}
	return t, nil
}

// whenLocal is t on the local clock, with its date unless it is today.
func whenLocal(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04:05 MST")
}

// parseAt reads RFC 3339, or a clock time today in the local zone.
func parseAt(at string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, at); err == nil {
		return t, nil
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if c, err := time.ParseInLocation(layout, at, now.Location()); err == nil {
			y, m, d := now.Date()
			return time.Date(y, m, d, c.Hour(), c.Minute(), c.Second(), 0, now.Location()), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time")
}

func (o launchOptions) validate(maxMessage int) error {
	if o.Workers < 1 || o.Workers > 64 {
		return usageErr("--workers must be between 1 and 64, got %d", o.Workers)
	}
	for t, k := range o.Defined {
		if k.Payload > maxMessage {
			return usageErr("mission type %s: payload of %d bytes is over max_message_size (%d bytes); raise max_message_size or lower the payload", t, k.Payload, maxMessage)
		}
	}
	return o.LaunchRequest.Validate(launchField)
}

// definedTypes are the config file's mission types and the plan file's,
// which wins over the config for a type both define.
func definedTypes(cfg config.Config, plan string) (mission.Catalog, error) {
	c := maps.Clone(cfg.Missions)
	if plan == "" {
		return c, nil
	}
	fromPlan, err := config.ReadMissions(plan)
	if err != nil {
		return nil, err
	}
	if c == nil {
		c = mission.Catalog{}
	}
	maps.Copy(c, fromPlan)
	return c, nil
}

// launchField names a launch's fields as its command line does: the
// mission types are the TYPE arguments, the rest flags.
func launchField(field string) string {
	if field == "type" {
		return "TYPE"
	}
	return ops.Flag(field)
}

func runLaunch(ctx context.Context, a *app, o launchOptions) error {
	if len(a.jsonFields) > 0 {
		// A field that is not a mission's is said before anything is
		// published, not after.
		if _, err := a.onlyFields(ops.Mission{}); err != nil {
			return err
		}
	}
	if err := a.checkTemplate([]ops.Mission{{}}); err != nil {
		return err // so is a template that cannot print what launch prints
	}
	st, q, err := a.StoreAndQueue(ctx)
	if err != nil {
		return err
	}
	tel := telemetry.NewRecorder(st, a.log)
	defer tel.Close()

	embedded := a.be.Embedded
	wait := o.Wait || embedded
	out := newLaunchOutput(a, st)
	l := &ops.Launcher{Store: st, Queue: q, Telemetry: tel, Backend: a.be.Name, QueueName: a.cfg.Queue,
		Source: telemetry.CLI(), Log: a.log, RecoverAfter: a.cfg.Lease, Progress: func(done, total int) {
			fmt.Fprintf(a.Err, "published %d/%d missions\n", done, total)
		}, Now: a.now, Skipped: func(s ops.Skip) {
			fmt.Fprintf(a.Err, "skipped %s for %s: mission %s holds its place (--unique-for %v)\n", s.Type, s.Hero, s.HeldBy, o.UniqueFor)
		}}
	var ids []string // kept only to wait for them: a plain launch streams
	err = l.Launch(ctx, o.LaunchRequest, func(chunkIDs []string) error {
		if wait {
			ids = append(ids, chunkIDs...)
			return nil
		}
		return out.add(ctx, chunkIDs)
	})
	if err != nil {
		return err
	}
	if !o.Due.IsZero() {
		fmt.Fprintf(a.Err, "due at %s (in %v): a worker or serve of %s queue %q publishes them then; until then they are PENDING\n",
			whenLocal(o.Due, a.now()), o.Due.Sub(a.now()).Round(time.Second), a.be.Name, a.cfg.Queue)
	}
	if !wait {
		return out.close()
	}
	if len(ids) == 0 {
		fmt.Fprintln(a.Err, "nothing launched, so nothing to wait for: every mission was skipped (--unique-for)")
		return nil
	}
	var final []store.Mission
	if embedded {
		stopDue := startDue(ctx, a, st, a.cfg.Queue, q, tel)
		defer stopDue()
		final, err = runEmbedded(ctx, a, q, st, tel, o.Workers, ids)
	} else {
		final, err = waitMissions(ctx, a, st, ids)
	}
	if err != nil {
		return err
	}
	return reportFinal(a, final)
}

// launchOutput prints what a launch without --wait published, as it
// goes: ids one per line, or the elements of one JSON array.
type launchOutput struct {
	a     *app
	st    *store.Store
	n     int
	first bool
	held  []any // the objects, for --template
}

func newLaunchOutput(a *app, st *store.Store) *launchOutput {
	return &launchOutput{a: a, st: st, first: true}
}

func (l *launchOutput) add(ctx context.Context, ids []string) error {
	l.n += len(ids)
	if !l.a.json() {
		for _, id := range ids {
			fmt.Fprintln(l.a.Out, id)
		}
		return nil
	}
	ms, err := l.st.Missions(ctx, ids)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, m := range ms {
		var obj any = ops.MissionOf(m)
		if l.a.template != nil {
			l.held = append(l.held, obj) // a template sees the whole array
			continue
		}
		if len(l.a.jsonFields) > 0 {
			if obj, err = l.a.onlyFields(obj); err != nil {
				return err
			}
		}
		b, err := json.MarshalIndent(obj, "  ", "  ")
		if err != nil {
			return err
		}
		sep := ",\n  "
		if l.first {
			sep, l.first = "[\n  ", false
		}
		if _, err := fmt.Fprint(l.a.Out, sep, string(b)); err != nil {
			return err
		}
	}
	return nil
}

func (l *launchOutput) close() error {
	a := l.a
	if a.template != nil {
		return a.writeJSON(append([]any{}, l.held...))
	}
	if a.json() {
		end := "\n]\n"
		if l.first {
			end = "[]\n"
		}
		_, err := fmt.Fprint(a.Out, end)
		return err
	}
	if l.n == 0 {
		fmt.Fprintln(a.Err, "nothing launched: every mission was skipped (--unique-for)")
		return nil
	}
	// The hint repeats what this launch used, so a copied command reaches
	// the same broker and queue.
	hint := "palantir worker --backend " + a.cfg.Backend
	if strings.Contains(a.cfg.Backend, "://") {
		hint = "palantir worker --backend '" + a.be.Redact(a.cfg.Backend) + "'" // never print a password
	}
	if a.cfg.Queue != "missions" {
		hint += " --queue " + a.cfg.Queue
	}
	fmt.Fprintf(a.Err, "launched %d mission(s) on %s queue %q. Run them with: %s   Follow them with: palantir status ID…\n",
		l.n, a.be.Name, a.cfg.Queue, hint)
	return nil
}

// reportFinal prints the final table (or JSON) and fails if a mission did.
func reportFinal(a *app, ms []store.Mission) error {
	var err error
	if a.json() {
		err = a.writeJSON(ops.Missions(ms))
	} else {
		err = missionTable(a.Out, ms)
		if err == nil {
			err = summaryLine(a, ms)
		}
	}
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Status == mission.Failure {
			return errMissionsFailed
		}
	}
	return nil
}

func summaryLine(a *app, ms []store.Mission) error {
	counts := map[mission.State]int{}
	points := 0
	for _, m := range ms {
		counts[m.Status]++
		points += m.Score
	}
	_, err := fmt.Fprintf(a.Err, "\n%d mission(s): %d SUCCESS, %d FAILURE; %d points scored. Next: palantir history, palantir leaderboard, palantir trace ID\n",
		len(ms), counts[mission.Success], counts[mission.Failure], points)
	return err
}
