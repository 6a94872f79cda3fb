package ops

import (
	"context"
	"log/slog"
	"time"

	"github.com/palantir-lab/palantir/dispatch"
)

// DueEvery is how often the queue's workers and serve look for missions
// launched for later that are due: the lateness a --in or --at may have.
const DueEvery = 500 * time.Millisecond

// RunDue publishes d's queue's missions as they fall due, until ctx ends.
// A failing store or broker is said once and tried again after a delay
// doubling to 5 s, not every half second.
func RunDue(ctx context.Context, d *dispatch.Dispatcher, log *slog.Logger) {
	wait, failing := DueEvery, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		n, err := d.PublishDue(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing && log != nil {
				log.Warn("cannot publish the missions launched for later; trying again with a delay", "err", err)
			}
			failing, wait = true, min(2*wait, 5*time.Second)
		default:
			if failing && log != nil {
				log.Warn("publishing the missions launched for later again")
			}
			if n > 0 && log != nil {
				log.Info("published missions that fell due", "missions", n)
			}
			failing, wait = false, DueEvery
		}
	}
}
