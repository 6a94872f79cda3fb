package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/dispatch"
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
	// The names only: expanding --count 1000000 here would hold a million
	// types just to check them.
	return mission.Each(o.Types, 1, func(int, mission.Type) error { return nil })
}

func runLaunch(ctx context.Context, a *app, o launchOptions) error {
	st, q, err := a.StoreAndQueue(ctx)
	if err != nil {
		return err
	}
	tel := telemetry.NewRecorder(st, a.log)
	defer tel.Close()

	gen, err := newOrderGen(ctx, st, o)
	if err != nil {
		return err
	}
	gen.progress = func(done, total int) {
		fmt.Fprintf(a.Err, "published %d/%d missions\n", done, total)
	}
	embedded := a.be.Name == "inproc"
	wait := o.Wait || embedded
	out := newLaunchOutput(a, st)
	d := &dispatch.Dispatcher{Store: st, Queue: q, Telemetry: tel, Backend: a.be.Name, QueueName: a.cfg.Queue, Log: a.log}
	var ids []string // kept only to wait for them: a plain launch streams
	err = eachChunk(o, launchChunk, gen, func(orders []mission.Order) error {
		if err := d.Publish(ctx, orders, nil); err != nil {
			return err
		}
		chunkIDs := make([]string, len(orders))
		for i, o := range orders {
			chunkIDs[i] = o.ID
		}
		if wait {
			ids = append(ids, chunkIDs...)
			return nil
		}
		return out.add(ctx, chunkIDs)
	})
	if err != nil {
		return err
	}
	if !wait {
		return out.close()
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

// launchChunk missions are stored and published at a time, so a launch of
// a million missions runs in flat memory.
const launchChunk = 1000

// eachChunk hands fn the launch's orders launchChunk at a time, with a
// progress line on stderr for big launches.
func eachChunk(o launchOptions, size int, gen *orderGen, fn func([]mission.Order) error) error {
	total := 0
	_ = mission.Each(o.Types, o.Count, func(int, mission.Type) error { total++; return nil })
	chunk := make([]mission.Order, 0, size)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		err := fn(chunk)
		chunk = chunk[:0]
		return err
	}
	done := 0
	err := mission.Each(o.Types, o.Count, func(i int, t mission.Type) error {
		chunk = append(chunk, gen.order(i, t))
		if len(chunk) < size {
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		done += size
		if total >= 20*size && done%(10*size) == 0 {
			gen.progress(done, total)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// orderGen makes the i-th order of a launch: random ids, heroes in
// rotation, seeds derived from --seed so that a run replays exactly.
type orderGen struct {
	o        launchOptions
	base     int
	seed     uint64
	now      time.Time
	progress func(done, total int)
}

func newOrderGen(ctx context.Context, st *store.Store, o launchOptions) (*orderGen, error) {
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
	return &orderGen{o: o, base: base, seed: seed, now: time.Now().UTC(), progress: func(int, int) {}}, nil
}

func (g *orderGen) order(i int, t mission.Type) mission.Order {
	hero := strings.ToLower(g.o.Hero)
	if hero == "" {
		hero = mission.HeroFor(g.base + i)
	}
	return mission.Order{ID: newMissionID(), Type: t, Hero: hero, FailRate: g.o.FailRate, MaxAttempts: g.o.MaxAttempts,
		Speed: g.o.Speed, Seed: splitmix(g.seed + uint64(i)), CreatedAt: g.now.Add(time.Duration(i) * time.Microsecond)}
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

// launchOutput prints what a launch without --wait published, as it
// goes: ids one per line, or the elements of one JSON array.
type launchOutput struct {
	a     *app
	st    *store.Store
	n     int
	first bool
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
		b, err := json.MarshalIndent(toMissionJSON(m), "  ", "  ")
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
	if a.json() {
		end := "\n]\n"
		if l.first {
			end = "[]\n"
		}
		_, err := fmt.Fprint(a.Out, end)
		return err
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
		l.n, a.be.Name, a.cfg.Queue, hint)
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
