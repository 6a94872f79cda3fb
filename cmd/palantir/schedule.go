package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/dispatch"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// schedulesOf turns the config's schedules: into launches, checked as
// launch checks its flags, with launch's defaults. An error names the
// schedule's field as the file does (schedules.ravens.fail_rate).
func schedulesOf(a *app) ([]ops.Schedule, error) {
	var out []ops.Schedule
	for _, s := range a.cfg.Schedules {
		r := ops.LaunchRequest{Types: []string{s.Type}, Count: s.Count, Hero: s.Hero, FailRate: mission.DefaultFailRate,
			MaxAttempts: mission.DefaultMaxAttempts, Speed: mission.DefaultSpeed, Defined: a.cfg.Missions}
		if s.FailRate != nil {
			r.FailRate = *s.FailRate
		}
		if s.MaxAttempts != nil {
			r.MaxAttempts = *s.MaxAttempts
		}
		if s.Speed != nil {
			r.Speed = *s.Speed
		}
		if err := r.Validate(func(field string) string { return "schedules." + s.Name + "." + field }); err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, a.cfg.File)
		}
		out = append(out, ops.Schedule{Name: s.Name, Every: s.Every, Request: r})
	}
	return out, nil
}

// startSchedules runs the config's schedules on q until the returned stop
// is called; it says which it runs. Nothing runs without a schedules:
// section.
// launched, if not nil, hears of the ids each tick launched.
func startSchedules(ctx context.Context, a *app, who string, st *store.Store, q backends.Publisher, tel *telemetry.Recorder, launched func([]string)) (stop func(), err error) {
	schedules, err := schedulesOf(a)
	if err != nil || len(schedules) == 0 {
		return func() {}, err
	}
	var names []string
	for _, s := range schedules {
		names = append(names, fmt.Sprintf("%s every %v", s.Name, s.Every))
	}
	fmt.Fprintf(a.Err, "%s: runs schedules %s (each tick launched once, by one of the processes that run it)\n", who, strings.Join(names, ", "))
	l := &ops.Launcher{Store: st, Queue: q, Telemetry: tel, Backend: a.be.Name, QueueName: a.cfg.Queue, Log: a.log, Now: a.now,
		RecoverAfter: a.cfg.Lease}
	s := &ops.Scheduler{Launcher: l, Schedules: schedules, Log: a.log}
	if launched != nil {
		s.Launched = func(_ string, _ time.Time, ids []string) { launched(ids) }
	}
	return inBackground(ctx, s.Run), nil
}

// startDue publishes the queue's missions launched for later as they fall
// due, until the returned stop is called.
func startDue(ctx context.Context, a *app, st *store.Store, queue string, q backends.Publisher, tel *telemetry.Recorder) (stop func()) {
	d := &dispatch.Dispatcher{Store: st, Queue: q, Telemetry: tel, Backend: a.be.Name, QueueName: queue, Log: a.log}
	return inBackground(ctx, func(ctx context.Context) { ops.RunDue(ctx, d, a.log) })
}

// inBackground runs fn until the returned stop is called, which waits for
// fn to return. Calling stop again does nothing more.
func inBackground(ctx context.Context, fn func(context.Context)) (stop func()) {
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { fn(bctx); close(done) }()
	return func() { cancel(); <-done }
}
