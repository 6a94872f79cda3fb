package worker

import (
	"context"
	"sync"
)

// slots are the worker's execution slots, shared by the queues it
// consumes. A free slot goes at once to whoever asks; a slot freed while
// deliveries wait goes to one of them, chosen by their queue's priority:
// strictly by order (the first queue's waiters first) or, with weights,
// in proportion to them (smooth weighted round robin, as nginx balances
// upstreams: with weights 3 and 1 and both queues waiting, the slots go
// a, a, b, a, then again). Within one queue, first come first served.
//
// A delivery waiting here keeps its lease (handle extends it), so a low
// priority mission held while higher ones run is not delivered again.
type slots struct {
	mu      sync.Mutex
	free    int
	weights []int // nil: strict priority
	current []int // smooth round robin's running scores
	waiting [][]chan struct{}
}

func newSlots(n int, queues int, weights []int) *slots {
	s := &slots{free: n, waiting: make([][]chan struct{}, queues)}
	if weights != nil {
		s.weights, s.current = weights, make([]int, queues)
	}
	return s
}

// acquire waits for a slot for a delivery of queue q; false when stop
// ended first (no slot is then held).
func (s *slots) acquire(stop context.Context, q int) bool {
	s.mu.Lock()
	if s.free > 0 {
		s.free--
		s.mu.Unlock()
		return true
	}
	got := make(chan struct{})
	s.waiting[q] = append(s.waiting[q], got)
	s.mu.Unlock()
	select {
	case <-got:
		return true
	case <-stop.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.waiting[q] {
		if c == got {
			s.waiting[q] = append(s.waiting[q][:i], s.waiting[q][i+1:]...)
			return false
		}
	}
	// The slot was handed over as stop ended: pass it on.
	s.handOn()
	return false
}

// release frees a slot, or hands it to a waiting delivery.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handOn()
}

// handOn gives a slot that is no longer used to the next waiter, or
// frees it. s.mu is held.
func (s *slots) handOn() {
	q := s.next()
	if q < 0 {
		s.free++
		return
	}
	close(s.waiting[q][0])
	s.waiting[q] = s.waiting[q][1:]
}

// next is the queue whose waiter gets the next slot, -1 if none waits.
func (s *slots) next() int {
	if s.weights == nil {
		for q, w := range s.waiting {
			if len(w) > 0 {
				return q
			}
		}
		return -1
	}
	best, total := -1, 0
	for q, w := range s.waiting {
		if len(w) == 0 {
			continue
		}
		s.current[q] += s.weights[q]
		total += s.weights[q]
		if best < 0 || s.current[q] > s.current[best] {
			best = q
		}
	}
	if best >= 0 {
		s.current[best] -= total
	}
	return best
}
