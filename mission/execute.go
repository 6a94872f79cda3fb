package mission

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrAmbush is the failure of an attempt: "an orc ambush" at some stage.
var ErrAmbush = errors.New("orc ambush")

// ProgressFunc is told when a step begins (done=false) and ends (done=true).
// It runs on the executing goroutine; a slow ProgressFunc slows the mission.
type ProgressFunc func(step Step, index int, done bool)

// Sleeper waits for d or until ctx ends. Tests pass one that does not wait.
type Sleeper func(ctx context.Context, d time.Duration) error

// Sleep is the real Sleeper.
func Sleep(ctx context.Context, d time.Duration) error {
	// Checked first: when both are ready, select picks at random, and a
	// step of a few nanoseconds could otherwise outrun a cancelled ctx.
	if err := ctx.Err(); err != nil || d <= 0 {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Execute performs one attempt of a plan step by step. It returns an error
// wrapping ErrAmbush when the plan fails, or ctx's error when the attempt is
// abandoned (shutdown); then the mission was not completed.
func Execute(ctx context.Context, p Plan, sleep Sleeper, progress ProgressFunc) error {
	for i, s := range p.Steps {
		if progress != nil {
			progress(s, i, false)
		}
		if i == p.Ambush {
			// The ambush strikes halfway through the stage.
			if err := sleep(ctx, s.Duration/2); err != nil {
				return err
			}
			return fmt.Errorf("%w at %q", ErrAmbush, s.Name)
		}
		if err := sleep(ctx, s.Duration); err != nil {
			return err
		}
		if progress != nil {
			progress(s, i, true)
		}
	}
	return nil
}
