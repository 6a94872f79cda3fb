package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flakyWriter fails while down (transiently), and refuses for good any
// batch holding an event named "poison".
type flakyWriter struct {
	memWriter
	down  atomic.Bool
	tries atomic.Int64
}

var errAway = errors.New("connection refused")
var errPoison = errors.New("invalid byte sequence")

func (f *flakyWriter) InsertEvents(ctx context.Context, es []Event) error {
	f.tries.Add(1)
	if f.down.Load() {
		return errAway
	}
	for _, e := range es {
		if e.Detail == "poison" {
			return errPoison
		}
	}
	return f.memWriter.InsertEvents(ctx, es)
}

func (f *flakyWriter) Permanent(err error) bool { return errors.Is(err, errPoison) }

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Events emitted while the store is away are kept and written when it
// comes back; the recorder says so once each way, tries with a growing
// delay, and never blocks the emitter.
func TestEventsOutliveAStoreOutage(t *testing.T) {
	w := &flakyWriter{}
	w.down.Store(true)
	var log syncBuf
	r := NewRecorder(w, slog.New(slog.NewTextHandler(&log, nil)))
	start := time.Now()
	for range 10000 { // more than the input buffer holds
		r.Emit(Event{Name: MissionProgress, MissionID: "m", Service: CLI()}, time.Time{})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("emitting 10,000 events during an outage took %v: the emitter was blocked", d)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := w.tries.Load(); n > 20 {
		t.Errorf("%d writes tried in 1.5s of outage: no backoff", n)
	}
	w.down.Store(false)
	r.Close()
	if got := len(w.all()); got != 10000 {
		t.Errorf("%d of 10,000 events written after the outage", got)
	}
	out := log.String()
	if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, "does not answer") || !strings.Contains(out, "answers again") {
		t.Errorf("want one line when the store goes and one when it is back, got %d:\n%s", n, out)
	}
}

// A batch the store refuses for good is dropped, and counted, rather than
// tried for ever ahead of every later event.
func TestARefusedBatchIsDroppedAndCounted(t *testing.T) {
	w := &flakyWriter{}
	r := NewRecorder(w, nil)
	r.Emit(Event{Name: MissionProgress, MissionID: "m", Detail: "poison"}, time.Time{})
	r.Flush()
	r.Emit(Event{Name: MissionProgress, MissionID: "m", Detail: "fine"}, time.Time{})
	r.Close()
	if got := w.all(); len(got) != 1 || got[0].Detail != "fine" {
		t.Errorf("written %+v, want only the later event", got)
	}
	if r.Dropped() != 1 {
		t.Errorf("Dropped() = %d, want 1", r.Dropped())
	}
}
