package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

type launchOptions struct {
	Types       []string
	Count       int
	Hero        string
	FailRate    float64
	MaxAttempts int
	Speed       float64
	Seed        uint64
	SeedSet     bool
	Wait        bool
	Workers     int
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
  ID=$(palantir launch raven --backend redis)    # just the id, for scripts`,
		Args:      argsUsage(cobra.MinimumNArgs(1)),
		ValidArgs: []string{"recon", "consult", "raven", "fellowship"},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Types = args
			o.SeedSet = cmd.Flags().Changed("seed")
			if err := o.validate(); err != nil {
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
	return cmd
}

func (o launchOptions) validate() error {
	switch {
	case o.Count < 1 || o.Count > 1_000_000:
		return usageErr("--count must be between 1 and 1000000, got %d", o.Count)
	case o.FailRate < 0 || o.FailRate > 1:
		return usageErr("--fail-rate must be between 0 and 1, got %g", o.FailRate)
	case o.MaxAttempts < 1 || o.MaxAttempts > 100:
		return usageErr("--max-attempts must be between 1 and 100, got %d", o.MaxAttempts)
	case o.Speed <= 0 || o.Speed > mission.MaxSpeed:
		return usageErr("--speed must be above 0 and at most %g, got %g", mission.MaxSpeed, o.Speed)
	case o.Workers < 1 || o.Workers > 64:
		return usageErr("--workers must be between 1 and 64, got %d", o.Workers)
	}
	if o.Hero != "" {
		if err := mission.CheckHero(strings.ToLower(o.Hero)); err != nil {
			return fmt.Errorf("--hero: %w", err)
		}
	}
	_, err := mission.Expand(o.Types, o.Count)
	return err
}

func runLaunch(ctx context.Context, a *app, o launchOptions) error {
	types, err := mission.Expand(o.Types, o.Count)
	if err != nil {
		return err
	}
	st, err := a.Store(ctx)
	if err != nil {
		return err
	}
	q, err := a.Queue(ctx)
	if err != nil {
		return err
	}
	tel := telemetry.NewRecorder(st, a.log)
	defer tel.Close()

	orders, err := buildOrders(ctx, st, types, o)
	if err != nil {
		return err
	}
	ids, err := publishOrders(ctx, a, st, q, tel, orders)
	if err != nil {
		return err
	}
	embedded := a.be.Name == "inproc"
	if !o.Wait && !embedded {
		return printLaunched(a, st, ctx, ids)
	}
	var final []store.Mission
	if embedded {
		final, err = runEmbedded(ctx, a, q, st, tel, o.Workers, ids)
	} else {
		final, err = waitMissions(ctx, a, st, ids)
	}
	if err != nil {
		return err
	}
	return reportFinal(a, final)
}

// buildOrders makes one order per type: ids sortable by time, heroes in
// rotation, seeds derived from --seed so that a run replays exactly.
func buildOrders(ctx context.Context, st *store.Store, types []mission.Type, o launchOptions) ([]mission.Order, error) {
	base, err := st.CountMissions(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	seed := o.Seed
	if !o.SeedSet {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	now := time.Now().UTC()
	orders := make([]mission.Order, len(types))
	for i, t := range types {
		hero := strings.ToLower(o.Hero)
		if hero == "" {
			hero = mission.HeroFor(base + i)
		}
		id := newMissionID()
		orders[i] = mission.Order{ID: id, Type: t, Hero: hero, FailRate: o.FailRate, MaxAttempts: o.MaxAttempts,
			Speed: o.Speed, Seed: splitmix(seed + uint64(i)), CreatedAt: now.Add(time.Duration(i) * time.Microsecond)}
	}
	return orders, nil
}

// idAlphabet is Crockford's base32 in lower case: no i, l, o or u to
// misread when a student types an id.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// newMissionID returns 12 random characters (60 bits): short enough to
// type, and a unique prefix after four or five characters.
func newMissionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[b[i]&31]
	}
	return string(b[:])
}

// splitmix spreads consecutive seeds over the whole range.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// publishOrders records the missions as PENDING, publishes them, and marks
// them QUEUED. If the broker refuses, the PENDING rows are removed again:
// nothing is half-written.
func publishOrders(ctx context.Context, a *app, st *store.Store, q backends.Publisher, tel *telemetry.Recorder, orders []mission.Order) ([]string, error) {
	const batch = 1000
	var ids []string
	for start := 0; start < len(orders); start += batch {
		chunk := orders[start:min(start+batch, len(orders))]
		ms := make([]store.Mission, len(chunk))
		msgs := make([]backends.Message, len(chunk))
		chunkIDs := make([]string, len(chunk))
		for i, o := range chunk {
			ms[i] = store.MissionFromOrder(o, a.be.Name, a.cfg.Queue)
			body, err := o.Encode()
			if err != nil {
				return ids, err
			}
			msgs[i] = backends.Message{ID: o.ID, Body: body, Attempt: 1}
			chunkIDs[i] = o.ID
		}
		if err := st.CreateMissions(ctx, ms); err != nil {
			return ids, fmt.Errorf("store: %w", err)
		}
		for _, o := range chunk {
			tel.Emit(telemetry.Event{Name: telemetry.MissionInvoked, MissionID: o.ID, Attempt: 1, Service: telemetry.CLI(),
				Detail: fmt.Sprintf("%s for %s", o.Type, o.Hero), At: o.CreatedAt}, time.Time{})
		}
		if err := q.Publish(ctx, msgs...); err != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = st.DeleteMissions(dctx, chunkIDs)
			cancel()
			return ids, fmt.Errorf("publish to %s queue %q: %w", a.be.Name, a.cfg.Queue, err)
		}
		now := time.Now()
		if err := st.MarkQueued(ctx, chunkIDs, now); err != nil {
			a.log.Warn("missions published but not marked QUEUED", "err", err)
		}
		for _, id := range chunkIDs {
			tel.Emit(telemetry.Event{Name: telemetry.MissionQueued, MissionID: id, Attempt: 1,
				Service: telemetry.Broker(a.be.Name), Detail: "queue " + a.cfg.Queue, At: now}, time.Time{})
		}
		ids = append(ids, chunkIDs...)
	}
	return ids, nil
}

// printLaunched prints what was published without waiting.
func printLaunched(a *app, st *store.Store, ctx context.Context, ids []string) error {
	if a.json() {
		ms, err := st.Missions(ctx, ids)
		if err != nil {
			return err
		}
		return writeJSON(a.Out, missionsJSON(ms))
	}
	for _, id := range ids {
		fmt.Fprintln(a.Out, id)
	}
	// The hint repeats what this launch used, so a copied command reaches
	// the same broker and queue.
	hint := "palantir worker --backend " + a.cfg.Backend
	if strings.Contains(a.cfg.Backend, "://") {
		hint = "palantir worker --backend '" + backends.Redact(a.cfg.Backend) + "'" // never print a password
	}
	if a.cfg.Queue != "missions" {
		hint += " --queue " + a.cfg.Queue
	}
	fmt.Fprintf(a.Err, "launched %d mission(s) on %s queue %q. Run them with: %s   Follow them with: palantir status ID…\n",
		len(ids), a.be.Name, a.cfg.Queue, hint)
	return nil
}

// reportFinal prints the final table (or JSON) and fails if a mission did.
func reportFinal(a *app, ms []store.Mission) error {
	var err error
	if a.json() {
		err = writeJSON(a.Out, missionsJSON(ms))
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
