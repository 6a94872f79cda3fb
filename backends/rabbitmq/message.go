package rabbitmq

import (
	"crypto/sha256"
	"encoding/hex"
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
	return backends.Received{
		Message:     message(d),
		EnqueuedAt:  enqueuedAt(d, now),
		Redelivered: d.Redelivered,
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
	if dl.DeadAt.IsZero() {
		dl.DeadAt = d.Timestamp
	}
	return dl
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
