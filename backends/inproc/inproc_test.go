package inproc_test

import (
	"context"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
	"github.com/palantir-lab/palantir/backends/inproc"
)

const lease = 300 * time.Millisecond

func harness(b *inproc.Broker) backendtest.Harness {
	return backendtest.Harness{
		Lease: lease,
		Open: func(t *testing.T, queue string) backends.Queue {
			return b.Open(backends.Config{Queue: queue, Lease: lease})
		},
		Inspect: func(t *testing.T, queue string) (backends.Queue, error) {
			return b.Open(backends.Config{Queue: queue, Lease: lease, Inspect: true}), nil
		},
		Exists: func(t *testing.T, queue string) bool { return b.Has(queue) },
		InjectRaw: func(t *testing.T, queue string, body []byte) {
			// The only stranger in process memory is raw Go code.
			q := b.Open(backends.Config{Queue: queue, Lease: lease})
			if err := q.Publish(context.Background(), backends.Message{Body: body}); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, harness(inproc.NewBroker()))
}
