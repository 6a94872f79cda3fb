// Package inproc is the in-process backend: a queue in this process's
// memory with the same delivery semantics as the real brokers (leases that
// expire and redeliver, delayed retries, dead letters), so that palantir
// runs with nothing installed and the conformance suite can hold every
// backend to one standard.
//
// The process is the server: queues are shared by everything in one
// process that opens the same name through the same Broker, and vanish when
// it exits. Dead letters are the exception: they go to a
// backends.DeadLetterBook (the store) when one is configured, so `dlq list`
// still shows them afterwards.
package inproc

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// Name is the registered backend name.
const Name = "inproc"

// Broker holds named in-memory queues. The zero value is not usable; call
// NewBroker.
type Broker struct {
	mu     sync.Mutex
	queues map[string]*state
}

// NewBroker returns an empty broker.
func NewBroker() *Broker { return &Broker{queues: map[string]*state{}} }

var processBroker = NewBroker()

// Backend registers inproc, sharing one Broker per process.
func Backend() backends.Backend {
	return backends.Backend{
		Name:     Name,
		Holds:    "the launching process's memory",
		Embedded: true,
		Open: func(ctx context.Context, cfg backends.Config) (backends.Queue, error) {
			return processBroker.Open(cfg), nil
		},
		Hint:    func(error) string { return "inproc needs nothing; check --backend" },
		Ceiling: ceiling,
		Primitives: map[string]string{
			"mission_queued":        "append to the queue's list in memory (mutex), wake a receiver",
			"mission_started":       "take the head of the list; lease timer started",
			"mission_progress":      "lease deadline moved forward",
			"mission_retry":         "timer: the copy is appended after the delay",
			"mission_persisted":     "then the delivery is forgotten (ack)",
			"mission_dead_lettered": "dead letter written to the store (the process keeps none)",
		},
		Guarantees: backends.Guarantees{
			Holds:   []string{"the same lease, redelivery, retry and dead-letter behaviour, in memory"},
			DoesNot: []string{"anything across processes: queued missions die with the launching process"},
		},
	}
}

// Open returns a handle on the queue cfg.Queue, creating it if needed.
// Handles are independent clients: closing one abandons its consumers'
// unsettled deliveries, which come back after the lease.
func (b *Broker) Open(cfg backends.Config) *Queue {
	if cfg.Lease <= 0 {
		cfg.Lease = backends.DefaultLease
	}
	b.mu.Lock()
	st, ok := b.queues[cfg.Queue]
	if !ok {
		st = &state{inflight: map[uint64]*entry{}, changed: make(chan struct{})}
		// Looking at a queue this process never used leaves no trace.
		if !cfg.Inspect {
			b.queues[cfg.Queue] = st
		}
	}
	b.mu.Unlock()
	return &Queue{st: st, cfg: cfg, done: make(chan struct{}), absent: !ok && cfg.Inspect}
}

// Has says whether queue was opened (to be used) in this broker.
func (b *Broker) Has(queue string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.queues[queue]
	return ok
}

// entry is one copy of a message inside the queue.
type entry struct {
	msg         backends.Message
	enqueuedAt  time.Time
	due         time.Time // for delayed entries
	redelivered bool
	deliveries  int    // times received; a Release takes its one back
	token       uint64 // identifies the current delivery while in flight
	leaseUntil  time.Time
}

// state is one queue. mu guards everything; changed is closed and replaced
// whenever something becomes receivable, to wake blocked receivers.
type state struct {
	mu       sync.Mutex
	ready    []*entry
	delayed  delayHeap
	inflight map[uint64]*entry
	dead     []backends.DeadLetter // used when there is no DeadLetterBook
	tokens   uint64
	changed  chan struct{}
}

func (s *state) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// promote moves due retries and expired leases to ready. Caller holds mu.
func (s *state) promote(now time.Time) {
	for len(s.delayed) > 0 && !s.delayed[0].due.After(now) {
		s.ready = append(s.ready, heap.Pop(&s.delayed).(*entry))
	}
	for tok, e := range s.inflight {
		if !e.leaseUntil.After(now) {
			delete(s.inflight, tok)
			e.redelivered = true
			s.ready = append([]*entry{e}, s.ready...)
		}
	}
}

// nextWake is when promote next has something to do. Caller holds mu.
func (s *state) nextWake() time.Time {
	var t time.Time
	if len(s.delayed) > 0 {
		t = s.delayed[0].due
	}
	for _, e := range s.inflight {
		if t.IsZero() || e.leaseUntil.Before(t) {
			t = e.leaseUntil
		}
	}
	return t
}

// Queue is a client handle on one in-memory queue.
type Queue struct {
	st   *state
	cfg  backends.Config
	once sync.Once
	done chan struct{}
	// absent: opened to inspect a queue this broker never had.
	absent bool
}

var _ backends.Queue = (*Queue)(nil)

// Backend returns "inproc".
func (q *Queue) Backend() string { return Name }

// Close abandons this handle's consumers. Idempotent.
func (q *Queue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *Queue) closed() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

// Publish enqueues msgs at once; memory is as durable as inproc gets.
func (q *Queue) Publish(ctx context.Context, msgs ...backends.Message) error {
	if q.closed() {
		return fmt.Errorf("inproc publish: %w", backends.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := q.cfg.CheckSizes(msgs); err != nil {
		return fmt.Errorf("inproc publish: %w", err)
	}
	now := time.Now()
	q.st.mu.Lock()
	for _, m := range msgs {
		if m.Attempt < 1 {
			m.Attempt = 1
		}
		m.Body = append([]byte(nil), m.Body...)
		q.st.ready = append(q.st.ready, &entry{msg: m, enqueuedAt: now})
	}
	q.st.signal()
	q.st.mu.Unlock()
	return nil
}

// Subscribe opens a consumer on this handle.
func (q *Queue) Subscribe(ctx context.Context, opts backends.ConsumerOptions) (backends.Consumer, error) {
	if q.closed() {
		return nil, fmt.Errorf("inproc subscribe: %w", backends.ErrClosed)
	}
	return &consumer{q: q, done: make(chan struct{})}, nil
}

type consumer struct {
	q    *Queue
	once sync.Once
	done chan struct{}
}

func (c *consumer) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

func (c *consumer) Receive(ctx context.Context) (backends.Delivery, error) {
	st := c.q.st
	for {
		select {
		case <-c.done:
			return nil, fmt.Errorf("inproc receive: %w", backends.ErrClosed)
		case <-c.q.done:
			return nil, fmt.Errorf("inproc receive: %w", backends.ErrClosed)
		default:
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		now := time.Now()
		st.mu.Lock()
		st.promote(now)
		if len(st.ready) > 0 {
			e := st.ready[0]
			st.ready[0] = nil
			st.ready = st.ready[1:]
			st.tokens++
			e.token = st.tokens
			e.leaseUntil = now.Add(c.q.cfg.Lease)
			e.deliveries++
			st.inflight[e.token] = e
			d := &delivery{q: c.q, e: e, token: e.token, rec: backends.Received{
				Message: e.msg, EnqueuedAt: e.enqueuedAt, Redelivered: e.redelivered, Deliveries: e.deliveries,
			}}
			st.mu.Unlock()
			return d, nil
		}
		wake, changed := st.nextWake(), st.changed
		st.mu.Unlock()

		if err := c.wait(ctx, wake, changed); err != nil {
			return nil, err
		}
	}
}

// wait blocks until the queue changes, wake passes, or ctx or the consumer
// ends (the loop in Receive then reports why).
func (c *consumer) wait(ctx context.Context, wake time.Time, changed <-chan struct{}) error {
	var timer <-chan time.Time
	if !wake.IsZero() {
		t := time.NewTimer(time.Until(wake))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
	case <-c.q.done:
	case <-changed:
	case <-timer:
	}
	return nil
}

type delivery struct {
	q     *Queue
	e     *entry
	token uint64
	rec   backends.Received
	// settled is guarded by q.st.mu.
	settled bool
}

func (d *delivery) Received() backends.Received { return d.rec }

// take removes the delivery from flight if it still holds the lease. Caller
// holds mu.
func (d *delivery) take() error {
	if d.settled {
		return backends.ErrSettled
	}
	if cur, ok := d.q.st.inflight[d.token]; !ok || cur != d.e {
		return backends.ErrLeaseLost
	}
	delete(d.q.st.inflight, d.token)
	d.settled = true
	return nil
}

func (d *delivery) settle(op string, then func(st *state)) error {
	if d.q.closed() {
		// The connection is gone: like a broker, forget this client's
		// deliveries; they come back after the lease.
		return fmt.Errorf("inproc %s %s: %w", op, d.rec.ID, backends.ErrClosed)
	}
	st := d.q.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := d.take(); err != nil {
		return fmt.Errorf("inproc %s %s: %w", op, d.rec.ID, err)
	}
	if then != nil {
		then(st)
		st.signal()
	}
	return nil
}

func (d *delivery) Ack(ctx context.Context) error { return d.settle("ack", nil) }

func (d *delivery) Retry(ctx context.Context, delay time.Duration) error {
	return d.settle("retry", func(st *state) {
		m := d.e.msg
		m.Attempt++
		due := time.Now().Add(delay)
		heap.Push(&st.delayed, &entry{msg: m, enqueuedAt: due, due: due})
	})
}

func (d *delivery) Release(ctx context.Context) error {
	return d.settle("release", func(st *state) {
		d.e.redelivered = true
		d.e.deliveries-- // given back unprocessed: not a delivery without an outcome
		st.ready = append([]*entry{d.e}, st.ready...)
	})
}

func (d *delivery) DeadLetter(ctx context.Context, reason string) error {
	if err := d.settle("dead-letter", nil); err != nil {
		return err
	}
	dl := backends.DeadLetter{Message: d.e.msg, Reason: reason, DeadAt: time.Now()}
	if err := d.q.addDead(ctx, dl); err != nil {
		// Nothing may be lost: put the message back to be tried again.
		d.q.st.mu.Lock()
		d.q.st.ready = append([]*entry{d.e}, d.q.st.ready...)
		d.q.st.signal()
		d.q.st.mu.Unlock()
		return fmt.Errorf("inproc dead-letter %s: %w", d.rec.ID, err)
	}
	return nil
}

func (d *delivery) Extend(ctx context.Context) error {
	if d.q.closed() {
		return fmt.Errorf("inproc extend %s: %w", d.rec.ID, backends.ErrClosed)
	}
	st := d.q.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if d.settled {
		return fmt.Errorf("inproc extend %s: %w", d.rec.ID, backends.ErrSettled)
	}
	if cur, ok := st.inflight[d.token]; !ok || cur != d.e {
		return fmt.Errorf("inproc extend %s: %w", d.rec.ID, backends.ErrLeaseLost)
	}
	d.e.leaseUntil = time.Now().Add(d.q.cfg.Lease)
	return nil
}

// delayHeap orders delayed retries by due time.
type delayHeap []*entry

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(*entry)) }
func (h *delayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
