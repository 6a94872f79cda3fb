package rabbitmq

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/palantir-lab/palantir/backends"
)

// Header names palantir sets on its messages.
const (
	hdrAttempt    = "x-palantir-attempt"
	hdrEnqueuedAt = "x-palantir-enqueued-at"
	hdrReason     = "x-palantir-reason"
	hdrDeadAt     = "x-palantir-dead-at"
	// hdrDeliveries counts the deliveries without an outcome that earlier
	// copies of this message had (see deliveries); absent means 0.
	hdrDeliveries = "x-palantir-deliveries"
)

// Headers RabbitMQ sets on a delivery from a queue that counts them:
// quorum queues, and classic ones from RabbitMQ 4.3. x-delivery-count is
// the number of earlier failed deliveries (a consumer that died, a
// basic.reject with requeue; before 4.3 any return); x-acquired-count
// (4.3) every earlier delivery, returns by basic.nack included.
const (
	hdrBrokerDeliveryCount = "x-delivery-count"
	hdrBrokerAcquiredCount = "x-acquired-count"
)

// appID marks palantir's messages for students reading them in the
// management UI.
const appID = "palantir"

// publishing is m as an AMQP message, receivable from visibleAt (later than
// now for a delayed retry).
func publishing(m backends.Message, now, visibleAt time.Time) amqp.Publishing {
	return amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		MessageId:    m.ID,
		AppId:        appID,
		Timestamp:    now,
		Headers: amqp.Table{
			// RabbitMQ expects int32 for integers.
			hdrAttempt:    int32(min(max(m.Attempt, 1), 1<<31-1)),
			hdrEnqueuedAt: visibleAt.UTC().Format(time.RFC3339Nano),
		},
		Body: m.Body,
	}
}

// received reads a delivery, tolerating one that was published by hand
// with none of palantir's properties.
func received(d amqp.Delivery, now time.Time) backends.Received {
	n, _ := deliveries(d)
	return backends.Received{
		Message:     message(d),
		EnqueuedAt:  enqueuedAt(d, now),
		Redelivered: d.Redelivered || n > 1,
		Deliveries:  n,
	}
}

// deliveries counts the deliveries of d's message, this one included, and
// reports whether the broker left the count unknown: true for a message
// that was delivered before (d.Redelivered) but carries no broker count,
// which is what a classic queue gives before RabbitMQ 4.3. Its count is
// then at least 2, and the consumer republishes it (see consumer.recount)
// so that the next delivery knows more.
//
// Why republish: the redelivered flag says "at least once before", never
// how often, and AMQP cannot change a queued message's headers. A copy
// published with x-palantir-deliveries = what the original had, and the
// original acked once the copy is confirmed, carries the count across the
// next crash. At-least-once holds: if the ack is lost, the original comes
// back beside its copy, as after any crash between publish and ack, and
// the store records an outcome once. The price is one confirmed publish
// per redelivery on classic queues, and the copy joins the tail of the
// queue (RabbitMQ promises no order after a redelivery anyway).
func deliveries(d amqp.Delivery) (n int, unknown bool) {
	prior, _ := headerInt(d.Headers[hdrDeliveries])
	prior = max(prior, 0)
	failed, hasFailed := headerInt(d.Headers[hdrBrokerDeliveryCount])
	_, hasAcquired := headerInt(d.Headers[hdrBrokerAcquiredCount])
	switch {
	case hasFailed || hasAcquired:
		// x-delivery-count rather than x-acquired-count, so that a
		// Release (basic.nack) is not a delivery without an outcome
		// where the broker can tell (4.3), as on the other backends.
		return prior + max(failed, 0) + 1, false
	case !d.Redelivered:
		return prior + 1, false
	default:
		return prior + 2, true
	}
}

// message reads the palantir message carried by d.
func message(d amqp.Delivery) backends.Message {
	id := d.MessageId
	if id == "" {
		// Stable across redeliveries, so a raw message dead-lettered and
		// listed later can be replayed by this id.
		sum := sha256.Sum256(d.Body)
		id = "raw-" + hex.EncodeToString(sum[:8])
	}
	attempt := 1
	if n, ok := headerInt(d.Headers[hdrAttempt]); ok && n >= 1 {
		attempt = n
	}
	return backends.Message{ID: id, Body: d.Body, Attempt: attempt}
}

func enqueuedAt(d amqp.Delivery, now time.Time) time.Time {
	if s, ok := d.Headers[hdrEnqueuedAt].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t
		}
	}
	if !d.Timestamp.IsZero() {
		return d.Timestamp
	}
	return now
}

// deadLetter reads a message from the dead-letter queue.
func deadLetter(d amqp.Delivery) backends.DeadLetter {
	dl := backends.DeadLetter{Message: message(d)}
	dl.Reason, _ = d.Headers[hdrReason].(string)
	if s, ok := d.Headers[hdrDeadAt].(string); ok {
		dl.DeadAt, _ = time.Parse(time.RFC3339Nano, s)
	}
	if dl.Reason == "" {
		if reason, queue, at, ok := lastDeath(d); ok {
			dl.Reason = brokerReason(reason, queue)
			if dl.DeadAt.IsZero() {
				dl.DeadAt = at
			}
		}
	}
	if dl.DeadAt.IsZero() {
		dl.DeadAt = d.Timestamp
	}
	return dl
}

// lastDeath reads the most recent entry of the x-death header that
// RabbitMQ adds when it dead-letters a message itself (most recent first).
func lastDeath(d amqp.Delivery) (reason, queue string, at time.Time, ok bool) {
	deaths, _ := d.Headers["x-death"].([]any)
	if len(deaths) == 0 {
		return "", "", time.Time{}, false
	}
	death, _ := deaths[0].(amqp.Table)
	reason, _ = death["reason"].(string)
	queue, _ = death["queue"].(string)
	at, _ = death["time"].(time.Time)
	return reason, queue, at, reason != ""
}

// brokerReason words a dead letter that RabbitMQ moved itself, from the
// x-death reason, for `palantir dlq list`.
func brokerReason(reason, queue string) string {
	switch reason {
	case "delivery_limit":
		return fmt.Sprintf("delivered too many times without an outcome: the delivery limit of %s (x-delivery-limit) dead-lettered it", queue)
	case "rejected":
		return fmt.Sprintf("rejected without requeue by a consumer of %s", queue)
	case "expired":
		return fmt.Sprintf("expired in %s", queue)
	case "maxlen":
		return fmt.Sprintf("%s was full (x-max-length)", queue)
	}
	return fmt.Sprintf("dead-lettered by RabbitMQ from %s: %s", queue, reason)
}

// headerInt reads an integer header whichever AMQP type a publisher chose.
func headerInt(v any) (int, bool) {
	switch n := v.(type) {
	case int8:
		return int(n), true
	case uint8:
		return int(n), true
	case int16:
		return int(n), true
	case uint16:
		return int(n), true
	case int32:
		return int(n), true
	case uint32:
		return int(n), true
	case int64:
		return int(n), true
	case int:
		return n, true
	case float32:
		return int(n), true
	case float64:
		return int(n), true
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}
