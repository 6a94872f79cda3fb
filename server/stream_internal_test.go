package server

import (
	"fmt"
	"testing"

	"github.com/palantir-lab/palantir/telemetry"
)

func events(n int) []telemetry.Event {
	evs := make([]telemetry.Event, n)
	for i := range evs {
		evs[i] = telemetry.Event{Name: telemetry.MissionProgress, MissionID: fmt.Sprintf("m%05d", i)}
	}
	return evs
}

// drain takes every batch waiting for s, as its stream loop would.
func drain(s *subscriber) int {
	n := 0
	for {
		select {
		case b := <-s.ch:
			s.behind.Add(-int64(len(b)))
			n += len(b)
		default:
			return n
		}
	}
}

// A client whose goroutine has not yet been scheduled when the poller,
// far behind, reads its next batch at once is not a slow client: two full
// store batches in a row reach it whole (CI once lost 999 of a burst of
// 6,000 this way).
func TestHubPassesTwoFullBatchesToAClientNotYetScheduled(t *testing.T) {
	h := newHub(nil, 0, nil, nil)
	s := h.subscribe("")
	h.publish(events(5000))
	h.publish(events(5000))
	if got := drain(s); got != 10000 || s.dropped.Load() != 0 {
		t.Fatalf("the client got %d of 10000 events, %d dropped", got, s.dropped.Load())
	}
}

// A client that falls behind is told how many events it lost as soon as it
// catches up, not only when a later batch happens to come.
func TestHubTellsALaggingClientAtOnce(t *testing.T) {
	h := newHub(nil, 0, nil, nil)
	s := h.subscribe("")
	for range 4 {
		h.publish(events(5000))
	}
	got := drain(s)
	select {
	case <-s.lagged:
	default:
		t.Fatal("a client that lost events was not signalled")
	}
	if lost := s.dropped.Load(); lost == 0 || got+int(lost) != 20000 {
		t.Fatalf("got %d, dropped %d of 20000", got, lost)
	}
}
