package inproc_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/inproc"
)

// BenchmarkPublishReceiveAck publishes in batches of 64 and receives and
// acks each message, as BenchmarkPublishReceiveAck does for Redis.
//
//	go test -run '^$' -bench . -benchmem ./backends/inproc/
func BenchmarkPublishReceiveAck(b *testing.B) {
	q := inproc.NewBroker().Open(backends.Config{Queue: "bench"})
	defer q.Close()
	ctx := context.Background()
	c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: "bench", Prefetch: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	body := make([]byte, 256)
	const batch = 64
	msgs := make([]backends.Message, batch)
	for i := range msgs {
		msgs[i] = backends.Message{ID: fmt.Sprint(i), Body: body}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		if err := q.Publish(ctx, msgs[:n]...); err != nil {
			b.Fatal(err)
		}
		for range n {
			d, err := c.Receive(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := d.Ack(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}
