package worker

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// handle takes one delivery to its outcome. It never returns an error:
// whatever happens, the delivery is settled or left for redelivery, and the
// worker carries on.
func (w *Worker) handle(stop, ctx context.Context, f *feed, d backends.Delivery) {
	taken := time.Now()
	result := w.run(stop, ctx, f, d)
	if result == Released {
		w.released.Add(1)
	}
	if w.cfg.Observe != nil {
		w.cfg.Observe(Observation{Received: d.Received(), Taken: taken, Settled: time.Now(), Result: result})
	}
}

// run handles the delivery and says what became of it. ctx is the work's
// context (it outlives stop by the shutdown timeout); stop ends when the
// worker is told to stop taking work.
func (w *Worker) run(stop, ctx context.Context, f *feed, d backends.Delivery) Result {
	rec := d.Received()
	if n := len(rec.Body); n > w.cfg.MaxMessageBytes {
		return w.deadLetterUnread(ctx, d, fmt.Sprintf("message of %d bytes is over the limit of %d (max_message_size)", n, w.cfg.MaxMessageBytes))
	}
	o, err := mission.Decode(rec.Body)
	if err != nil {
		return w.deadLetterUnread(ctx, d, err.Error())
	}
	// The lease is kept until the delivery is settled: saving the outcome
	// may wait for the store, and a lease that lapsed meanwhile would hand
	// the mission to another worker.
	lease := w.keepLease(ctx, d, o.ID)
	defer lease.stop()
	if rec.Deliveries > w.cfg.MaxDeliveries {
		reason := fmt.Sprintf("delivered %d times without an outcome (max_deliveries %d)", rec.Deliveries, w.cfg.MaxDeliveries)
		return w.giveUp(ctx, d, o, rec.Attempt, reason, reason)
	}
	r := w.inSlot(stop, lease.ctx, f, o, rec)
	// The outcome is persisted and settled outside the slot: while this
	// mission waits for its commit, another executes.
	switch {
	case lease.lost():
		w.log.Warn("lease lost: the mission was delivered again elsewhere; this copy is abandoned", "mission", o.ID, "attempt", rec.Attempt)
		return NotSettled
	case r.noSlot:
		return w.giveBack(d, o, rec.Attempt, false)
	case r.beginErr != nil && store.Permanent(r.beginErr):
		reason := "the store refused the mission: " + r.beginErr.Error()
		w.log.Error(reason, "mission", o.ID)
		return w.deadLetterUnread(ctx, d, reason)
	case r.beginErr != nil:
		// The worker is stopping while the store is away.
		return w.giveBack(d, o, rec.Attempt, false)
	case r.verdict == store.AlreadySucceeded, r.verdict == store.Stale:
		w.log.Info("duplicate delivery acknowledged without running it", "mission", o.ID, "attempt", rec.Attempt)
		return settled(w.settle("ack", o.ID, w.held(ctx, "ack", o.ID, d.Ack)), Duplicate)
	case r.verdict == store.Cancelled:
		return w.cancelled(ctx, d, o.ID, rec.Attempt, "cancelled before it ran: dropped")
	case errors.Is(r.runErr, errCancelled):
		return w.cancelled(ctx, d, o.ID, rec.Attempt, "cancelled while it ran: stopped")
	case r.verdict == store.AlreadyFailed:
		w.log.Info("copy of a failed mission moved to the dead letters", "mission", o.ID)
		return settled(w.settle("dead-letter", o.ID, w.held(ctx, "dead-letter", o.ID, func(ctx context.Context) error {
			return d.DeadLetter(ctx, "failed after its last attempt")
		})), Duplicate)
	case r.runErr == nil:
		return w.succeed(ctx, d, o, rec.Attempt)
	case ctx.Err() != nil:
		return w.giveBack(d, o, rec.Attempt, true)
	default:
		return w.fail(ctx, d, o, rec.Attempt, r.runErr)
	}
}

// slotResult is what happened to a delivery inside an execution slot.
type slotResult struct {
	noSlot   bool // the worker stopped before a slot came free
	beginErr error
	verdict  store.Begin
	runErr   error // the attempt's, when verdict is Proceed
}

// inSlot waits for an execution slot, then records the attempt as started
// and runs it. A delivery held beyond the slots (Prefetch > Concurrency)
// is recorded only once it has one, so until it really starts the store
// shows it QUEUED, not STARTED.
func (w *Worker) inSlot(stop, ctx context.Context, f *feed, o mission.Order, rec backends.Received) slotResult {
	if !f.paused.pass(stop) || !w.slots.acquire(stop, f.index) {
		return slotResult{noSlot: true}
	}
	defer w.slots.release()
	var verdict store.Begin
	err := w.write(stop, ctx, "begin", func(ctx context.Context) (err error) {
		verdict, err = w.st.BeginAttempt(ctx, o, w.cfg.Backend, f.Queue, rec.Attempt, w.cfg.Name, time.Now())
		return err
	})
	if err != nil || verdict != store.Proceed {
		return slotResult{beginErr: err, verdict: verdict}
	}
	return slotResult{runErr: w.runAttempt(ctx, o, rec)}
}

// runAttempt executes a started attempt, tracked as current for the
// heartbeat.
func (w *Worker) runAttempt(ctx context.Context, o mission.Order, rec backends.Received) error {
	mctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	w.track(o.ID, stop)
	defer w.track(o.ID, nil)
	detail := ""
	if rec.Redelivered {
		detail = "redelivered"
	}
	w.emit(telemetry.MissionStarted, o.ID, rec.Attempt, w.self, detail, rec.EnqueuedAt)
	err := w.execute(mctx, o, rec.Attempt)
	if err != nil && errors.Is(context.Cause(mctx), errCancelled) {
		return errCancelled
	}
	return err
}

// settled is result when the settlement succeeded.
func settled(ok bool, result Result) Result {
	if ok {
		return result
	}
	return NotSettled
}

// progressEvery is the least time between two progress writes of one
// mission.
const progressEvery = 50 * time.Millisecond

// execute runs the attempt's plan; a panic becomes a failed attempt.
func (w *Worker) execute(ctx context.Context, o mission.Order, attempt int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("mission panicked", "mission", o.ID, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	plan := mission.PlanAttempt(o, attempt)
	lastWrite := time.Now() // BeginAttempt just wrote progress 0
	return mission.Execute(ctx, plan, w.cfg.Sleep, func(s mission.Step, _ int, done bool) {
		if !done {
			return
		}
		// The store shows progress to people: a write per stage at human
		// speeds, but not dozens a second for missions that take
		// microseconds (bench), whose outcome follows at once anyway.
		if now := time.Now(); s.Progress < 100 && now.Sub(lastWrite) >= progressEvery {
			lastWrite = now
			// The store writes progress asynchronously: its nil says
			// nothing about the store being back, so only a failure counts.
			if err := w.st.SetProgress(ctx, o.ID, attempt, s.Progress, s.Name, now); err != nil {
				w.noted("progress", err)
			}
		}
		w.emit(telemetry.MissionProgress, o.ID, attempt, w.self, fmt.Sprintf("%d%% %s", s.Progress, s.Name), time.Time{})
	})
}

// lease keeps a delivery's lease alive. Its ctx ends when the lease is
// lost (the message went to another worker), so that this copy stops
// rather than finishing work that is no longer its own.
type lease struct {
	ctx    context.Context
	lostIt atomic.Bool
	stop   func()
}

func (l *lease) lost() bool { return l.lostIt.Load() }

// keepLease extends the delivery's lease every Lease/3 until stopped.
func (w *Worker) keepLease(ctx context.Context, d backends.Delivery, id string) *lease {
	lctx, cancel := context.WithCancel(ctx)
	l := &lease{ctx: lctx}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(w.cfg.Lease / 3)
		defer t.Stop()
		failing := false // said once, until an extension works again
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				err := d.Extend(ctx)
				if errors.Is(err, backends.ErrLeaseLost) {
					l.lostIt.Store(true)
					cancel()
					return
				}
				switch {
				case err != nil && !failing:
					w.log.Warn("lease not extended; trying again every "+(w.cfg.Lease/3).String(), "mission", id, "err", err)
					failing = true
				case err == nil && failing:
					w.log.Info("lease extended again", "mission", id)
					failing = false
				}
			}
		}
	}()
	l.stop = func() { close(done); <-finished; cancel() }
	return l
}

func (w *Worker) succeed(ctx context.Context, d backends.Delivery, o mission.Order, attempt int) Result {
	points := o.Score(attempt)
	oc := w.newOutcome(telemetry.MissionCompleted, o.ID, attempt, "", func(svc string) []telemetry.Event {
		return []telemetry.Event{w.stamp(telemetry.MissionPersisted, o.ID, attempt, svc, "SUCCESS"),
			w.stamp(telemetry.HeroScored, o.ID, attempt, svc, fmt.Sprintf("%s +%d", o.Hero, points))}
	})
	m := store.Mission{ID: o.ID, Hero: o.Hero, Attempt: attempt, Worker: w.cfg.Name}
	var recorded bool
	err := w.write(ctx, ctx, "success", func(ctx context.Context) (err error) {
		recorded, err = w.st.Complete(ctx, m, points, time.Now(), store.Beside{Events: oc.events(), Settle: w.ackIn(d)})
		return err
	})
	if err != nil {
		return w.notRecorded(ctx, d, o, attempt, "success", err)
	}
	if !recorded && w.wasCancelled(ctx, o.ID) {
		// Cancelled in the moment before it finished: the success is not
		// the mission's, and no event says it completed.
		return w.cancelled(ctx, d, o.ID, attempt, "cancelled as it finished: its success is not recorded")
	}
	oc.report(recorded)
	if recorded {
		return settled(w.settle("ack", o.ID, w.held(ctx, "ack", o.ID, d.Ack)), Succeeded)
	}
	w.log.Info("mission already recorded by another delivery; not scored again", "mission", o.ID)
	return settled(w.settle("ack", o.ID, w.held(ctx, "ack", o.ID, d.Ack)), Duplicate)
}

// wasCancelled reports whether `palantir cancel` ended mission id (false
// when the store cannot say).
func (w *Worker) wasCancelled(ctx context.Context, id string) bool {
	ids, err := w.st.CancelledOf(ctx, []string{id})
	return err == nil && len(ids) == 1
}

// cancelled acknowledges the message of a cancelled mission, saying why
// on the worker's log (a warning, which a worker prints by default).
func (w *Worker) cancelled(ctx context.Context, d backends.Delivery, id string, attempt int, what string) Result {
	w.log.Warn("mission "+what, "mission", id, "attempt", attempt)
	return settled(w.settle("ack", id, w.held(ctx, "ack", id, d.Ack)), Cancelled)
}

func (w *Worker) fail(ctx context.Context, d backends.Delivery, o mission.Order, attempt int, cause error) Result {
	reason := cause.Error()
	if attempt >= o.MaxAttempts {
		return w.giveUp(ctx, d, o, attempt, reason, fmt.Sprintf("failed after %d attempts: %s", attempt, reason))
	}
	delay := mission.Backoff(o, attempt)
	if err := w.write(ctx, ctx, "retry", func(ctx context.Context) error {
		return w.st.MarkRetry(ctx, o.ID, attempt, reason, time.Now())
	}); err != nil {
		w.log.Warn("retry not recorded", "mission", o.ID, "err", err)
	}
	w.emit(telemetry.MissionRetry, o.ID, attempt, w.self, fmt.Sprintf("%s; attempt %d in %v", reason, attempt+1, delay.Round(time.Millisecond)), time.Time{})
	if err := w.held(ctx, "retry", o.ID, func(ctx context.Context) error { return d.Retry(ctx, delay) }); err != nil {
		w.log.Error("broker: retry not scheduled; the attempt will be delivered again", "mission", o.ID, "err", err)
		return NotSettled
	}
	if err := w.write(ctx, ctx, "requeue", func(ctx context.Context) error {
		return w.st.MarkRequeued(ctx, o.ID, attempt+1, time.Now())
	}); err != nil {
		w.log.Warn("requeue not recorded", "mission", o.ID, "err", err)
	}
	w.emit(telemetry.MissionQueued, o.ID, attempt+1, telemetry.Broker(w.cfg.Backend), fmt.Sprintf("retry after %v", delay.Round(time.Millisecond)), time.Time{})
	return Retried
}

// giveUp records the mission as FAILURE with reason and moves its message
// to the dead letters with final: after its last attempt, or after too
// many deliveries without an outcome.
func (w *Worker) giveUp(ctx context.Context, d backends.Delivery, o mission.Order, attempt int, reason, final string) Result {
	oc := w.newOutcome(telemetry.MissionFailed, o.ID, attempt, reason, func(svc string) []telemetry.Event {
		return []telemetry.Event{w.stamp(telemetry.MissionPersisted, o.ID, attempt, svc, "FAILURE")}
	})
	var recorded bool
	err := w.write(ctx, ctx, "failure", func(ctx context.Context) (err error) {
		recorded, err = w.st.Fail(ctx, o.ID, attempt, w.cfg.Name, reason, time.Now(), store.Beside{Events: oc.events(), Settle: w.deadLetterIn(d, final)})
		return err
	})
	if err != nil {
		return w.notRecorded(ctx, d, o, attempt, "failure", err)
	}
	oc.report(recorded)
	if !w.settle("dead-letter", o.ID, w.held(ctx, "dead-letter", o.ID, func(ctx context.Context) error { return d.DeadLetter(ctx, final) })) {
		return NotSettled
	}
	w.emit(telemetry.MissionDeadLettered, o.ID, attempt, telemetry.Broker(w.cfg.Backend), final, time.Time{})
	return Failed
}

// notRecorded settles a delivery whose outcome the store did not take:
// refused for good, it goes to the dead letters with the store's reason;
// otherwise (the worker stops while the store is away) it goes back to
// the queue, unacked, to be run again.
func (w *Worker) notRecorded(ctx context.Context, d backends.Delivery, o mission.Order, attempt int, what string, err error) Result {
	if store.Permanent(err) {
		reason := fmt.Sprintf("the store refused the %s: %v", what, err)
		w.log.Error(reason, "mission", o.ID)
		return w.deadLetterUnread(ctx, d, reason)
	}
	w.log.Error("store: "+what+" not recorded; giving the mission back", "mission", o.ID, "err", err)
	return w.giveBack(d, o, attempt, false)
}

// giveBack returns a mission at shutdown: unfinished (started) or never
// begun (held, waiting for a slot).
func (w *Worker) giveBack(d backends.Delivery, o mission.Order, attempt int, started bool) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !w.settle("release", o.ID, d.Release(ctx)) {
		return NotSettled
	}
	how := "unstarted"
	if started {
		how = "unfinished"
		w.log.Info("shutdown: unfinished mission returned to the queue", "mission", o.ID, "attempt", attempt)
		w.noted("requeue", w.st.MarkRequeued(ctx, o.ID, attempt, time.Now()))
	}
	w.emit(telemetry.MissionQueued, o.ID, attempt, telemetry.Broker(w.cfg.Backend),
		fmt.Sprintf("returned %s by %s at shutdown", how, w.cfg.Name), time.Time{})
	return Released
}

// deadLetterUnread moves a message that cannot be run (not a mission, too
// large, refused by the store) to the dead letters with the reason.
func (w *Worker) deadLetterUnread(ctx context.Context, d backends.Delivery, reason string) Result {
	id := d.Received().ID
	w.log.Warn("message moved to the dead letters", "message", id, "reason", reason)
	if !w.settle("dead-letter", id, w.held(ctx, "dead-letter", id, func(ctx context.Context) error { return d.DeadLetter(ctx, reason) })) {
		return NotSettled
	}
	w.emit(telemetry.MissionDeadLettered, id, d.Received().Attempt, telemetry.Broker(w.cfg.Backend), reason, time.Time{})
	return Malformed
}

// held runs a settlement, holding the delivery while the broker refuses
// it (it answers but cannot take the write, as Redis at maxmemory, or does
// not answer): tried again after 100 ms, doubling to 5 s, said once,
// while the caller keeps the lease. Letting the delivery lapse instead
// would run the same attempt again every lease and end it as "too many
// deliveries" with attempts left. It stops at a lost lease, a settled or
// closed delivery, or when ctx ends (shutdown), returning that error.
func (w *Worker) held(ctx context.Context, what, id string, settle func(context.Context) error) error {
	wait := brokerRetryMin
	for said := false; ; said = true {
		err := settle(ctx)
		switch {
		case err == nil:
			if said {
				w.log.Info("broker took the "+what+" it had refused", "mission", id)
			}
			return nil
		case errors.Is(err, backends.ErrLeaseLost), errors.Is(err, backends.ErrSettled), errors.Is(err, backends.ErrClosed), ctx.Err() != nil:
			return err
		case !said:
			w.log.Warn("broker refused the "+what+"; holding the mission and trying again", "mission", id, "err", err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, brokerRetryMax)
	}
}

// The backoff of a settlement the broker refuses (see held).
const (
	brokerRetryMin = 100 * time.Millisecond
	brokerRetryMax = 5 * time.Second
)

// settle logs a failed settlement; it reports whether it succeeded.
func (w *Worker) settle(op, id string, err error) bool {
	if err == nil {
		return true
	}
	if errors.Is(err, backends.ErrLeaseLost) {
		w.log.Warn("lease lost before "+op+": the message was delivered again elsewhere", "mission", id)
		return false
	}
	w.log.Error(op+" failed; the message will be delivered again", "mission", id, "err", err)
	return false
}

func (w *Worker) emit(name telemetry.Name, id string, attempt int, service, detail string, since time.Time) {
	if w.tel == nil {
		return
	}
	w.tel.Emit(telemetry.Event{Name: name, MissionID: id, Attempt: attempt, Service: service, Detail: detail}, since)
}
