package backends

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Backend describes one registered backend: every fact about it that the
// rest of palantir needs (flags, config keys, doctor's advice, bench's
// ceiling, the docs' guarantees, trace's primitives) lives here, so that
// adding a backend touches its own package and backends/all only.
type Backend struct {
	Name    string
	Schemes []string // URL schemes that select it
	// Holds says what holds the queue, for docs and doctor
	// ("Redis Streams").
	Holds string
	// URL is the backend's own URL setting; nil when it has none (inproc,
	// or a queue in the store's database).
	URL *URLSetting
	// FromStore derives the backend's URL from the store's (--store) when
	// no URL names it: a queue that lives in the store's database. Its
	// error (wrapping ErrBadURL) says why that store cannot hold it.
	FromStore func(storeURL string) (string, error)
	// Embedded is true when the queue lives in the launching process:
	// launch and serve run embedded workers, and `worker` refuses.
	Embedded bool
	// Networked is true when processes of other machines can share the
	// queue (false for inproc and for a queue in a SQLite file).
	Networked bool
	// Open connects. It must fail within a few seconds, wrapping
	// ErrUnreachable, when the broker does not answer.
	Open Opener
	// Hint is doctor's advice when Open fails for another reason than a
	// bad URL (the broker does not answer, refuses the login, …).
	Hint func(err error) string
	// Ceiling measures the bare client library's throughput on this
	// broker, for bench; nil when there is none to measure.
	Ceiling Ceiling
	// Primitives names, for each telemetry event, the broker or database
	// operation that produced it on this backend (trace --explain).
	Primitives map[string]string
	// Guarantees is what the docs' guarantees table says of it.
	Guarantees Guarantees
	// RedactURL hides the secrets of this backend's URLs beyond what
	// Redact knows (a NATS token is a lone user name); nil: Redact.
	RedactURL func(rawURL string) string
}

// Redact is rawURL without its secrets, as this backend reads them, for
// banners, doctor lines, hints and bench rows.
func (b Backend) Redact(rawURL string) string {
	if b.RedactURL != nil {
		return b.RedactURL(rawURL)
	}
	return Redact(rawURL)
}

// URLSetting is a backend's URL setting: config key redis_url is flag
// --redis-url and environment variable PALANTIR_REDIS_URL.
type URLSetting struct {
	Key     string
	Default string
	// Help is the flag's one-line help.
	Help string
}

// Flag is the setting's command-line flag, without dashes.
func (s URLSetting) Flag() string { return strings.ReplaceAll(s.Key, "_", "-") }

// Env is the setting's environment variable.
func (s URLSetting) Env() string { return "PALANTIR_" + strings.ToUpper(s.Key) }

// Guarantees lists, in a phrase each, what a backend guarantees and what
// it does not, beyond the delivery semantics every backend keeps.
type Guarantees struct {
	Holds   []string
	DoesNot []string
}

// Ceiling moves run.N messages of run.Body through the broker with the
// bare client library, as a tuned program of its own would, and returns
// how long that took, setup excluded. It adds each settled message to
// run.Acked, and removes what it created before returning.
type Ceiling func(ctx context.Context, run CeilingRun) (time.Duration, error)

// CeilingRun is one ceiling measurement.
type CeilingRun struct {
	URL, Queue                      string
	Messages, Concurrency, Prefetch int
	Body                            []byte
	Acked                           *atomic.Int64
}

// Destroyer is a Queue that can delete every broker object of its queue
// (streams, queues, tables, dead letters), for bench, tests and
// `palantir purge --all`. A backend that keeps nothing outside the
// process need not implement it.
type Destroyer interface {
	// Destroy deletes the queue's every object, messages included. The
	// queue is unusable afterwards, except for Close.
	Destroy(ctx context.Context) error
}

// URLFor is the URL a backend connects to. nameOrURL is --backend: when
// it is a URL, that URL; otherwise the backend's URL setting from
// settings (by key), or the one it derives from the store's URL; "" for
// a backend that needs none.
func (b Backend) URLFor(nameOrURL string, settings map[string]string, storeURL string) (string, error) {
	switch {
	case strings.Contains(nameOrURL, "://"):
		return strings.TrimSpace(nameOrURL), nil
	case b.URL != nil:
		if u, ok := settings[b.URL.Key]; ok && u != "" {
			return u, nil
		}
		return b.URL.Default, nil
	case b.FromStore != nil:
		u, err := b.FromStore(storeURL)
		if err != nil {
			return "", fmt.Errorf("backend %s: %w", b.Name, err)
		}
		return u, nil
	}
	return "", nil
}

// Settings lists the URL settings of the registered backends, in order.
func (r *Registry) Settings() []URLSetting {
	var s []URLSetting
	for _, name := range r.order {
		if u := r.byName[name].URL; u != nil {
			s = append(s, *u)
		}
	}
	return s
}

// Backends lists the registered backends in registration order.
func (r *Registry) Backends() []Backend {
	bs := make([]Backend, len(r.order))
	for i, name := range r.order {
		bs[i] = r.byName[name]
	}
	return bs
}

// MeasureCeiling times a bare-client ceiling: produce puts run.Messages
// messages on the broker in batches of batch (it is called with each
// batch's size, from one goroutine), while run.Concurrency consumers
// (numbered 0, 1, …) each call take until every message is acked. take
// claims and acks what it can in one round and returns how many it
// acked, 0 when nothing was ready (it then waits a moment). The time is from the start to the last
// ack; errors name what (the backend's name) failed.
func MeasureCeiling(ctx context.Context, run CeilingRun, what string, batch int,
	produce func(ctx context.Context, n int) error, take func(ctx context.Context, consumer int) (int, error)) (time.Duration, error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var end atomic.Int64 // when the last message was acked (unix ns)
	errs := make(chan error, run.Concurrency+1)
	start := time.Now()
	go func() {
		for sent := 0; sent < run.Messages; sent += batch {
			if err := produce(ctx, min(batch, run.Messages-sent)); err != nil {
				errs <- fmt.Errorf("%s ceiling: publish: %w", what, err)
				stop()
				return
			}
		}
		errs <- nil
	}()
	var wg sync.WaitGroup
	for c := range run.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && run.Acked.Load() < int64(run.Messages) {
				n, err := take(ctx, c)
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("%s ceiling: consume: %w", what, err)
						stop()
					}
					return
				}
				if n == 0 {
					idle(ctx, time.Millisecond)
					continue
				}
				if run.Acked.Add(int64(n)) >= int64(run.Messages) {
					end.CompareAndSwap(0, time.Now().UnixNano())
				}
			}
		}()
	}
	wg.Wait()
	if run.Acked.Load() < int64(run.Messages) {
		stop()
		// The consumers' errors are in errs by now, maybe behind the
		// producer's nil: the first error there is the cause.
		for more := true; more; {
			select {
			case err := <-errs:
				if err != nil {
					return 0, err
				}
			default:
				more = false
			}
		}
		return 0, fmt.Errorf("%s ceiling: %d of %d messages acked: %w", what, run.Acked.Load(), run.Messages, context.Cause(ctx))
	}
	if err := <-errs; err != nil {
		return 0, err
	}
	return time.Unix(0, end.Load()).Sub(start), nil
}

// idle waits d or until ctx ends.
func idle(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
