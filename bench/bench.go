package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/worker"
)

// Limits of Options, checked by Validate.
const (
	MaxConcurrency = 1024
	MaxPrefetch    = worker.MaxPrefetch
	MaxPayload     = 1 << 20
)

// Options configure a Run. Zero values take the defaults in brackets.
type Options struct {
	// Registry resolves Backends. Required.
	Registry *backends.Registry
	// Backends are names (inproc, redis, rabbitmq) or broker URLs whose
	// scheme picks the backend, measured one after the other in this order.
	Backends []string
	// URLs are the backends' URL settings by key (redis_url: …), for
	// the backends that Backends names rather than giving a URL; a
	// backend without one here uses its default, or the store's URL.
	URLs map[string]string

	// Missions per backend (at least 1); Concurrency is the worker's (and
	// the ceiling's) number of consumer goroutines [1].
	Missions, Concurrency int
	// Prefetch is how many unsettled messages a consumer may hold, in both
	// phases: the worker's Prefetch and the bare consumers' read size or
	// basic.qos [max(Concurrency, 100)].
	Prefetch int
	// Payload is the size in bytes of each message on the wire; orders
	// are padded up to it (a smaller value leaves them unpadded).
	Payload int
	// Rate is the arrival rate in missions/s of the palantir phase; 0
	// publishes as fast as the pipeline takes them.
	Rate float64

	// Store is where the palantir phase persists: "" a fresh SQLite file
	// in a temporary directory, removed afterwards (one per backend);
	// "none" no persistence at all (an in-memory stand-in that still
	// detects duplicates); anything else a store URL (store.Open).
	Store string
	// Queue prefixes the queue names of the run; each backend and phase
	// gets its own queue under it [bench-<random>].
	Queue string
	// DrainTimeout is how long the palantir phase waits without any
	// mission settling before it stops and counts the rest as lost [30s].
	DrainTimeout time.Duration

	// Progress, when set, is told how each phase advances: once when it
	// starts, every 200 ms, and once when it ends (Finished). Calls are
	// never concurrent.
	Progress func(Progress)
	// Logger receives the worker's and the backends' logs [discarded].
	Logger *slog.Logger
}

// StoreNone is the Options.Store value that turns persistence off.
const StoreNone = "none"

// Phase names a stage of one backend's measurement.
type Phase string

// The phases, in the order they run for each backend.
const (
	PhaseCeiling  Phase = "ceiling"  // the bare client library
	PhasePalantir Phase = "palantir" // the real pipeline
)

// Progress reports how far a phase is.
type Progress struct {
	Backend  string
	Phase    Phase
	Done     int // messages (ceiling) or missions (palantir) settled
	Total    int
	Elapsed  time.Duration
	Finished bool
}

// Validate checks the options, naming the first bad one.
func (o Options) Validate() error {
	switch {
	case o.Registry == nil:
		return errors.New("bench: no backend registry")
	case len(o.Backends) == 0:
		return errors.New("no backends to measure")
	case o.Missions < 1:
		return fmt.Errorf("missions must be at least 1, got %d", o.Missions)
	case o.Concurrency < 0 || o.Concurrency > MaxConcurrency:
		return fmt.Errorf("concurrency must be between 1 and %d, got %d", MaxConcurrency, o.Concurrency)
	case o.Prefetch < 0 || o.Prefetch > MaxPrefetch || (o.Prefetch > 0 && o.Prefetch < o.Concurrency):
		return fmt.Errorf("prefetch must be between concurrency (%d) and %d, got %d", o.Concurrency, MaxPrefetch, o.Prefetch)
	case o.Payload < 0 || o.Payload > MaxPayload:
		return fmt.Errorf("payload must be between 0 and %d bytes, got %d", MaxPayload, o.Payload)
	case o.Rate < 0:
		return fmt.Errorf("rate must be 0 (unlimited) or positive, got %g", o.Rate)
	}
	for _, b := range o.Backends {
		if _, err := o.Registry.Resolve(b); err != nil {
			return err
		}
	}
	return nil
}

// target is one backend to measure.
type target struct {
	backend backends.Backend
	name    string // as Options.Backends gives it: a name or a URL
	url     string // broker URL, set by openEnv; "" for inproc
	queue   string // the palantir phase's queue; the ceiling's has a suffix
}

func (o *Options) defaults() {
	if o.Concurrency == 0 {
		o.Concurrency = 1
	}
	if o.Prefetch == 0 {
		o.Prefetch = DefaultPrefetch(o.Concurrency)
	}
	if o.Queue == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.Queue = "bench-" + hex.EncodeToString(b[:])
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = func(Progress) {}
	}
}

func (o Options) targets() []target {
	ts := make([]target, len(o.Backends))
	for i, name := range o.Backends {
		b, _ := o.Registry.Resolve(name) // Validate checked
		ts[i] = target{backend: b, name: strings.TrimSpace(name), queue: fmt.Sprintf("%s-%d-%s", o.Queue, i+1, b.Name)}
	}
	return ts
}

// Run measures each backend in turn, and returns one Result per backend in
// the order of o.Backends. A backend that fails (unreachable, or a broker
// error mid-run) gets its error in its Result and the run goes on with the
// next; the returned error then joins those errors (each wrapping the
// cause, such as backends.ErrUnreachable), alongside the complete results.
// Invalid options return an error and no results. Cancelling ctx stops the
// run and returns the results so far with ctx's error.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.defaults()
	var results []Result
	var errs []error
	for _, t := range o.targets() {
		r, err := measure(ctx, o, t)
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
		if err != nil {
			r.Error = oneLine(err)
			errs = append(errs, fmt.Errorf("bench %s: %w", t.backend.Name, err))
		}
		results = append(results, r)
	}
	return results, errors.Join(errs...)
}

// measure runs both phases on one backend.
func measure(ctx context.Context, o Options, t target) (Result, error) {
	r := Result{Backend: t.backend.Name, Missions: o.Missions,
		Concurrency: o.Concurrency, Prefetch: o.Prefetch, PayloadBytes: o.Payload, Rate: o.Rate, Store: StoreLabel(o.Store)}
	bodies, err := newOrders(o.Missions, o.Payload)
	if err != nil {
		return r, err
	}
	r.PayloadBytes = bodies.size()

	env, err := openEnv(ctx, o, t)
	if err != nil {
		return r, err
	}
	defer env.close(ctx)
	t = env.t
	r.Broker = t.backend.Redact(t.url)
	r.Store = StoreLabel(env.store)

	if t.backend.Ceiling == nil {
		o.Logger.Warn("no bare-client ceiling for this backend", "backend", t.backend.Name)
	} else {
		rate, err := runCeiling(ctx, o, t, bodies.sample())
		if err != nil {
			return r, fmt.Errorf("ceiling: %w", err)
		}
		r.CeilingMsgsPerSec = rate
	}
	if err := runPalantir(ctx, o, t, env, bodies, &r); err != nil {
		return r, err
	}
	if r.CeilingMsgsPerSec > 0 {
		r.RatioToCeiling = r.MissionsPerSec / r.CeilingMsgsPerSec
	}
	return r, nil
}

// StoreLabel is how rows and headers name a --store value: its driver
// and where it is, password redacted.
func StoreLabel(s string) string {
	switch s {
	case "":
		return "sqlite (temporary file)"
	case StoreNone:
		return StoreNone
	}
	return store.Describe(s)
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
