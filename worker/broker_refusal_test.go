package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/worker"
)

// refusingWrites hands out deliveries whose Retry and DeadLetter the broker
// refuses while refuse is set, leaving them unsettled, as Redis at
// maxmemory refuses the copy a retry writes.
type refusingWrites struct {
	backends.Subscriber
	refuse  atomic.Bool
	refused atomic.Int64
	// refuseExtend makes Extend fail too, as a broker that is down does.
	refuseExtend atomic.Bool
	extends      atomic.Int64
}

func (s *refusingWrites) Subscribe(ctx context.Context, o backends.ConsumerOptions) (backends.Consumer, error) {
	c, err := s.Subscriber.Subscribe(ctx, o)
	return refusingConsumer{Consumer: c, s: s}, err
}

type refusingConsumer struct {
	backends.Consumer
	s *refusingWrites
}

func (c refusingConsumer) Receive(ctx context.Context) (backends.Delivery, error) {
	d, err := c.Consumer.Receive(ctx)
	if err != nil {
		return nil, err
	}
	return refusingDelivery{Delivery: d, s: c.s}, nil
}

type refusingDelivery struct {
	backends.Delivery
	s *refusingWrites
}

func (d refusingDelivery) oom() error {
	if d.s.refuse.Load() {
		d.s.refused.Add(1)
		return fmt.Errorf("redis retry: %w: OOM command not allowed when used memory > 'maxmemory'", backends.ErrUnreachable)
	}
	return nil
}

func (d refusingDelivery) Retry(ctx context.Context, delay time.Duration) error {
	if err := d.oom(); err != nil {
		return err
	}
	return d.Delivery.Retry(ctx, delay)
}

func (d refusingDelivery) Extend(ctx context.Context) error {
	if d.s.refuseExtend.Load() {
		d.s.extends.Add(1)
		return fmt.Errorf("redis extend: %w: connection refused", backends.ErrUnreachable)
	}
	return d.Delivery.Extend(ctx)
}

func (d refusingDelivery) DeadLetter(ctx context.Context, reason string) error {
	if err := d.oom(); err != nil {
		return err
	}
	return d.Delivery.DeadLetter(ctx, reason)
}

// A settlement the broker refuses for a while (Redis at maxmemory refusing
// a retry's copy) is held and tried again with backoff, the lease kept:
// the attempt is not run again every lease, and the mission fails after
// its attempts, not after "too many deliveries". Before, the delivery was
// left to lapse, the same attempt re-ran each lease with an error line,
// and after max_deliveries it was recorded FAILURE with attempts left.
func TestRefusedSettlementIsHeldAndRetried(t *testing.T) {
	r := newRig(t)
	q := r.open()
	r.launch(q, r.order("doomed", mission.Raven, 1, 2))
	sub := &refusingWrites{Subscriber: q}
	sub.refuse.Store(true)
	var log lines
	w := r.worker("eagle1", sub, func(c *worker.Config) {
		c.MaxDeliveries = 3
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	time.Sleep(8 * lease) // more deliveries than max_deliveries, were each lease a new one
	sub.refuse.Store(false)
	deadline := time.Now().Add(15 * time.Second)
	for !r.final("doomed")() {
		if time.Now().After(deadline) {
			t.Fatalf("mission not final 15s after the broker took writes again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	m := r.mission("doomed")
	if m.Status != mission.Failure || m.Attempt != 2 || strings.Contains(m.Error, "without an outcome") {
		t.Errorf("mission ended attempt %d with %q, want FAILURE after its 2 attempts", m.Attempt, m.Error)
	}
	started := 0
	for _, n := range r.eventNames("doomed") {
		if n == "mission_started" {
			started++
		}
	}
	if started != 2 {
		t.Errorf("%d mission_started events, want 2 (one per attempt): the refused retry re-ran the attempt", started)
	}
	if n := sub.refused.Load(); n < 2 {
		t.Errorf("the refused retry was tried %d times, want it tried again while refused", n)
	}
	if n := strings.Count(log.String(), "level=ERROR") + strings.Count(log.String(), "level=WARN"); n > 3 {
		t.Errorf("%d warnings and errors while the broker refused, want it said once or twice:\n%s", n, log.String())
	}
}

// A lease the broker will not extend for a while (Redis down while a
// mission runs) is said once per mission, not at every try: the worker
// tries every Lease/3, and a cluster outage printed a line per held
// mission several times a second.
func TestRefusedExtensionIsSaidOnce(t *testing.T) {
	r := newRig(t)
	q := r.open()
	o := r.order("long", mission.Raven, 0, 1)
	o.Speed = 1 // about a second: a dozen extensions at a 300 ms lease
	r.launch(q, o)
	sub := &refusingWrites{Subscriber: q}
	sub.refuseExtend.Store(true)
	var log lines
	// One delivery at a time: the copy the lapsed lease gives back waits
	// in the queue, so the lines counted are this delivery's.
	w := r.worker("eagle1", sub, func(c *worker.Config) {
		c.Concurrency, c.Prefetch = 1, 1
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	r.runUntil(w, "the long mission", r.final("long"))
	if n := sub.extends.Load(); n < 4 {
		t.Fatalf("%d refused extensions, want several (the test needs a mission longer than a few leases)", n)
	}
	if n := strings.Count(log.String(), "lease not extended"); n != 1 {
		t.Errorf("%d lines about the lease for %d refused extensions, want 1:\n%s", n, sub.extends.Load(), log.String())
	}
}
