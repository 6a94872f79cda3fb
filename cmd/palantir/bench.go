package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/bench"
)

type benchOptions struct {
	Backends    []string
	Missions    int
	Concurrency int
	Prefetch    int
	Payload     int
	Rate        float64
	Store       string
	Report      string
	CPUProfile  string
}

// maxBenchMemory bounds missions × payload: bench builds every message
// before the clock starts.
const maxBenchMemory = 1 << 30

func newBenchCmd(a *app, runF func(context.Context, *app, benchOptions) error) *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Compare backends: identical zero-duration missions through each, side by side",
		Long: `Run identical zero-duration missions through each backend and compare them.

For each backend, on fresh queues deleted afterwards, bench measures twice:

  ceiling   the same number of messages through the bare client library
            (go-redis, amqp091-go, nats.go, pgx, database/sql on SQLite, a
            Go channel for inproc), with the same guarantees (consumer
            group and XACK; persistent messages with confirms and manual
            acks; publish acks and explicit acks; SKIP LOCKED claims and
            DELETE) and no palantir code: what the broker allows here;
  palantir  the real path: store the missions, publish them, one worker
            with --concurrency goroutines executes them (at no cost),
            persists each outcome with telemetry, and acks.

Both phases let a consumer hold --prefetch unsettled messages (default
max(concurrency, 100), as a tuned client would). 'palantir worker' holds
only --concurrency by default (fair dispatch for long missions); run bench
with --prefetch equal to --concurrency to see what that costs.

Each row shows missions/s and their ratio to the ceiling; publish, queue
wait and end-to-end latency percentiles (HDR histograms); redeliveries,
duplicates and lost missions (counted, never assumed: lost must be 0);
palantir's CPU time and peak resident memory.

--rate publishes at a constant arrival rate and measures each mission from
its intended send time, so a stall shows in the latencies (no coordinated
omission). Without it, missions are published as fast as the pipeline
takes them.

bench never writes to your palantir.db: by default each backend gets a
temporary SQLite file, removed afterwards. --store URL keeps the missions
there instead; --store none persists nothing (duplicates are still
detected in memory), which shows what the store costs.

Progress goes to stderr (bars on a terminal, a line per phase otherwise);
stdout gets a table, or with -o json one array with an object per backend,
or with -o markdown a Markdown table. --report FILE also writes an HTML
page with throughput bars and latency CDFs, with nothing to download.

EXIT STATUS
  0  every backend measured, nothing lost
  1  a backend lost missions, or failed during the run
  2  bad arguments or configuration (an unknown backend, for example)
  3  a broker or the store was unreachable (the others are still
     measured; this status wins over 1)`,
		Example: `  palantir bench --backends inproc --missions 2000
  palantir bench --backends inproc,redis,rabbitmq --missions 20000 --concurrency 4
  palantir bench --backends redis,rabbitmq --rate 2000 --missions 10000   # latency at a steady load
  palantir bench --backends redis --store none       # without persistence
  palantir bench --backends rabbitmq -c 4 --prefetch 4 # the worker's default prefetch
  palantir bench --backends redis://10.0.0.5:6379/0 -o json > bench.json
  palantir bench -o markdown --report bench.html`,
		Args:        argsUsage(cobra.NoArgs),
		Annotations: map[string]string{outputsAnnotation: "table,json,markdown"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("backends") {
				o.Backends = holdableBackends(a.registry, o.Store)
			}
			if err := o.validate(a); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runBench(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Backends, "backends", nil, "backends to compare: names or broker URLs, comma-separated (default: every backend the store can hold; a queue kept in a database of another kind needs its URL here)")
	f.IntVarP(&o.Missions, "missions", "n", 10000, "missions per backend")
	f.IntVarP(&o.Concurrency, "concurrency", "c", 4, "worker goroutines (and ceiling consumers), 1–1024")
	f.IntVar(&o.Prefetch, "prefetch", 0, "unsettled messages a consumer may hold, in both phases (0: max(concurrency, 100); equal to -c is the worker's default, fair dispatch)")
	f.IntVar(&o.Payload, "payload", 256, "message size in bytes (orders are padded up to it), 0–1048576")
	f.Float64Var(&o.Rate, "rate", 0, "missions/s at a constant arrival rate (0: as fast as possible)")
	f.StringVar(&o.Store, "store", "", "store for the bench missions: a SQLite file, a postgres:// URL, or none (default: a temporary SQLite file, removed afterwards; the sqlite backend's row always gets one, its queue living in the store's file)")
	f.StringVar(&o.Report, "report", "", "also write an HTML report (inline SVG charts) to this file")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a Go CPU profile of the whole run to this file (go tool pprof)")
	return cmd
}

func (o benchOptions) validate(a *app) error {
	switch {
	case len(o.Backends) == 0:
		return usageErr("--backends is empty (known: %s)", strings.Join(a.registry.Names(), ", "))
	case o.Missions < 1:
		return usageErr("--missions must be at least 1, got %d", o.Missions)
	case o.Concurrency < 1 || o.Concurrency > bench.MaxConcurrency:
		return usageErr("--concurrency must be between 1 and %d, got %d", bench.MaxConcurrency, o.Concurrency)
	case o.Prefetch != 0 && (o.Prefetch < o.Concurrency || o.Prefetch > bench.MaxPrefetch):
		return usageErr("--prefetch must be between --concurrency (%d) and %d, got %d", o.Concurrency, bench.MaxPrefetch, o.Prefetch)
	case o.Payload < 0 || o.Payload > bench.MaxPayload:
		return usageErr("--payload must be between 0 and %d bytes, got %d", bench.MaxPayload, o.Payload)
	case o.Rate < 0:
		return usageErr("--rate must be 0 (as fast as possible) or more, got %g", o.Rate)
	case int64(o.Missions)*int64(max(o.Payload, 256)) > maxBenchMemory:
		return usageErr("--missions × --payload must stay under 1 GiB (every message is built in memory first)")
	}
	for _, b := range o.Backends {
		if _, err := a.registry.Resolve(b); err != nil {
			return fmt.Errorf("--backends: %w", err) // ErrUnknownBackend: exit 2
		}
	}
	return nil
}

func runBench(ctx context.Context, a *app, o benchOptions) (err error) {
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("cpu profile: %w", cerr)
			}
		}()
	}
	fmt.Fprintf(a.Err, "bench: %s\n", benchSettings(o))
	var view benchView = &benchLines{w: a.Err}
	if isTTY(a.Err) {
		view = newBenchBars(a.Err)
	}
	results, runErr := bench.Run(ctx, bench.Options{
		Registry: a.registry, Backends: o.Backends, URLs: a.cfg.URLs,
		Missions: o.Missions, Concurrency: o.Concurrency, Prefetch: o.Prefetch, Payload: o.Payload, Rate: o.Rate, Store: o.Store,
		Progress: view.update, Logger: a.log,
	})
	view.close()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if results == nil {
		return runErr
	}
	switch a.cfg.Output {
	case "json":
		err = a.writeJSON(results)
	case "markdown":
		err = benchMarkdown(a.Out, o, results)
	default:
		err = benchTable(a.Out, results)
	}
	if err != nil {
		return err
	}
	if o.Report != "" {
		if err := writeBenchReport(o.Report, results, a.provenance()); err != nil {
			return err
		}
		fmt.Fprintf(a.Err, "bench: report written to %s\n", o.Report)
	}
	var lost []string
	for _, r := range results {
		if r.Lost > 0 {
			lost = append(lost, fmt.Sprintf("%s lost %d of %d", bench.Label(r, results), r.Lost, r.Missions))
		}
	}
	if len(lost) > 0 {
		runErr = errors.Join(runErr, fmt.Errorf("bench: missions lost: %s", strings.Join(lost, "; ")))
	}
	return runErr
}

func benchSettings(o benchOptions) string {
	rate := "as fast as possible"
	if o.Rate > 0 {
		rate = fmt.Sprintf("%g missions/s", o.Rate)
	}
	st := bench.StoreLabel(o.Store)
	prefetch := o.Prefetch
	if prefetch == 0 {
		prefetch = bench.DefaultPrefetch(o.Concurrency)
	}
	return fmt.Sprintf("%d missions per backend, concurrency %d, prefetch %d, payload %d B, rate %s, store %s",
		o.Missions, o.Concurrency, prefetch, o.Payload, rate, st)
}

// provenance is where and how this bench ran.
func (a *app) provenance() bench.Provenance {
	host, _ := os.Hostname()
	return bench.Provenance{Generated: a.now(), Host: host, Cores: runtime.NumCPU(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, Version: buildVersion().Version, Command: a.commandLine()}
}

func writeBenchReport(path string, rs []bench.Result, p bench.Provenance) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := bench.WriteHTML(f, rs, p); err != nil {
		f.Close()
		return fmt.Errorf("report %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	return nil
}

// benchColumns are the table's and the Markdown table's columns.
var benchColumns = []string{"BACKEND", "MISSIONS/S", "CEILING/S", "RATIO", "PUBLISH p50/p99", "QUEUE WAIT p50/p99",
	"END-TO-END p50/p95/p99/max", "REDELIVERED", "DUPLICATES", "LOST", "CPU", "PEAK MEM", "ERROR"}

// benchCells renders one row among rs; latencies in milliseconds.
func benchCells(r bench.Result, rs []bench.Result) []string {
	if r.MissionsPerSec == 0 && r.Error != "" {
		return []string{bench.Label(r, rs), "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", truncate(r.Error, 120)}
	}
	ms := func(v float64) string {
		if v < 10 {
			return fmt.Sprintf("%.2f", v)
		}
		return fmt.Sprintf("%.0f", v)
	}
	return []string{bench.Label(r, rs), fmt.Sprintf("%.0f", r.MissionsPerSec), fmt.Sprintf("%.0f", r.CeilingMsgsPerSec),
		ratioCell(r.RatioToCeiling),
		fmt.Sprintf("%s/%s ms", ms(r.PublishMS.P50), ms(r.PublishMS.P99)),
		fmt.Sprintf("%s/%s ms", ms(r.QueueWaitMS.P50), ms(r.QueueWaitMS.P99)),
		fmt.Sprintf("%s/%s/%s/%s ms", ms(r.EndToEndMS.P50), ms(r.EndToEndMS.P95), ms(r.EndToEndMS.P99), ms(r.EndToEndMS.Max)),
		fmt.Sprint(r.Redeliveries), fmt.Sprint(r.Duplicates), fmt.Sprint(r.Lost),
		fmt.Sprintf("%.2fs", r.CPUSeconds), fmt.Sprintf("%.0f MB", r.PeakMemoryMB), dash(truncate(r.Error, 120))}
}

// ratioCell shows a ratio to two places, and a tiny one (inproc against
// a channel's millions a second) as under 0.01 rather than a zero that
// reads like a failure.
func ratioCell(r float64) string {
	if r > 0 && r < 0.005 {
		return "<0.01"
	}
	return fmt.Sprintf("%.2f", r)
}

func benchTable(w io.Writer, rs []bench.Result) error {
	t := newTable(w, benchColumns...)
	for _, r := range rs {
		t.row(anySlice(benchCells(r, rs))...)
	}
	return t.flush()
}

func benchMarkdown(w io.Writer, o benchOptions, rs []bench.Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "palantir bench: %s.\n\n", benchSettings(o))
	b.WriteString("| " + strings.Join(benchColumns, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat(" --- |", len(benchColumns)) + "\n")
	for _, r := range rs {
		cells := benchCells(r, rs)
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// benchView shows the phases while they run (on stderr).
type benchView interface {
	update(bench.Progress)
	close()
}

// benchLines prints a line when a phase starts and when it ends.
type benchLines struct {
	w       io.Writer
	started map[string]bool
}

func (v *benchLines) update(p bench.Progress) {
	key := p.Backend + "/" + string(p.Phase)
	switch {
	case p.Finished:
		// No rate here: the phase's own clock leaves out connecting and
		// declaring, and the table has the measured rates.
		fmt.Fprintf(v.w, "%-9s %-9s %d/%d done in %.2fs\n", p.Backend, p.Phase, p.Done, p.Total, p.Elapsed.Seconds())
	case !v.started[key]:
		if v.started == nil {
			v.started = map[string]bool{}
		}
		v.started[key] = true
		fmt.Fprintf(v.w, "%-9s %-9s %d to go…\n", p.Backend, p.Phase, p.Total)
	}
}

func (v *benchLines) close() {}

// benchBars draws one bar per backend and phase.
type benchBars struct {
	p    *mpb.Progress
	bars map[string]*mpb.Bar
}

func newBenchBars(w io.Writer) *benchBars {
	return &benchBars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(30), mpb.WithRefreshRate(100*time.Millisecond)),
		bars: map[string]*mpb.Bar{}}
}

func (v *benchBars) update(p bench.Progress) {
	key := p.Backend + "/" + string(p.Phase)
	bar, ok := v.bars[key]
	if !ok {
		bar = v.p.AddBar(int64(p.Total),
			mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-9s %-9s", p.Backend, p.Phase))),
			mpb.AppendDecorators(decor.CountersNoUnit("%d/%d", decor.WCSyncSpace), decor.Name(" "),
				decor.AverageSpeed(0, "%.0f/s", decor.WCSyncSpace)))
		v.bars[key] = bar
	}
	bar.SetCurrent(int64(p.Done))
	if p.Finished && !bar.Completed() {
		bar.Abort(false) // stopped short: keep it on screen as it is
	}
}

func (v *benchBars) close() {
	for _, b := range v.bars {
		if !b.Completed() && !b.Aborted() {
			b.Abort(false)
		}
	}
	v.p.Wait()
}

// holdableBackends are the registered backends bench can run with its
// store: a queue kept in the store's database needs a database of its
// kind: postgres a PostgreSQL store; sqlite a SQLite file, which bench
// makes for its row whatever the store (a temporary one); with --store
// none there is no database at all.
func holdableBackends(reg *backends.Registry, store string) []string {
	probe := store
	if probe == "" {
		probe = "bench.db" // the temporary SQLite file
	}
	var names []string
	for _, b := range reg.Backends() {
		if b.FromStore != nil {
			_, onStore := b.FromStore(probe)
			_, onFile := b.FromStore("bench.db")
			if store == bench.StoreNone || onStore != nil && onFile != nil {
				continue
			}
		}
		names = append(names, b.Name)
	}
	return names
}
