package sqlqueue

import "sync"

// signal wakes the waiting consumers of one queue in this process: every
// Queue opened on the same database and queue name shares one, so that a
// publish wakes the consumers of other handles at once, without waiting
// for their next poll (other processes learn of it by the dialect's
// Notify, or by polling).
type signal struct {
	key  string
	refs int // guarded by signalsMu

	mu sync.Mutex
	ch chan struct{} // closed and replaced by notify
}

var (
	signalsMu sync.Mutex
	signals   = map[string]*signal{}
)

// acquireSignal returns the signal of key, creating it; releaseSignal
// gives it back.
func acquireSignal(key string) *signal {
	signalsMu.Lock()
	defer signalsMu.Unlock()
	s := signals[key]
	if s == nil {
		s = &signal{key: key, ch: make(chan struct{})}
		signals[key] = s
	}
	s.refs++
	return s
}

func releaseSignal(s *signal) {
	signalsMu.Lock()
	defer signalsMu.Unlock()
	if s.refs--; s.refs == 0 {
		delete(signals, s.key)
	}
}

// wait returns a channel that is closed at the next notify. Take it
// before looking at the queue, so that a notify while looking is not
// missed.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// notify wakes every waiter.
func (s *signal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}
