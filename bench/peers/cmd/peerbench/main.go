// Command peerbench measures one of palantir's peers, River or asynq, the
// way `palantir bench` measures palantir: N no-op jobs timed from the
// first insert to the last completion, lost and duplicated jobs counted.
//
//	cd bench/peers && go run ./cmd/peerbench --peer river --jobs 10000
//	go -C bench/peers run ./cmd/peerbench --peer asynq --jobs 10000 -o json
//
// River runs in a scratch PostgreSQL database it creates next to --pg and
// drops afterwards; asynq in the Redis database named by --redis (not 0),
// flushed before and after.
//
// EXIT STATUS
//
//	0  measured, nothing lost
//	1  jobs lost or duplicated, or the run failed
//	2  bad arguments
//	3  PostgreSQL or Redis unreachable
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/bench/peers"
)

type options struct {
	Peer          string
	Jobs          int
	Workers       int
	Payload       int
	PG            string
	Redis         string
	RiverDefaults bool
	RiverBatch    int
	Enqueuers     int
	CheckInterval time.Duration
	Timeout       time.Duration
	Output        string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
	}
	os.Exit(exitCode(err))
}

// usageError is a bad argument: exit status 2.
type usageError struct{ error }

func exitCode(err error) int {
	var u usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u) || errors.Is(err, flag.ErrHelp):
		return 2
	case errors.Is(err, peers.ErrUnreachable):
		return 3
	default:
		return 1
	}
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("peerbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Peer, "peer", "", "the peer to measure: river or asynq")
	fs.IntVar(&o.Jobs, "jobs", 10000, "no-op jobs to insert and work")
	fs.IntVar(&o.Workers, "workers", 0, "River MaxWorkers (0: 1000, or 4 with --river-defaults); asynq Concurrency (0: 4, as palantir bench -c 4)")
	fs.IntVar(&o.Payload, "payload", 256, "bytes of encoded job args, about (palantir bench's default payload)")
	fs.StringVar(&o.PG, "pg", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server for River (a scratch database is created there and dropped)")
	fs.StringVar(&o.Redis, "redis", "redis://127.0.0.1:6379/15", "Redis for asynq: a database other than 0, flushed before and after")
	fs.BoolVar(&o.RiverDefaults, "river-defaults", false, "River with its default client settings (MaxWorkers 4, FetchCooldown 100ms, FetchPollInterval 1s) instead of its benchmark's")
	fs.IntVar(&o.RiverBatch, "river-batch", 100, "jobs per River InsertMany")
	fs.IntVar(&o.Enqueuers, "enqueuers", 4, "goroutines calling asynq's Enqueue (one task per call)")
	fs.DurationVar(&o.CheckInterval, "asynq-check-interval", 10*time.Millisecond, "asynq TaskCheckInterval (asynq's default is 1s)")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "give up when the jobs are not all completed by then")
	fs.StringVar(&o.Output, "o", "table", "output: table or json (one JSON array)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	case o.Peer != "river" && o.Peer != "asynq":
		return o, usageError{fmt.Errorf("--peer must be river or asynq, got %q", o.Peer)}
	case o.Jobs < 1:
		return o, usageError{fmt.Errorf("--jobs must be at least 1, got %d", o.Jobs)}
	case o.Workers < 0 || o.Workers > 10000:
		return o, usageError{fmt.Errorf("--workers must be between 0 and 10000, got %d", o.Workers)}
	case o.Output != "table" && o.Output != "json":
		return o, usageError{fmt.Errorf("-o must be table or json, got %q", o.Output)}
	case o.RiverBatch < 1 || o.Enqueuers < 1 || o.CheckInterval <= 0 || o.Timeout <= 0 || o.Payload < 0:
		return o, usageError{errors.New("--river-batch, --enqueuers, --asynq-check-interval and --timeout must be positive, --payload not negative")}
	}
	if o.Peer == "asynq" {
		u, err := url.Parse(o.Redis)
		if err != nil {
			return o, usageError{fmt.Errorf("--redis: %w", err)}
		}
		if db := strings.Trim(u.Path, "/"); db == "" || db == "0" {
			return o, usageError{fmt.Errorf("--redis %s: database 0 is refused (the run flushes its database; name another, such as /15)", u.Redacted())}
		}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	var r peers.Result
	switch o.Peer {
	case "river":
		r, err = peers.RunRiver(ctx, peers.RiverOptions{
			DatabaseURL: o.PG, Jobs: o.Jobs, Workers: o.Workers, Defaults: o.RiverDefaults,
			Batch: o.RiverBatch, Payload: o.Payload, Timeout: o.Timeout,
			Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
	case "asynq":
		r, err = peers.RunAsynq(ctx, peers.AsynqOptions{
			RedisURL: o.Redis, Jobs: o.Jobs, Workers: o.Workers, Enqueuers: o.Enqueuers,
			CheckInterval: o.CheckInterval, Payload: o.Payload, Timeout: o.Timeout,
		})
	}
	if r.Executed == 0 && err != nil {
		return err // nothing was measured
	}
	if o.Output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode([]peers.Result{r}); jerr != nil {
			return jerr
		}
	} else {
		fmt.Fprintf(stdout, "%-6s %-8s %8.0f jobs/s  %d jobs in %.2fs (inserted in %.2fs)  lost %d  duplicates %d\n",
			r.Peer, r.Mode, r.JobsPerSec, r.Jobs, r.DurationSeconds, r.InsertSeconds, r.Lost, r.Duplicates)
		fmt.Fprintf(stdout, "       %s; %s; %s\n", r.Settings, r.Insert, r.Target)
	}
	if err != nil {
		return err
	}
	if r.Lost > 0 || r.Duplicates > 0 {
		return fmt.Errorf("%s: %d lost, %d duplicates", r.Peer, r.Lost, r.Duplicates)
	}
	return nil
}
