// Package verify measures a live broker's delivery semantics: it runs
// short scenarios (redelivery after a consumer dies, lease extension,
// delayed retry accuracy, dead letters, ordering, a stalled consumer,
// durability across a restart) on scratch queues through the backends.Queue
// contract, and reports for each whether the property holds, with the figure
// measured. It is `palantir verify`'s engine; it knows nothing of the CLI
// and compares with no backend name: every verdict comes from what was
// measured, or from the backend's descriptor.
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// Verdict is a scenario's outcome.
type Verdict string

// The verdicts. DoesNotHold is a finding about the broker, not a failure
// of verify.
const (
	Holds       Verdict = "holds"
	DoesNotHold Verdict = "does not hold"
	NotMeasured Verdict = "not measured"
)

// Result is one row of the semantics matrix.
type Result struct {
	Scenario   string  `json:"scenario"`
	Verdict    Verdict `json:"verdict"`
	Figure     string  `json:"figure"`
	Note       string  `json:"note"`
	DurationMS int64   `json:"duration_ms"`
}

// Options tune a run.
type Options struct {
	// Lease is the scratch queues' visibility timeout [DefaultLease].
	Lease time.Duration
	// RestartCmd is a shell command that restarts the broker; without it
	// durability is not measured.
	RestartCmd string
	// Progress receives one line per scenario ("verify: name… 1.2s"); nil
	// for none.
	Progress io.Writer
	// Prefix starts the scratch queues' names [verify-<random>].
	Prefix string
}

// DefaultLease is the scratch queues' lease when Options.Lease is zero.
const DefaultLease = time.Second

// ErrScenario: a scenario could not run to a verdict (an operation
// failed); its row says which and why.
var ErrScenario = errors.New("verify: scenario failed")

// LateThreshold is the median lateness under which delayed retries hold,
// and EarlyTolerance how early one may come back (clock granularity).
const (
	LateThreshold  = 500 * time.Millisecond
	EarlyTolerance = 10 * time.Millisecond
)

// scenario is one check. run returns the row without its duration; an
// error leaves the row "not measured" with the error as its note.
type scenario struct {
	key, name string
	run       func(ctx context.Context, e *env) (Result, error)
}

var scenarios = []scenario{
	{"redelivery", "redelivery after a consumer dies", redelivery},
	{"extend", "lease extension keeps a message", extension},
	{"retry", "delayed retry accuracy", retryAccuracy},
	{"deadletter", "dead letters listed and replayed", deadLetters},
	{"order", "ordering within a queue", ordering},
	{"stalled", "a stalled consumer's message is redelivered after the lease", stalled},
	{"durability", "durability across a broker restart", durability},
}

// Run runs every scenario against backend be, opened with cfg (cfg.Queue
// is replaced by each scenario's scratch queue, cfg.Lease by o.Lease), and
// returns one row per scenario. It returns an error wrapping
// backends.ErrUnreachable, with no rows, when the broker does not answer,
// and rows with an error wrapping ErrScenario when some scenario could not
// reach a verdict. Cancelling ctx stops the run.
func Run(ctx context.Context, be backends.Backend, cfg backends.Config, o Options) ([]Result, error) {
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Prefix == "" {
		o.Prefix = fmt.Sprintf("verify-%08x", rand.Uint32())
	}
	cfg.Lease = o.Lease
	var results []Result
	var failed []error
	for _, s := range scenarios {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "verify: %s… ", s.name)
		}
		e := &env{be: be, cfg: cfg, opts: o, queue: o.Prefix + "-" + s.key}
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		start := time.Now()
		r, err := s.run(sctx, e)
		took := time.Since(start)
		cancel()
		e.cleanup()
		if err != nil && ctx.Err() != nil {
			if o.Progress != nil {
				fmt.Fprintln(o.Progress, "interrupted")
			}
			return results, ctx.Err()
		}
		if err != nil && errors.Is(err, backends.ErrUnreachable) {
			if o.Progress != nil {
				fmt.Fprintln(o.Progress, "unreachable")
			}
			return nil, err
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", s.name, err))
			r = Result{Verdict: NotMeasured, Figure: "-", Note: "error: " + backends.RedactText(err.Error())}
		}
		r.Scenario, r.DurationMS = s.name, took.Milliseconds()
		results = append(results, r)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "%s, %.1fs\n", r.Verdict, took.Seconds())
		}
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%w: %w", ErrScenario, errors.Join(failed...))
	}
	return results, nil
}

// env is one scenario's scratch queue and the handles it opened.
type env struct {
	be      backends.Backend
	cfg     backends.Config
	opts    Options
	queue   string
	handles []backends.Queue
}

// open connects to the scratch queue as a new, independent client (as
// another process would).
func (e *env) open(ctx context.Context) (backends.Queue, error) {
	cfg := e.cfg
	cfg.Queue = e.queue
	q, err := e.be.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e.handles = append(e.handles, q)
	return q, nil
}

// cleanup deletes the scratch queue's broker objects (Destroy when the
// backend can, else Purge) and closes every handle.
func (e *env) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, q := range e.handles {
		q.Close()
	}
	q, err := e.open(ctx)
	if err != nil {
		return
	}
	if d, ok := q.(backends.Destroyer); ok {
		d.Destroy(ctx)
	} else {
		q.Purge(ctx)
	}
	q.Close()
}

// subscribe opens a consumer on a new handle.
func (e *env) subscribe(ctx context.Context, name string, prefetch int) (backends.Queue, backends.Consumer, error) {
	q, err := e.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: name, Prefetch: prefetch})
	if err != nil {
		return nil, nil, fmt.Errorf("subscribe %s: %w", name, err)
	}
	return q, c, nil
}

// receive waits up to within for a delivery; (nil, nil) when none came.
func receive(ctx context.Context, c backends.Consumer, within time.Duration) (backends.Delivery, error) {
	rctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	d, err := c.Receive(rctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	return d, nil
}

func message(id string) backends.Message {
	return backends.Message{ID: id, Body: []byte(`{"verify":"` + id + `"}`)}
}

// ms prints a duration for a figure.
func ms(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + ms(-d)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	case d < 10*time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}
