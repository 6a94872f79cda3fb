package nats_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/nats"
	"github.com/palantir-lab/palantir/internal/testservices"
)

// Processes that open a new queue at once (a launch and its workers,
// which also set the work consumer's lease) all find its streams missing. The losers of the race to create them must
// not send the server an update of a stream still being created:
// nats-server 2.9.10 crashed on one (a nil pointer in updateWithAdvisory)
// and took every queue of the machine down with it, twice in CI.
func TestConcurrentOpensOfANewQueue(t *testing.T) {
	port, dir := testservices.FreePort(t), t.TempDir()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	startNATS(t, url, port, dir)
	for round := range 20 {
		queue := fmt.Sprintf("race-%d", round)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				q, err := nats.Open(ctx, backends.Config{URL: url, Queue: queue, Lease: time.Duration(1+i%2) * time.Second})
				if err != nil {
					errs <- err
					return
				}
				defer q.Close()
				// Workers starting together: each sets the consumer's lease.
				c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: fmt.Sprint("w", i), Prefetch: 1})
				if err != nil {
					errs <- err
					return
				}
				c.Close()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: concurrent Open: %v", round, err)
		}
	}
}
