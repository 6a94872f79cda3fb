package rabbitmq

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestDeliveries covers the headers every RabbitMQ version and queue type
// gives, including those of 4.3 that the test broker may not have.
func TestDeliveries(t *testing.T) {
	tests := []struct {
		name        string
		redelivered bool
		headers     amqp.Table
		want        int
		wantUnknown bool
	}{
		{name: "first delivery", want: 1},
		{name: "classic queue, redelivered", redelivered: true, want: 2, wantUnknown: true},
		{name: "counted copy, first delivery", headers: amqp.Table{hdrDeliveries: int32(1)}, want: 2},
		{name: "counted copy, redelivered", redelivered: true, headers: amqp.Table{hdrDeliveries: int32(2)}, want: 4, wantUnknown: true},
		{name: "quorum, returned once", redelivered: true, headers: amqp.Table{"x-delivery-count": int64(1)}, want: 2},
		{name: "quorum, returned 4 times", redelivered: true, headers: amqp.Table{"x-delivery-count": int64(4)}, want: 5},
		{name: "4.3, released by nack only", redelivered: true, headers: amqp.Table{"x-acquired-count": int64(3)}, want: 1},
		{name: "4.3, failed twice and released", redelivered: true, headers: amqp.Table{"x-delivery-count": int64(2), "x-acquired-count": int64(3)}, want: 3},
		{name: "counted copy on a quorum queue", redelivered: true, headers: amqp.Table{hdrDeliveries: int32(2), "x-delivery-count": int64(1)}, want: 4},
		{name: "nonsense header", headers: amqp.Table{hdrDeliveries: int32(-5)}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unknown := deliveries(amqp.Delivery{Redelivered: tt.redelivered, Headers: tt.headers})
			if got != tt.want || unknown != tt.wantUnknown {
				t.Errorf("deliveries = %d, unknown %v; want %d, unknown %v", got, unknown, tt.want, tt.wantUnknown)
			}
		})
	}
}
