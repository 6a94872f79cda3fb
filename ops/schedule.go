package ops

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/palantir-lab/palantir/telemetry"
)

// Schedule launches Request every Every, at the clock's multiples of it
// (every 30s: at :00 and :30 of each minute).
type Schedule struct {
	Name    string
	Every   time.Duration
	Request LaunchRequest
}

// Scheduler runs schedules. Every process that runs one (each worker and
// serve with a schedules: section) fires at each tick, and the store
// lets exactly one of them launch it: a claim on the schedule's key that
// lasts until the next tick. A tick when no process runs is skipped, not
// made up later.
type Scheduler struct {
	Launcher  *Launcher
	Schedules []Schedule
	Log       *slog.Logger // may be nil
	// Launched, when set, hears of each tick this process launched.
	Launched func(schedule string, tick time.Time, ids []string)
}

// Run fires the schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, sc := range s.Schedules {
		wg.Add(1)
		go func() { defer wg.Done(); s.loop(ctx, sc) }()
	}
	wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context, sc Schedule) {
	for {
		tick := time.Now().Truncate(sc.Every).Add(sc.Every)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(tick)):
		}
		if err := s.fire(ctx, sc, tick); err != nil && ctx.Err() == nil && s.Log != nil {
			s.Log.Warn("schedule could not launch; the next tick will try again", "schedule", sc.Name, "tick", tick, "err", err)
		}
	}
}

// fire launches sc's tick if this process is the one that claims it.
func (s *Scheduler) fire(ctx context.Context, sc Schedule, tick time.Time) error {
	l := s.Launcher
	key := strings.Join([]string{"schedule", l.Backend, l.QueueName, sc.Name}, "\x1f") // a separator no name holds (PostgreSQL text refuses NUL)
	won, _, err := l.Store.ClaimUnique(ctx, key, fmt.Sprintf("tick %d", tick.UnixMilli()), tick, tick.Add(sc.Every))
	if err != nil || !won {
		return err
	}
	var ids []string
	launcher := *l // this schedule's launches are invoked by it
	launcher.Source = telemetry.Schedule(sc.Name)
	err = launcher.Launch(ctx, sc.Request, func(chunk []string) error { ids = append(ids, chunk...); return nil })
	if err != nil {
		return err
	}
	if s.Log != nil {
		s.Log.Info("schedule launched its tick", "schedule", sc.Name, "tick", tick, "missions", len(ids))
	}
	if s.Launched != nil {
		s.Launched(sc.Name, tick, ids)
	}
	return nil
}
