package worker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// drain makes waiters in the given order ("a1" waits on queue 0, "b2"
// on queue 1), each once the previous one waits, and returns the order in
// which they get a slot as the test releases them one by one.
func drain(t *testing.T, s *slots, names ...string) string {
	t.Helper()
	got := make(chan string, len(names))
	for i, n := range names {
		q := int(n[0] - 'a')
		go func() {
			if s.acquire(context.Background(), q) {
				got <- n
			}
		}()
		waitFor(t, func() bool { return waiters(s) == i+1 })
	}
	var order []string
	for range names {
		s.release()
		select {
		case n := <-got:
			order = append(order, n)
		case <-time.After(5 * time.Second):
			t.Fatalf("no waiter got the released slot; so far %v", order)
		}
	}
	return strings.Join(order, " ")
}

func waiters(s *slots) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, w := range s.waiting {
		n += len(w)
	}
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

func TestStrictPriorityServesTheFirstQueueFirst(t *testing.T) {
	s := newSlots(1, 2, nil)
	if !s.acquire(context.Background(), 1) {
		t.Fatal("a free slot was refused")
	}
	got := drain(t, s, "b1", "a1", "b2", "a2")
	if got != "a1 a2 b1 b2" {
		t.Fatalf("slots went to %s, want a1 a2 b1 b2", got)
	}
}

func TestWeightsShareTheSlotsInProportion(t *testing.T) {
	s := newSlots(1, 2, []int{3, 1})
	s.acquire(context.Background(), 0)
	var names []string
	for i := range 8 {
		names = append(names, fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i))
	}
	got := drain(t, s, names...)
	want := "a0 a1 b0 a2 a3 a4 b1 a5 a6 a7 b2 b3 b4 b5 b6 b7"
	if got != want {
		t.Fatalf("slots went to\n%s, want\n%s", got, want)
	}
}

func TestAWaiterThatStopsLeavesItsTurnToTheNext(t *testing.T) {
	s := newSlots(1, 2, nil)
	s.acquire(context.Background(), 0)
	stop, cancel := context.WithCancel(context.Background())
	gave := make(chan bool)
	go func() { gave <- s.acquire(stop, 0) }()
	waitFor(t, func() bool { return waiters(s) == 1 })
	cancel()
	if <-gave {
		t.Fatal("a stopped waiter got a slot")
	}
	next := make(chan bool)
	go func() { next <- s.acquire(context.Background(), 1) }()
	waitFor(t, func() bool { return waiters(s) == 1 })
	s.release()
	if !<-next {
		t.Fatal("the slot freed after a waiter stopped went nowhere")
	}
	if s.free != 0 {
		t.Fatalf("%d slots free, want 0: the stopped waiter's turn was counted twice", s.free)
	}
}
