package rabbitmq

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/palantir-lab/palantir/backends"
)

// retryBounds are the upper bounds of the retry ladder's classes; a delay
// longer than the last waits in the ".retry.long" queue. Powers of two, so
// that palantir's doubling backoff never puts two attempts in one class.
var retryBounds = []time.Duration{
	125 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
	16 * time.Second, 32 * time.Second,
}

// maxDelay is the longest per-message expiration RabbitMQ accepts
// (2^32-1 ms, about 49 days); longer delays are shortened to it.
const maxDelay = (1<<32 - 1) * time.Millisecond

// names are the broker names derived from one palantir queue name.
type names struct {
	work  string
	dead  string
	retry []string // one per retryBounds entry, then the ".retry.long" queue
}

func namesFor(queue string) names {
	n := names{work: queue, dead: queue + ".dead"}
	for _, b := range retryBounds {
		n.retry = append(n.retry, queue+".retry."+b.String())
	}
	n.retry = append(n.retry, queue+".retry.long")
	return n
}

// all lists every name: the work queue, the retry ladder, the dead letters.
func (n names) all() []string {
	return append(append([]string{n.work}, n.retry...), n.dead)
}

// retryFor is the ladder queue where a retry of delay d (> 0) waits.
func (n names) retryFor(d time.Duration) string {
	for i, b := range retryBounds {
		if d <= b {
			return n.retry[i]
		}
	}
	return n.retry[len(n.retry)-1]
}

// QueueNames lists every RabbitMQ queue that the palantir queue uses, in
// the order work queue, retry ladder (shortest first), dead letters; see
// the package comment for what each one holds.
func QueueNames(queue string) []string { return namesFor(queue).all() }

// expiration renders a retry delay as an AMQP per-message expiration:
// whole milliseconds, rounded up so that a retry is never early.
func expiration(d time.Duration) string {
	d = min(d, maxDelay)
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return strconv.FormatInt(int64(max(ms, 1)), 10)
}

// checkQueueName rejects names RabbitMQ would refuse once suffixes are added.
func checkQueueName(queue string) error {
	if queue == "" {
		return fmt.Errorf("rabbitmq: %w: empty queue name", backends.ErrBadURL)
	}
	const maxLen = 255 // AMQP short string
	for _, name := range namesFor(queue).all() {
		if len(name) > maxLen {
			return fmt.Errorf("rabbitmq: %w: queue name %q is too long: %q exceeds %d bytes", backends.ErrBadURL, queue, name, maxLen)
		}
	}
	return nil
}

// counts is what declaring the topology reports.
type counts struct {
	work, dead amqp.Queue
	delayed    int64 // ready messages in the whole retry ladder
}

// declare declares every queue idempotently on ch and reports their
// counts. A queue that exists with other arguments (say classic where the
// URL asks for quorum) makes the broker close ch with PRECONDITION_FAILED.
func (n names) declare(ch *amqp.Channel, queueType string) (counts, error) {
	var c counts
	base := amqp.Table{amqp.QueueTypeArg: queueType}
	decl := func(name string, args amqp.Table) (amqp.Queue, error) {
		q, err := ch.QueueDeclare(name, true, false, false, false, args)
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed {
			// The URL asks for a queue the broker already has in another
			// shape: a configuration error, not a broker failure.
			return q, fmt.Errorf("declare %s as queue_type=%s: %w: a queue of that name exists with other arguments; use its queue_type or delete it first (%w)", name, queueType, backends.ErrBadURL, err)
		}
		if err != nil {
			return q, fmt.Errorf("declare %s: %w", name, err)
		}
		return q, nil
	}
	var err error
	if c.work, err = decl(n.work, base); err != nil {
		return c, err
	}
	retryArgs := amqp.Table{
		amqp.QueueTypeArg:           queueType,
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": n.work,
	}
	if queueType == amqp.QueueTypeQuorum {
		// Without this a quorum queue dead-letters at most once: a retry
		// could vanish if Q were unavailable when its delay ran out.
		retryArgs["x-dead-letter-strategy"] = "at-least-once"
		retryArgs[amqp.QueueOverflowArg] = amqp.QueueOverflowRejectPublish
	}
	for _, name := range n.retry {
		q, err := decl(name, retryArgs)
		if err != nil {
			return c, err
		}
		c.delayed += int64(q.Messages)
	}
	if c.dead, err = decl(n.dead, base); err != nil {
		return c, err
	}
	return c, nil
}
