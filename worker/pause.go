package worker

import (
	"context"
	"sync"
)

// gate is shut while the worker's queue is paused. Deliveries wait at it
// before they take an execution slot, their leases kept, so a pause costs
// no redelivery however long it lasts; what runs already finishes.
type gate struct {
	mu     sync.Mutex
	shut   bool
	opened chan struct{} // closed while the gate is open
}

// set opens or shuts the gate and reports whether that changed it.
func (g *gate) set(shut bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.opened == nil {
		g.opened = make(chan struct{})
		close(g.opened)
	}
	if shut == g.shut {
		return false
	}
	g.shut = shut
	if shut {
		g.opened = make(chan struct{})
	} else {
		close(g.opened)
	}
	return true
}

// pass waits until the gate is open; false when stop ended first.
func (g *gate) pass(stop context.Context) bool {
	g.mu.Lock()
	shut, opened := g.shut, g.opened
	g.mu.Unlock()
	if !shut {
		return true
	}
	select {
	case <-opened:
		return true
	case <-stop.Done():
		return false
	}
}

// checkPaused reads whether each queue is paused, shuts or opens its
// gate, and says so when that changes.
func (w *Worker) checkPaused(ctx context.Context) {
	for _, f := range w.feeds {
		paused, err := w.st.QueuePaused(ctx, w.cfg.Backend, f.Queue)
		w.noted("pause check", err)
		if err != nil || !f.paused.set(paused) {
			continue
		}
		if paused {
			w.log.Warn("queue paused: taking no new missions from it until 'palantir queue resume'", "queue", f.Queue)
		} else {
			w.log.Warn("queue resumed: taking missions again", "queue", f.Queue)
		}
	}
}
