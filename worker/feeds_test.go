package worker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/worker"
)

// feeds opens the queues named, launches n ravens on each (in reverse
// order, the last queue's first) and returns a worker of one slot
// consuming them with the given weights, and the order in which missions
// completed.
func (r *rig) feeds(n int, names []string, weights []int) (*worker.Worker, func() []string) {
	var fs []worker.Feed
	for i := len(names) - 1; i >= 0; i-- {
		r.queue = names[i]
		q := r.open()
		var orders []mission.Order
		for j := range n {
			o := r.order(fmt.Sprintf("%s%d", names[i], j), mission.Raven, 0, 3)
			o.Speed = 50 // 20 ms: longer than a settlement, even under -race
			orders = append(orders, o)
		}
		r.launch(q, orders...)
		fs = append([]worker.Feed{{Queue: names[i], Sub: q, Weight: weights[i]}}, fs...)
	}
	var mu sync.Mutex
	var done []string
	cfg := worker.Config{Name: "eagle", Concurrency: 1, Lease: lease, ShutdownTimeout: time.Second,
		HeartbeatEvery: 50 * time.Millisecond, Backend: "inproc",
		Observe: func(o worker.Observation) {
			if o.Result == worker.Succeeded {
				mu.Lock()
				defer mu.Unlock()
				done = append(done, o.Received.ID)
			}
		}}
	return worker.NewFeeds(cfg, fs, r.st, r.tel), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(done)
	}
}

// TestWorkerServesItsQueuesByPriority: one slot, two queues full. In
// strict order every mission of the first queue runs before the second's
// (but one, which may have taken the slot before the first queue's
// deliveries arrived); each mission is recorded on its own queue.
func TestWorkerServesItsQueuesByPriority(t *testing.T) {
	r := newRig(t)
	w, done := r.feeds(6, []string{"high", "low"}, []int{0, 0})
	r.runUntil(w, "12 missions done", func() bool { return len(done()) == 12 })
	order := done()
	lows := 0
	for _, id := range order[:7] {
		if strings.HasPrefix(id, "low") {
			lows++
		}
	}
	if lows > 1 {
		t.Fatalf("%d low missions among the first 7 done, want at most 1: %v", lows, order)
	}
	for _, id := range []string{"high3", "low4"} {
		if m := r.mission(id); m.Queue != strings.TrimRight(id, "0123456789") {
			t.Errorf("%s recorded on queue %q", id, m.Queue)
		}
	}
}

// TestWeightedQueuesShareTheWorker: with weights 3 and 1, both queues
// progress while both have work, about three of the first to one of the
// second.
func TestWeightedQueuesShareTheWorker(t *testing.T) {
	r := newRig(t)
	w, done := r.feeds(12, []string{"big", "small"}, []int{3, 1})
	r.runUntil(w, "the first 12 missions done", func() bool { return len(done()) >= 12 })
	smalls := 0
	for _, id := range done()[:12] {
		if strings.HasPrefix(id, "small") {
			smalls++
		}
	}
	if smalls < 2 || smalls > 4 {
		t.Fatalf("%d of the first 12 missions done came from the queue of weight 1, want about 3: %v", smalls, done())
	}
}

// TestPausingOneQueueOfAWorkerLeavesTheOther: a worker of two queues, one
// paused, runs the other's missions and holds the paused one's.
func TestPausingOneQueueOfAWorkerLeavesTheOther(t *testing.T) {
	r := newRig(t)
	if _, err := r.st.PauseQueue(context.Background(), "inproc", "low", time.Now()); err != nil {
		t.Fatal(err)
	}
	w, done := r.feeds(3, []string{"high", "low"}, []int{0, 0})
	r.runUntil(w, "the high missions done", func() bool { return len(done()) >= 3 })
	time.Sleep(200 * time.Millisecond)
	for _, id := range done() {
		if strings.HasPrefix(id, "low") {
			t.Fatalf("%s of the paused queue ran: %v", id, done())
		}
	}
	if m := r.mission("low0"); m.Status != mission.Queued {
		t.Fatalf("low0 is %s, want QUEUED while its queue is paused", m.Status)
	}
}

// TestMaxMissionsEndsAWorkerOfSeveralQueues: a worker of two queues with
// MaxMissions stops by itself after that many, even when one queue runs
// dry first (its receivers used to hold places of the count for missions
// that never came, and the worker waited for ever).
func TestMaxMissionsEndsAWorkerOfSeveralQueues(t *testing.T) {
	r := newRig(t)
	var fs []worker.Feed
	for _, q := range []struct {
		name string
		n    int
	}{{"hi", 2}, {"lo", 10}} {
		r.queue = q.name
		sub := r.open()
		var orders []mission.Order
		for j := range q.n {
			orders = append(orders, r.order(fmt.Sprintf("%s%d", q.name, j), mission.Raven, 0, 3))
		}
		r.launch(sub, orders...)
		fs = append(fs, worker.Feed{Queue: q.name, Sub: sub})
	}
	w := worker.NewFeeds(worker.Config{Name: "eagle", Concurrency: 1, MaxMissions: 6, Lease: lease, ShutdownTimeout: time.Second,
		HeartbeatEvery: 50 * time.Millisecond, Backend: "inproc"}, fs, r.st, r.tel)
	r.runToItsEnd(w, "a worker of two queues with MaxMissions 6")
	ok := 0
	for _, id := range []string{"hi0", "hi1", "lo0", "lo1", "lo2", "lo3", "lo4", "lo5", "lo6", "lo7", "lo8", "lo9"} {
		if r.mission(id).Status == mission.Success {
			ok++
		}
	}
	if ok != 6 || w.Processed()-w.Released() != 6 {
		t.Errorf("%d missions SUCCESS and %d handled, want 6 and 6", ok, w.Processed()-w.Released())
	}
}
