package peers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// ErrUnreachable means the peer's service (PostgreSQL or Redis) did not
// answer; a test skips on it unless PALANTIR_REQUIRE_SERVICES=1.
var ErrUnreachable = errors.New("service unreachable")

// River's settings from its own benchmark (`river bench`): a short fetch
// cooldown and poll interval and about a thousand workers, which its
// authors found best; inserts go through InsertMany in batches.
const (
	riverTunedWorkers       = 1000
	riverTunedFetchCooldown = 2 * time.Millisecond
	riverTunedPollInterval  = 20 * time.Millisecond
	riverDefaultWorkers     = 4
	riverDefaultBatch       = 100
)

// RiverOptions configure one River run.
type RiverOptions struct {
	// DatabaseURL names a PostgreSQL server and a database to connect to
	// for creating and dropping the scratch database; River itself runs in
	// the scratch database.
	DatabaseURL string
	Jobs        int
	// Workers is the default queue's MaxWorkers (0: 1000 tuned, 4 with
	// Defaults).
	Workers int
	// Defaults keeps River's default FetchCooldown (100 ms) and
	// FetchPollInterval (1 s) instead of the tuned 2 ms and 20 ms.
	Defaults bool
	// Batch is how many jobs one InsertMany carries (0: 100).
	Batch   int
	Payload int           // bytes of encoded job args, about
	Timeout time.Duration // for the whole run after the first insert (0: 5 minutes)
	Logger  *slog.Logger  // River's logger (nil: warnings to nowhere)
}

type noopArgs struct {
	I   int    `json:"i"`
	Pad string `json:"pad"`
}

func (noopArgs) Kind() string { return "palantir_peer_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	t *tally
}

func (w *noopWorker) Work(_ context.Context, job *river.Job[noopArgs]) error {
	w.t.record(job.Args.I)
	return nil
}

// RunRiver inserts o.Jobs no-op jobs into River on a scratch database and
// works them with one client, as River's benchmark does. The scratch
// database is dropped afterwards, whatever happened.
func RunRiver(ctx context.Context, o RiverOptions) (r Result, err error) {
	o = o.withDefaults()
	r = Result{Peer: "river", Mode: "tuned", Jobs: o.Jobs, Workers: o.Workers, PayloadBytes: o.Payload,
		Insert: fmt.Sprintf("InsertMany, batches of %d, one goroutine", o.Batch)}
	cooldown, poll := riverTunedFetchCooldown, riverTunedPollInterval
	if o.Defaults {
		r.Mode = "defaults"
		cooldown, poll = river.FetchCooldownDefault, river.FetchPollIntervalDefault
	}
	r.Settings = fmt.Sprintf("MaxWorkers %d, FetchCooldown %s, FetchPollInterval %s", o.Workers, cooldown, poll)

	scratchURL, drop, err := createScratchDB(ctx, o.DatabaseURL)
	if err != nil {
		return r, err
	}
	defer func() {
		if derr := drop(); derr != nil && err == nil {
			err = derr
		}
	}()
	if u, perr := url.Parse(scratchURL); perr == nil {
		r.Target = u.Redacted()
	}

	pool, err := pgxpool.New(ctx, scratchURL)
	if err != nil {
		return r, fmt.Errorf("river: open pool: %w", err)
	}
	defer pool.Close()
	driver := riverpgxv5.New(pool)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		return r, fmt.Errorf("river: migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return r, fmt.Errorf("river: migrate: %w", err)
	}

	t := newTally(o.Jobs)
	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{t: t})
	cfg := &river.Config{
		Logger:  o.Logger,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.Workers}},
		Workers: workers,
	}
	if !o.Defaults {
		cfg.FetchCooldown, cfg.FetchPollInterval = cooldown, poll
	}
	client, err := river.NewClient(driver, cfg)
	if err != nil {
		return r, fmt.Errorf("river: client: %w", err)
	}
	// The buffer holds every event: a full one drops events.
	events, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed},
		ChanSize: o.Jobs + 1000,
	})
	defer unsubscribe()
	if err := client.Start(ctx); err != nil {
		return r, fmt.Errorf("river: start: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if serr := client.Stop(stopCtx); serr != nil && err == nil {
			err = fmt.Errorf("river: stop: %w", serr)
		}
	}()

	// Every job is built before the clock starts, as palantir bench does.
	padding := pad(o.Payload)
	params := make([]river.InsertManyParams, o.Jobs)
	for i := range params {
		params[i] = river.InsertManyParams{Args: noopArgs{I: i, Pad: padding}}
	}

	runCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	type inserted struct {
		at  time.Time
		err error
	}
	insertDone := make(chan inserted, 1)
	start := time.Now()
	go func() {
		for i := 0; i < len(params); i += o.Batch {
			if _, err := client.InsertMany(runCtx, params[i:min(i+o.Batch, len(params))]); err != nil {
				insertDone <- inserted{time.Now(), fmt.Errorf("river: insert: %w", err)}
				return
			}
		}
		insertDone <- inserted{at: time.Now()}
	}()

	completed := make(map[int64]bool, o.Jobs)
	var failed int
	var end, insertedAt time.Time
	for len(completed) < o.Jobs && err == nil {
		select {
		case ev := <-events:
			if ev.Kind == river.EventKindJobFailed {
				failed++
				continue
			}
			completed[ev.Job.ID] = true
			end = time.Now()
		case ins := <-insertDone:
			insertedAt, err = ins.at, ins.err
		case <-runCtx.Done():
			err = fmt.Errorf("river: %d of %d jobs completed before the timeout (%s): %w", len(completed), o.Jobs, o.Timeout, runCtx.Err())
		}
	}
	if insertedAt.IsZero() && err == nil {
		ins := <-insertDone
		insertedAt, err = ins.at, ins.err
	}
	r.finish(start, insertedAt, end, int64(len(completed)))
	t.fill(&r)
	// Lost, as palantir bench counts it: never recorded as completed.
	r.Lost = max(r.Lost, int64(o.Jobs-len(completed)))
	if failed > 0 && err == nil {
		err = fmt.Errorf("river: %d jobs failed", failed)
	}
	if err == nil {
		// The events say the completer wrote; the table says it too.
		var n int
		if qerr := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'completed'`).Scan(&n); qerr != nil {
			err = fmt.Errorf("river: count completed jobs: %w", qerr)
		} else if n != o.Jobs {
			err = fmt.Errorf("river: %d jobs completed in river_job, want %d", n, o.Jobs)
		}
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r, err
}

func (o RiverOptions) withDefaults() RiverOptions {
	if o.Workers == 0 {
		o.Workers = riverTunedWorkers
		if o.Defaults {
			o.Workers = riverDefaultWorkers
		}
	}
	if o.Batch <= 0 {
		o.Batch = riverDefaultBatch
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	return o
}

// createScratchDB creates a database with a random name on adminURL's
// server and returns its URL and a function that drops it (closing any
// connection left to it).
func createScratchDB(ctx context.Context, adminURL string) (string, func() error, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("postgres url: %w", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "palantir_peers_" + hex.EncodeToString(b[:])

	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to %s: %w: %w", u.Redacted(), ErrUnreachable, err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create scratch database %s: %w", name, err)
	}
	drop := func() error {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(dctx, adminURL)
		if err != nil {
			return fmt.Errorf("drop scratch database %s: %w", name, err)
		}
		defer c.Close(dctx)
		if _, err := c.Exec(dctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop scratch database %s: %w", name, err)
		}
		return nil
	}
	s := *u
	s.Path = "/" + name
	return s.String(), drop, nil
}
