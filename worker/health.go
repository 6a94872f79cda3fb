package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/palantir-lab/palantir/store"
)

// Waiting out the store: the least and the most time between two tries of
// a write that failed because the store was away.
const (
	storeRetryMin = 100 * time.Millisecond
	storeRetryMax = 5 * time.Second
)

// health is the worker's view of its store. A write that fails because
// the store is away (unreachable, locked, out of disk) marks it down:
// the worker then takes no new deliveries, and the writes that failed
// are tried again with a growing delay while their deliveries stay held
// and leased; the first that succeeds marks the store up. Each change is
// logged once, however many writes fail meanwhile.
type health struct {
	log *slog.Logger

	mu    sync.Mutex
	since time.Time     // when the store went down; zero while up
	up    chan struct{} // closed when the store comes back
}

func newHealth(log *slog.Logger) *health {
	up := make(chan struct{})
	close(up)
	return &health{log: log, up: up}
}

func (h *health) down(what string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.since.IsZero() {
		return
	}
	h.since = time.Now()
	h.up = make(chan struct{})
	h.log.Error("store does not answer: taking no new missions, holding the ones taken, retrying", "write", what, "err", err)
}

func (h *health) ok() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.since.IsZero() {
		return
	}
	h.log.Warn("store answers again: taking missions", "after", time.Since(h.since).Round(time.Millisecond))
	h.since = time.Time{}
	close(h.up)
}

// wait blocks while the store is down; it returns ctx's error if ctx ends
// first.
func (h *health) wait(ctx context.Context) error {
	h.mu.Lock()
	up := h.up
	h.mu.Unlock()
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write runs op until it succeeds, the store refuses the data
// (store.Permanent), or stop ends; it returns op's last error. Between
// tries it waits, doubling from storeRetryMin to storeRetryMax.
func (w *Worker) write(stop, ctx context.Context, what string, op func(context.Context) error) error {
	wait := storeRetryMin
	for {
		opCtx, cancel := context.WithTimeout(ctx, w.cfg.StoreTimeout)
		err := op(opCtx)
		cancel()
		if err == nil {
			w.health.ok()
			return nil
		}
		if store.Permanent(err) || ctx.Err() != nil {
			return err
		}
		w.health.down(what, err)
		select {
		case <-stop.Done():
			return err
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, storeRetryMax)
	}
}

// noted takes the result of a write that is not retried (progress, a
// heartbeat): a failure because the store is away marks it down, logged
// once; a success marks it up again.
func (w *Worker) noted(what string, err error) {
	switch {
	case err == nil:
		w.health.ok()
	case store.Permanent(err):
		w.log.Warn("store refused the "+what, "err", err)
	default:
		w.health.down(what, err)
	}
}
