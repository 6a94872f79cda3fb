package backends

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

// MeasureCeiling moves every message, counts each ack once, and reports
// a producer's or a consumer's error naming the backend and the side.
func TestMeasureCeiling(t *testing.T) {
	ch := make(chan struct{}, 10000)
	run := CeilingRun{Messages: 2500, Concurrency: 3, Prefetch: 7, Acked: new(atomic.Int64)}
	produce := func(_ context.Context, n int) error {
		for range n {
			ch <- struct{}{}
		}
		return nil
	}
	take := func(_ context.Context, _ int) (int, error) {
		n := 0
		for ; n < run.Prefetch; n++ {
			select {
			case <-ch:
			default:
				return n, nil
			}
		}
		return n, nil
	}
	d, err := MeasureCeiling(context.Background(), run, "chan", 500, produce, take)
	if err != nil || d <= 0 || run.Acked.Load() != 2500 {
		t.Fatalf("took %v, err %v, acked %d; want 2500 acked", d, err, run.Acked.Load())
	}

	boom := errors.New("boom")
	run.Acked = new(atomic.Int64)
	_, err = MeasureCeiling(context.Background(), run, "chan", 500, func(context.Context, int) error { return boom }, take)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "chan ceiling: publish") {
		t.Errorf("producer error: %v", err)
	}
	run.Acked = new(atomic.Int64)
	_, err = MeasureCeiling(context.Background(), run, "chan", 500, produce, func(context.Context, int) (int, error) { return 0, boom })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "chan ceiling: consume") {
		t.Errorf("consumer error: %v", err)
	}
}
