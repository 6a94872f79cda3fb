package bench

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palantir-lab/palantir/dispatch"
	"github.com/palantir-lab/palantir/telemetry"
	"github.com/palantir-lab/palantir/worker"
)

// publishBatch is how many missions one publish step stores and
// publishes at most: what `palantir launch` does.
const publishBatch = 1000

// noSleep makes every stage take no time: bench measures the pipeline,
// not the missions.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// runPalantir is the palantir phase: the missions go through the real
// path (store, Publish, worker, persistence, telemetry, ack) and r gets
// the measurements.
func runPalantir(ctx context.Context, o Options, t target, e *env, os *orders, r *Result) error {
	n := len(os.list)
	tl := newTally(os)
	tel := telemetry.NewRecorder(e.events, o.Logger)
	defer tel.Close()
	w := worker.New(worker.Config{Name: "bench", Concurrency: o.Concurrency, Prefetch: o.Prefetch, ShutdownTimeout: 5 * time.Second,
		Backend: t.backend.Name, Queue: t.queue, Logger: o.Logger, Sleep: noSleep, Observe: tl.observe}, e.q, e.st, tel)

	// Start from a clean heap, so the peak is this phase's own.
	runtime.GC()
	debug.FreeOSMemory()
	mem := startMemSampler(20 * time.Millisecond)
	cpu0 := cpuTime()

	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	var runErr error
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		runErr = w.Run(wctx)
	}()

	stopProgress := reportProgress(o, t.backend.Name, PhasePalantir, n, tl.successCount)
	start := time.Now()
	p := &publisher{o: o, t: t, e: e, os: os, tl: tl, d: &dispatch.Dispatcher{
		Store: e.st, Queue: e.q, Telemetry: tel, Backend: t.backend.Name, QueueName: t.queue, Log: o.Logger,
		OnPublish: func(d time.Duration, n int) { tl.publish.record(d, int64(n)) },
	}}
	var pubErr error
	if o.Rate > 0 {
		pubErr = p.atRate(ctx, start)
	} else {
		pubErr = p.flat(ctx)
	}
	drainErr := tl.drain(ctx, p.published, o.DrainTimeout, workerDone)
	cpu := cpuTime() - cpu0
	peak := mem.stop()
	stopProgress()
	stopWorker()
	<-workerDone
	tel.Close()

	succeeded, last := tl.result(r)
	end := last
	if end.IsZero() {
		end = time.Now()
	}
	r.DurationSeconds = end.Sub(start).Seconds()
	if r.DurationSeconds > 0 {
		r.MissionsPerSec = float64(succeeded) / r.DurationSeconds
	}
	r.Lost = max(int64(p.published-succeeded), 0)
	r.PublishMS = tl.publish.percentiles()
	r.CPUSeconds = cpu.Seconds()
	r.PeakMemoryMB = float64(peak) / (1 << 20)

	switch {
	case pubErr != nil:
		return pubErr
	case drainErr != nil:
		return drainErr
	case runErr != nil:
		return runErr
	case p.published < n:
		return fmt.Errorf("only %d of %d missions published", p.published, n)
	}
	return nil
}

// publisher plays `palantir launch`: for each batch, create the missions
// in the store, publish them, mark them queued, with the same telemetry.
type publisher struct {
	o         Options
	t         target
	e         *env
	d         *dispatch.Dispatcher
	os        *orders
	tl        *tally
	published int
}

// flat publishes everything as fast as the pipeline takes it. A
// mission's intended send time is when its batch began.
func (p *publisher) flat(ctx context.Context) error {
	for lo := 0; lo < len(p.os.list); lo += publishBatch {
		hi := min(lo+publishBatch, len(p.os.list))
		now := time.Now()
		for i := lo; i < hi; i++ {
			p.intend(i, now)
		}
		if err := p.batch(ctx, lo, hi); err != nil {
			return err
		}
	}
	return nil
}

// atRate publishes mission i at start + i/rate. A ticker wakes the
// publisher (every millisecond at most) to send whatever has become due;
// when a publish runs late, the next one catches up in one batch, and
// latency is still counted from each mission's intended time, so a
// stalled pipeline shows in the percentiles instead of slowing the
// arrivals (no coordinated omission).
func (p *publisher) atRate(ctx context.Context, start time.Time) error {
	n := len(p.os.list)
	interval := float64(time.Second) / p.o.Rate
	for i := range n {
		p.intend(i, start.Add(time.Duration(float64(i)*interval)))
	}
	tick := time.NewTicker(max(time.Duration(interval), time.Millisecond))
	defer tick.Stop()
	next := 0
	for next < n {
		due := min(int(float64(time.Since(start))/interval)+1, n)
		for next < due {
			hi := min(next+publishBatch, due)
			if err := p.batch(ctx, next, hi); err != nil {
				return err
			}
			next = hi
		}
		if next == n {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// intend sets mission i's intended send time, which is also when the
// mission is invoked (created_at and mission_invoked), as for a launch.
func (p *publisher) intend(i int, at time.Time) {
	p.tl.intended[i].Store(at.UnixNano())
	p.os.list[i].CreatedAt = at.UTC()
}

// batch stores, publishes and marks queued the missions lo..hi-1, the
// way `palantir launch` does: through the same dispatcher.
func (p *publisher) batch(ctx context.Context, lo, hi int) error {
	if err := p.d.Publish(ctx, p.os.list[lo:hi], p.os.bodies[lo:hi]); err != nil {
		return err
	}
	p.published += hi - lo
	return nil
}

// tally collects the worker's observations. Safe for concurrent use:
// observe runs on the worker's goroutines.
type tally struct {
	os       *orders
	intended []atomic.Int64 // unix ns, per mission index

	publish, queueWait, endToEnd *latency

	successes atomic.Int64
	mu        sync.Mutex
	succeeded []bool
	last      time.Time // the latest settlement
	redeliv   int64
	dups      int64
}

func newTally(os *orders) *tally {
	n := len(os.list)
	return &tally{os: os, intended: make([]atomic.Int64, n), succeeded: make([]bool, n),
		publish: newLatency(), queueWait: newLatency(), endToEnd: newLatency()}
}

func (t *tally) successCount() int { return int(t.successes.Load()) }

// observe is the worker's Observe hook.
func (t *tally) observe(ob worker.Observation) {
	i := t.os.index(ob.Received.ID)
	if i < 0 {
		return // not one of ours (a leftover on a reused queue)
	}
	t.queueWait.record(ob.Taken.Sub(ob.Received.EnqueuedAt), 1)
	first := false
	t.mu.Lock()
	if ob.Received.Redelivered {
		t.redeliv++
	}
	switch ob.Result {
	case worker.Succeeded:
		if t.succeeded[i] {
			t.dups++ // recorded twice: the store let a duplicate through
		} else {
			t.succeeded[i], first = true, true
		}
	case worker.Duplicate:
		t.dups++
	}
	if ob.Settled.After(t.last) {
		t.last = ob.Settled
	}
	t.mu.Unlock()
	if first {
		t.endToEnd.record(ob.Settled.Sub(time.Unix(0, t.intended[i].Load())), 1)
		t.successes.Add(1)
	}
}

// drain waits until every published mission succeeded, or nothing
// succeeded for timeout (the rest are then lost), or the worker stopped.
func (t *tally) drain(ctx context.Context, published int, timeout time.Duration, workerDone <-chan struct{}) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	seen, since := t.successes.Load(), time.Now()
	for {
		got := t.successes.Load()
		if got >= int64(published) {
			return nil
		}
		if got != seen {
			seen, since = got, time.Now()
		} else if time.Since(since) > timeout {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-workerDone:
			return nil
		case <-tick.C:
		}
	}
}

// result fills r's counts and latencies and returns the distinct
// successes and the time of the last settlement.
func (t *tally) result(r *Result) (int, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r.Redeliveries, r.Duplicates = t.redeliv, t.dups
	r.QueueWaitMS = t.queueWait.percentiles()
	r.EndToEndMS = t.endToEnd.percentiles()
	r.EndToEndCDF = t.endToEnd.cdf()
	return int(t.successes.Load()), t.last
}
