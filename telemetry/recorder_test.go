package telemetry

import (
	"context"
	"sync"
	"testing"
	"time"
)

type memWriter struct {
	mu      sync.Mutex
	batches [][]Event
}

func (m *memWriter) InsertEvents(_ context.Context, es []Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches = append(m.batches, append([]Event(nil), es...))
	return nil
}

func (m *memWriter) all() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	for _, b := range m.batches {
		out = append(out, b...)
	}
	return out
}

func TestRecorderBatchesAndFlushes(t *testing.T) {
	w := &memWriter{}
	r := NewRecorder(w, nil)
	for range 1000 {
		r.Emit(Event{Name: MissionProgress, MissionID: "m", Service: CLI()}, time.Time{})
	}
	r.Close()
	if got := len(w.all()); got != 1000 {
		t.Fatalf("persisted %d events, want 1000", got)
	}
	if len(w.batches) > 100 {
		t.Errorf("%d transactions for 1000 events: not batched", len(w.batches))
	}
	r.Close() // idempotent
}

func TestSincePrevIsPerMission(t *testing.T) {
	w := &memWriter{}
	r := NewRecorder(w, nil)
	queued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Emit(Event{Name: MissionStarted, MissionID: "a", At: queued.Add(2 * time.Second)}, queued)
	r.Emit(Event{Name: MissionStarted, MissionID: "b", At: queued.Add(3 * time.Second)}, time.Time{})
	r.Emit(Event{Name: MissionCompleted, MissionID: "a", At: queued.Add(7 * time.Second)}, time.Time{})
	r.Flush()
	got := w.all()
	want := []time.Duration{2 * time.Second, 0, 5 * time.Second}
	for i, e := range got {
		if e.SincePrev != want[i] {
			t.Errorf("event %d (%s %s): since_prev %v, want %v", i, e.MissionID, e.Name, e.SincePrev, want[i])
		}
	}
	r.Close()
}

func TestStampComputesButDoesNotWrite(t *testing.T) {
	w := &memWriter{}
	r := NewRecorder(w, nil)
	var echoed []Name
	r.Echo = func(e Event) { echoed = append(echoed, e.Name) }
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Emit(Event{Name: MissionStarted, MissionID: "a", At: t0}, time.Time{})
	done := r.Stamp(Event{Name: MissionCompleted, MissionID: "a", At: t0.Add(3 * time.Second)}, time.Time{})
	scored := r.Stamp(Event{Name: HeroScored, MissionID: "a", At: t0.Add(4 * time.Second)}, time.Time{})
	r.Flush()
	if done.SincePrev != 3*time.Second || scored.SincePrev != time.Second {
		t.Errorf("stamped since_prev %v and %v, want 3s and 1s", done.SincePrev, scored.SincePrev)
	}
	if got := len(w.all()); got != 1 {
		t.Errorf("%d events written, want 1: stamped events are the caller's to write", got)
	}
	r.Announce(done)
	if len(echoed) != 2 || echoed[1] != MissionCompleted {
		t.Errorf("echoed %v, want the emitted and the announced event", echoed)
	}
	r.Close()
}
