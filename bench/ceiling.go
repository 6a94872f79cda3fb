package bench

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// DefaultPrefetch is Options.Prefetch unless set: enough unsettled
// messages to keep the connection busy, as a tuned client would.
func DefaultPrefetch(concurrency int) int { return max(concurrency, 100) }

// runCeiling measures t's ceiling on its own queue and returns msgs/s.
func runCeiling(ctx context.Context, o Options, t target, body []byte) (float64, error) {
	c := backends.CeilingRun{URL: t.url, Queue: t.queue + "-ceiling", Messages: o.Missions, Concurrency: o.Concurrency,
		Prefetch: o.Prefetch, Body: body, Acked: new(atomic.Int64)}
	stop := reportProgress(o, t.backend.Name, PhaseCeiling, o.Missions, func() int { return int(c.Acked.Load()) })
	elapsed, err := t.backend.Ceiling(ctx, c)
	stop()
	if err != nil {
		return 0, err
	}
	return float64(o.Missions) / max(elapsed.Seconds(), 1e-9), nil
}

// reportProgress tells o.Progress about a phase until stop is called,
// which sends the final report.
func reportProgress(o Options, backend string, phase Phase, total int, done func() int) (stop func()) {
	start := time.Now()
	report := func(finished bool) {
		o.Progress(Progress{Backend: backend, Phase: phase, Done: done(), Total: total, Elapsed: time.Since(start), Finished: finished})
	}
	report(false)
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				report(false)
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
		report(true)
	}
}
