package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/worker"
)

// BenchmarkPipelineInproc measures the whole embedded pipeline: store the
// mission, publish, receive, execute (at the highest speed), persist the
// outcome and telemetry to SQLite, ack. Reported as missions/s.
//
//	go test -run '^$' -bench PipelineInproc -benchtime 2000x ./worker/
func BenchmarkPipelineInproc(b *testing.B) {
	for _, c := range []struct{ conc, prefetch int }{{1, 1}, {4, 4}, {4, 100}, {32, 32}} {
		conc, prefetch := c.conc, c.prefetch
		b.Run(fmt.Sprintf("concurrency=%d/prefetch=%d", conc, prefetch), func(b *testing.B) {
			r := newRig(b)
			q := r.open()
			orders := make([]mission.Order, b.N)
			ids := make([]string, b.N)
			for i := range orders {
				orders[i] = r.order(fmt.Sprintf("b%07d", i), mission.Raven, 0, 1)
				orders[i].Speed = mission.MaxSpeed
				ids[i] = orders[i].ID
			}
			b.ResetTimer()
			start := time.Now()
			r.launch(q, orders...)
			w := r.worker("bench", q, func(c *worker.Config) {
				c.Concurrency, c.Prefetch = conc, prefetch
				c.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() } // zero-duration missions
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			for w.Processed() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			cancel()
			<-done
			r.tel.Flush()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "missions/s")
		})
	}
}
