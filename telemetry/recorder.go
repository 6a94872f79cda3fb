package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// maxTracked bounds the missions whose last stage time a recorder keeps.
const maxTracked = 10000

// Writer persists a batch of events. The store implements it.
type Writer interface {
	InsertEvents(ctx context.Context, events []Event) error
}

// Recorder batches events to a Writer in the background. Emit never blocks
// on I/O: events wait in a bounded buffer, and are flushed every
// FlushEvery or when MaxBatch are waiting. Close flushes what is left.
//
// The recorder also computes SincePrev per mission, which is why the last
// event time of each mission it has seen is kept until the mission ends.
type Recorder struct {
	w      Writer
	log    *slog.Logger
	in     chan Event
	done   chan struct{}
	closed sync.Once
	flush  chan chan struct{}

	dropped atomic.Int64

	mu   sync.Mutex
	last map[string]time.Time

	// Echo, when set, is called with every event as it is emitted (the
	// worker command prints them). Set before the first Emit.
	Echo func(Event)

	// MaxBatch and FlushEvery bound how long an event waits. Set before
	// the first Emit.
	MaxBatch   int
	FlushEvery time.Duration
}

// NewRecorder starts a recorder writing to w (nil: events are only logged
// at debug level). log may be nil.
func NewRecorder(w Writer, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{
		w: w, log: log, in: make(chan Event, 4096), done: make(chan struct{}),
		flush: make(chan chan struct{}), last: map[string]time.Time{},
		MaxBatch: 256, FlushEvery: 50 * time.Millisecond,
	}
	go r.loop()
	return r
}

// Emit records an event. At defaults to now. If the previous stage of the
// mission is unknown to this process, since (when non-zero) is used as the
// time the previous stage happened. Safe for concurrent use.
func (r *Recorder) Emit(e Event, since time.Time) {
	e = r.Stamp(e, since)
	r.Announce(e)
	select {
	case r.in <- e:
	case <-r.done:
	}
}

// Stamp fills in e's time and the time since its mission's previous stage,
// as Emit does, but leaves writing it to the caller: for events that must
// be stored in the same transaction as the change they describe (a
// mission's outcome), so that a process killed just after the commit
// cannot lose them. Announce them once they are stored. Safe for
// concurrent use.
func (r *Recorder) Stamp(e Event, since time.Time) Event {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	r.mu.Lock()
	prev, ok := r.last[e.MissionID]
	if !ok {
		prev = since
	}
	if !prev.IsZero() && e.SincePrev == 0 {
		e.SincePrev = max(e.At.Sub(prev), 0)
	}
	if e.Name == HeroScored || e.Name == MissionDeadLettered {
		delete(r.last, e.MissionID) // the mission's story in this process ends here
	} else {
		if len(r.last) >= maxTracked {
			// A launcher never sees its missions end: forget rather than
			// grow with every mission of a million-mission launch.
			clear(r.last)
		}
		r.last[e.MissionID] = e.At
	}
	r.mu.Unlock()
	return e
}

// Announce tells Echo and the debug log about e; Emit does it for every
// event, callers of Stamp once the event is stored.
func (r *Recorder) Announce(e Event) {
	if r.Echo != nil {
		r.Echo(e)
	}
	r.log.Debug(string(e.Name), "mission", e.MissionID, "attempt", e.Attempt, "service", e.Service, "since_prev", e.SincePrev, "detail", e.Detail)
}

// Flush waits until everything emitted so far is written.
func (r *Recorder) Flush() {
	ack := make(chan struct{})
	select {
	case r.flush <- ack:
		<-ack
	case <-r.done:
	}
}

// Close flushes and stops the recorder. Idempotent.
func (r *Recorder) Close() {
	r.closed.Do(func() {
		r.Flush()
		close(r.done)
	})
}

// maxKept bounds the events kept while the store is away (some 10 MB);
// beyond it new events are dropped, and counted.
const maxKept = 50000

// Dropped is how many events were never written: refused by the store, or
// over maxKept during an outage.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// permanent asks the writer, if it can tell, whether err is a refusal of
// the events themselves, which trying again would not cure.
func (r *Recorder) permanent(err error) bool {
	p, ok := r.w.(interface{ Permanent(error) bool })
	return ok && p.Permanent(err)
}

// outage is the recorder's view of the store while writes fail: events are
// kept, and written again after a growing delay.
type outage struct {
	since   time.Time // zero while the store answers
	wait    time.Duration
	retryAt time.Time
}

func (r *Recorder) loop() {
	var kept []Event
	var out outage
	tick := time.NewTicker(r.FlushEvery)
	defer tick.Stop()
	add := func(e Event) {
		if len(kept) >= maxKept {
			r.dropped.Add(1)
			return
		}
		kept = append(kept, e)
	}
	// write writes what is kept, a batch at a time; during an outage only
	// once its delay has passed, unless asked now (Flush).
	write := func(now bool) {
		if r.w == nil {
			kept = kept[:0]
			return
		}
		if !now && time.Now().Before(out.retryAt) {
			return
		}
		done := 0
		for done < len(kept) {
			n := min(len(kept)-done, r.MaxBatch)
			if err := r.insert(kept[done : done+n]); err != nil && !r.permanent(err) {
				r.failed(&out, len(kept)-done, err)
				break
			} else if err != nil {
				r.dropped.Add(int64(n))
				r.log.Warn("telemetry events refused by the store; dropped", "count", n, "err", err)
			}
			done += n
		}
		kept = append(kept[:0], kept[done:]...)
		if len(kept) == 0 && !out.since.IsZero() {
			r.log.Warn("telemetry: the store answers again; the kept events are written",
				"after", time.Since(out.since).Round(time.Millisecond), "dropped", r.dropped.Load())
			out = outage{}
		}
	}
	drain := func() {
		for {
			select {
			case e := <-r.in:
				add(e)
			default:
				return
			}
		}
	}
	for {
		select {
		case e := <-r.in:
			add(e)
			if len(kept) >= r.MaxBatch && out.since.IsZero() {
				write(false)
			}
		case <-tick.C:
			write(false)
		case ack := <-r.flush:
			drain()
			write(true)
			close(ack)
		case <-r.done:
			if len(kept) > 0 {
				r.log.Error("telemetry events not written: the store does not answer", "count", len(kept))
			}
			return
		}
	}
}

// insert writes one batch with a detached context: events must land even
// while the process is shutting down.
func (r *Recorder) insert(batch []Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.w.InsertEvents(ctx, batch)
}

// failed notes a write that failed because the store is away: said once
// per outage, tried again after a delay doubling up to 5s.
func (r *Recorder) failed(out *outage, waiting int, err error) {
	if out.since.IsZero() {
		out.since = time.Now()
		r.log.Warn("telemetry: the store does not answer; keeping events to write later", "waiting", waiting, "err", err)
	}
	out.wait = min(max(2*out.wait, 100*time.Millisecond), 5*time.Second)
	out.retryAt = time.Now().Add(out.wait)
}
