package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// maxBehind is how many events a stream client may have waiting before
// new ones are dropped for it (and it is told how many). It holds two full
// store batches: a poller far behind reads its next batch at once, often
// before the client's goroutine has even taken the first, and that client
// is not slow. Its backlog is at most maxBehind plus one store batch
// (about 4 MB of encoded events).
const maxBehind = 2 * store.EventBatch

// pingEvery keeps idle streams open through proxies.
const pingEvery = 15 * time.Second

// hub reads new events from the store, one query per tick for every
// client, and fans each batch out. A slow client never slows the others or
// the poller: a batch that does not fit in its bounded backlog is dropped
// for that client and counted.
type hub struct {
	st      *store.Store
	every   time.Duration
	observe func(telemetry.Event)
	log     *slog.Logger

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
	// ready is closed once the poller knows where the store's events end:
	// a stream answers only then, so that every event stored after its
	// client connected reaches it.
	ready chan struct{}
}

type subscriber struct {
	mission string
	ch      chan []frame // batches; together they hold behind events
	behind  atomic.Int64
	dropped atomic.Int64
	lagged  chan struct{} // signalled when events are dropped
	done    chan struct{} // closed when the hub stops
}

// frame is one event, encoded once for every client.
type frame struct {
	mission string
	data    []byte // the event object's JSON
}

func newHub(st *store.Store, every time.Duration, observe func(telemetry.Event), log *slog.Logger) *hub {
	return &hub{st: st, every: every, observe: observe, log: log, subs: map[*subscriber]struct{}{}, ready: make(chan struct{})}
}

func (h *hub) subscribe(mission string) *subscriber {
	s := &subscriber{mission: mission, ch: make(chan []frame, 256), lagged: make(chan struct{}, 1), done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.done)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// run polls until ctx ends. A store that fails is said once, polled with
// a capped backoff, and said again when it is back: a stream rides out an
// outage.
func (h *hub) run(ctx context.Context) error {
	defer h.stop()
	var cur *store.EventCursor
	wait, failing := time.Duration(0), false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if cur == nil {
			last, err := h.st.LastEventID(ctx)
			if err != nil {
				wait, failing = h.failed(ctx, err, wait, failing)
				continue
			}
			cur = h.st.FollowEvents("", last)
			close(h.ready)
			wait = h.every
			continue
		}
		evs, err := cur.Next(ctx)
		if err != nil {
			wait, failing = h.failed(ctx, err, wait, failing)
			continue
		}
		if failing {
			h.log.Warn("event stream: the store answers again")
			failing = false
		}
		wait = h.every
		h.publish(evs)
		if len(evs) >= store.EventBatch {
			wait = 0 // far behind: read on at once
		}
	}
}

func (h *hub) failed(ctx context.Context, err error, wait time.Duration, failing bool) (time.Duration, bool) {
	if ctx.Err() != nil {
		return wait, failing
	}
	if !failing {
		h.log.Warn("event stream: the store does not answer; retrying", "err", err)
	}
	return min(max(2*wait, h.every), 5*time.Second), true
}

// publish hands a batch to every subscriber. A subscriber more than
// maxBehind events behind gets none of it, and is told how many it missed
// when it catches up; one that keeps up gets every batch, however large.
func (h *hub) publish(evs []telemetry.Event) {
	if len(evs) == 0 {
		return
	}
	all := make([]frame, len(evs))
	for i, e := range evs {
		if h.observe != nil {
			h.observe(e)
		}
		data, _ := json.Marshal(ops.EventOf(e))
		all[i] = frame{mission: e.MissionID, data: data}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		batch := all
		if s.mission != "" {
			batch = nil
			for _, f := range all {
				if f.mission == s.mission {
					batch = append(batch, f)
				}
			}
			if len(batch) == 0 {
				continue
			}
		}
		if s.behind.Load() < maxBehind {
			select {
			case s.ch <- batch:
				s.behind.Add(int64(len(batch)))
				continue
			default:
			}
		}
		s.drop(len(batch))
	}
}

// drop counts events the client will not get and wakes its stream, which
// says so at once rather than with the next batch that reaches it.
func (s *subscriber) drop(n int) {
	s.dropped.Add(int64(n))
	select {
	case s.lagged <- struct{}{}:
	default:
	}
}

func (h *hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		close(s.done)
		delete(h.subs, s)
	}
}

// stream is GET /api/events/stream: Server-Sent Events, one `data:` per
// event, written a batch at a time.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := onlyParams(q, "mission"); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	missionID := ""
	if arg := q.Get("mission"); arg != "" {
		id, ok := s.resolveID(w, r, arg)
		if !ok {
			return
		}
		missionID = id
	}
	select {
	case <-s.hub.ready:
	case <-r.Context().Done():
		return
	case <-time.After(10 * time.Second):
		writeError(w, http.StatusServiceUnavailable, errors.New("the event stream is not ready: the store does not answer"))
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sub := s.hub.subscribe(missionID)
	defer s.hub.unsubscribe(sub)
	// A client that stops reading is cut off rather than held for ever.
	write := func(text string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprint(w, text); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write("retry: 2000\n: connected\n\n") {
		return
	}
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-sub.done:
			return
		case <-ping.C:
			if !write(": ping\n\n") {
				return
			}
		case batch := <-sub.ch:
			sub.behind.Add(-int64(len(batch)))
			if !write(frames(batch, sub.dropped.Swap(0))) {
				return
			}
		case <-sub.lagged:
			if n := sub.dropped.Swap(0); n > 0 && !write(frames(nil, n)) {
				return
			}
		}
	}
}

// frames renders a batch as SSE frames, led by a lagged frame when events
// were dropped for this client.
func frames(batch []frame, dropped int64) string {
	var b []byte
	if dropped > 0 {
		b = fmt.Appendf(b, "event: lagged\ndata: {\"dropped\": %d}\n\n", dropped)
	}
	for _, f := range batch {
		b = append(b, "data: "...)
		b = append(b, f.data...)
		b = append(b, "\n\n"...)
	}
	return string(b)
}
