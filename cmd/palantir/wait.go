package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
	"github.com/palantir-lab/palantir/worker"
)

// startEmbeddedWorkers runs n workers named eagle1…eagleN in this process
// (the inproc backend has no other). stop shuts them down gracefully, as
// does the end of ctx (Ctrl-C), which is said on stderr.
func startEmbeddedWorkers(ctx context.Context, a *app, q backends.Subscriber, st *store.Store, tel *telemetry.Recorder, n int) (stop func()) {
	shutdown, wait := runWorkers(ctx, a, q, st, tel, n)
	stopOnSignal := context.AfterFunc(ctx, func() {
		sayInterrupted(a)
		shutdown()
	})
	return func() {
		stopOnSignal()
		shutdown()
		wait()
	}
}

// runWorkers runs n embedded workers until shutdown, which begins their
// graceful shutdown; wait waits for its end.
func runWorkers(ctx context.Context, a *app, q backends.Subscriber, st *store.Store, tel *telemetry.Recorder, n int) (shutdown, wait func()) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		w := worker.New(worker.Config{Name: fmt.Sprintf("eagle%d", i), Concurrency: 1, Lease: a.cfg.Lease,
			ShutdownTimeout: a.cfg.ShutdownTimeout, Backend: a.be.Name, Queue: a.cfg.Queue, Logger: a.log,
			MaxMessageBytes: a.cfg.MaxMessageBytes(), MaxDeliveries: a.cfg.MaxDeliveries}, q, st, tel)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(wctx); err != nil {
				a.log.Error("embedded worker stopped", "err", err)
			}
		}()
	}
	return cancel, wg.Wait
}

func sayInterrupted(a *app) {
	fmt.Fprintf(a.Err, "\ninterrupted: letting in-flight missions finish (up to %v; Ctrl-C again to quit now)\n", a.cfg.ShutdownTimeout)
}

// runEmbedded runs ids to the end on n embedded workers. If the wait is
// cut short (Ctrl-C), the missions that did not finish are ended as
// FAILURE: their queue lived in this process and is about to vanish, and a
// QUEUED row that nothing can ever run would mislead status and history.
// The interruption is said once the progress view has stopped drawing:
// said while bars are live, their next frame is drawn over it.
func runEmbedded(ctx context.Context, a *app, q backends.Subscriber, st *store.Store, tel *telemetry.Recorder, n int, ids []string) ([]store.Mission, error) {
	shutdown, wait := runWorkers(ctx, a, q, st, tel, n)
	final, err := waitMissions(ctx, a, st, ids)
	if ctx.Err() != nil {
		sayInterrupted(a)
	}
	shutdown()
	wait()
	if err != nil {
		if n, aerr := ops.Abandon(ctx, st, ids, "interrupted: the inproc queue lived in the launching process", a.now()); aerr == nil && n > 0 {
			fmt.Fprintf(a.Err, "%d unfinished mission(s) marked FAILURE: the inproc queue ends with this process\n", n)
		}
	}
	return final, err
}

// progressView shows missions while they run.
type progressView interface {
	update(ms []store.Mission)
	close()
}

// waitMissions polls the store until every mission is final, showing
// progress on stderr, and returns their final state in launch order.
func waitMissions(ctx context.Context, a *app, st *store.Store, ids []string) ([]store.Mission, error) {
	var view progressView = &lineView{a: a, last: map[string]string{}}
	if barsFit(a.Err, len(ids)) {
		view = newBarView(a, len(ids))
	}
	defer view.close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	hintAt := a.now().Add(5 * time.Second)
	out := outage{a: a}
	for {
		ms, err := missionsInChunks(ctx, st, ids)
		if err != nil {
			if out.failed(ctx, fmt.Errorf("store: %w", err)) {
				continue
			}
			return nil, ctx.Err()
		}
		out.ok()
		view.update(ms)
		if allFinal(ms) {
			return ms, nil
		}
		if !hintAt.IsZero() && a.now().After(hintAt) {
			hintAt = time.Time{}
			hintNoWorker(ctx, a, st, ms)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// hintNoWorker says why nothing moves when, after a while, no mission has
// started and no worker of this queue beats in this store: the usual cause
// is a worker started elsewhere (another --queue, --backend or --store, or
// another directory's palantir.db).
func hintNoWorker(ctx context.Context, a *app, st *store.Store, ms []store.Mission) {
	if a.be.Embedded {
		return
	}
	for _, m := range ms {
		if m.Status != mission.Queued && m.Status != mission.Pending {
			return
		}
	}
	if live, err := ops.LiveWorkers(ctx, st, a.now(), a.be.Name, a.cfg.Queue); err != nil || len(live) > 0 {
		return
	}
	fmt.Fprintf(a.notes, "still waiting: no live worker of %s queue %q reports to store %s. Start one with the same --backend, --queue and --store (in the same directory for the default palantir.db).\n",
		a.be.Name, a.cfg.Queue, st.Location())
}

func missionsInChunks(ctx context.Context, st *store.Store, ids []string) ([]store.Mission, error) {
	var out []store.Mission
	for start := 0; start < len(ids); start += 500 {
		ms, err := st.Missions(ctx, ids[start:min(start+500, len(ids))])
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

func allFinal(ms []store.Mission) bool {
	for _, m := range ms {
		if !m.Status.Final() {
			return false
		}
	}
	return true
}

// lineView prints a line whenever a mission changes state or progress.
type lineView struct {
	a    *app
	last map[string]string
}

func (v *lineView) update(ms []store.Mission) {
	for _, m := range ms {
		line := fmt.Sprintf("%-12s %-7s %-9s %-10s %3d%% attempt %d/%d %s", m.ID, m.Type, m.Hero, m.Status, m.Progress,
			m.Attempt, m.MaxAttempts, dash(m.Worker))
		if m.Status == "RETRY" || m.Status == "FAILURE" {
			line += "  " + m.Error
		}
		if v.last[m.ID] != line {
			v.last[m.ID] = line
			fmt.Fprintf(v.a.Err, "%s %s\n", v.a.now().Format("15:04:05.0"), line)
		}
	}
}

func (v *lineView) close() {}

// barsFit says n bars fit on the terminal w: more than its rows (less
// one for the prompt) and the terminal scrolls them into a garble.
func barsFit(w io.Writer, n int) bool {
	f, ok := w.(*os.File)
	if !ok || !isTTY(w) {
		return false
	}
	_, rows, err := term.GetSize(int(f.Fd()))
	if err != nil || rows <= 0 {
		rows = 24 // a terminal that does not say: the classic size
	}
	return n < rows
}

// barView draws one live progress bar per mission.
type barView struct {
	p     *mpb.Progress
	notes *notes
	bars  map[string]*mpb.Bar
	mu    sync.Mutex
	info  map[string]store.Mission
}

func newBarView(a *app, n int) *barView {
	p := mpb.New(mpb.WithOutput(a.Err), mpb.WithWidth(30), mpb.WithRefreshRate(100*time.Millisecond))
	a.notes.above(p)
	return &barView{p: p, notes: a.notes, bars: map[string]*mpb.Bar{}, info: map[string]store.Mission{}}
}

// notes writes to raw, or above live bars (mpb prints such lines before
// its next frame).
type notes struct {
	mu   sync.Mutex
	raw  io.Writer
	bars *mpb.Progress
}

func (n *notes) above(p *mpb.Progress) {
	n.mu.Lock()
	n.bars = p
	n.mu.Unlock()
}

func (n *notes) Write(b []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.bars != nil {
		if w, err := n.bars.Write(b); err == nil {
			return w, nil
		}
		// The bars are done: nothing will draw over the line.
	}
	return n.raw.Write(b)
}

func (v *barView) get(id string) store.Mission {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.info[id]
}

func (v *barView) update(ms []store.Mission) {
	v.mu.Lock()
	for _, m := range ms {
		v.info[m.ID] = m
	}
	v.mu.Unlock()
	for _, m := range ms {
		bar, ok := v.bars[m.ID]
		if !ok {
			id := m.ID
			bar = v.p.AddBar(100,
				mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
					m := v.get(id)
					return fmt.Sprintf("%s %-7s %-9s", id, m.Type, m.Hero)
				}, decor.WCSyncSpaceR)),
				mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
					m := v.get(id)
					s := fmt.Sprintf("%3d%% %-10s try %d/%d %s", m.Progress, m.Status, m.Attempt, m.MaxAttempts, m.Worker)
					if m.Status == "RETRY" || m.Status == "FAILURE" {
						s += " " + truncate(m.Error, 40)
					} else if m.Stage != "" && !m.Status.Final() {
						s += " · " + m.Stage
					}
					return s
				})),
			)
			v.bars[m.ID] = bar
		}
		switch {
		case m.Status == "SUCCESS":
			bar.SetCurrent(100)
		case m.Status == "FAILURE":
			bar.Abort(false)
		default:
			bar.SetCurrent(int64(m.Progress))
		}
	}
}

func (v *barView) close() {
	for _, b := range v.bars {
		if !b.Completed() && !b.Aborted() {
			b.Abort(false)
		}
	}
	v.p.Wait()
	v.notes.above(nil)
}
