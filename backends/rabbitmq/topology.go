package rabbitmq

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
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

// deliveryLimitArg is the quorum queue argument for the delivery limit.
const deliveryLimitArg = "x-delivery-limit"

// minBrokerDeliveryLimit is the least x-delivery-limit palantir gives a
// quorum work queue: RabbitMQ 4's own default, so that the default
// configuration declares what a student reads about in its docs.
const minBrokerDeliveryLimit = 20

// shape is how the queues of one palantir queue are declared.
type shape struct {
	queueType string
	// deliveryLimit is the quorum work queue's x-delivery-limit: above the
	// worker's limit, which dead-letters first with its own reason; the
	// broker's is the backstop for a message no worker settles.
	deliveryLimit int
	workerLimit   int // the worker's, that deliveryLimit derives from
	// legacy: the quorum work queue exists as older palantir versions
	// declared it, without a dead-letter target or delivery limit, and is
	// used as it is (see Queue.declareOn).
	legacy bool
}

// brokerDeliveryLimit is the x-delivery-limit for a worker that
// dead-letters after workerLimit deliveries: twice that, at least
// minBrokerDeliveryLimit, so that every configuration up to twice the
// default declares the same queue.
func brokerDeliveryLimit(workerLimit int) int {
	return max(minBrokerDeliveryLimit, 2*workerLimit)
}

// workArgs are the arguments of the work queue. A quorum work queue
// dead-letters to Q.dead what exceeds its delivery limit: without a
// target RabbitMQ drops it (and RabbitMQ 4 sets a limit of 20 by
// default). Classic queues have no delivery limit, and their arguments
// stay as they always were, so that existing queues keep working.
func (n names) workArgs(sh shape) amqp.Table {
	args := amqp.Table{amqp.QueueTypeArg: sh.queueType}
	if sh.queueType != amqp.QueueTypeQuorum || sh.legacy {
		return args
	}
	args["x-dead-letter-exchange"] = ""
	args["x-dead-letter-routing-key"] = n.dead
	args[deliveryLimitArg] = int32(sh.deliveryLimit)
	// As on the retry ladder: the message stays in Q until Q.dead has it.
	args["x-dead-letter-strategy"] = "at-least-once"
	args[amqp.QueueOverflowArg] = amqp.QueueOverflowRejectPublish
	return args
}

// shapeErr is a queue that exists with other arguments than palantir
// declares; work says it is the work queue.
type shapeErr struct {
	work bool
	err  error
}

func (e *shapeErr) Error() string { return e.err.Error() }
func (e *shapeErr) Unwrap() error { return e.err }

// isWorkShape reports whether err is about the work queue's arguments.
func isWorkShape(err error) bool {
	var se *shapeErr
	return errors.As(err, &se) && se.work
}

// declare declares every queue idempotently on ch and reports their
// counts. A queue that exists with other arguments (say classic where the
// URL asks for quorum) makes the broker close ch with PRECONDITION_FAILED;
// the error then wraps backends.ErrBadURL and says how to fix it.
func (n names) declare(ch *amqp.Channel, sh shape) (counts, error) {
	var c counts
	decl := func(name string, args amqp.Table) (amqp.Queue, error) {
		q, err := ch.QueueDeclare(name, true, false, false, false, args)
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed {
			// The URL asks for a queue the broker already has in another
			// shape: a configuration error, not a broker failure.
			return q, n.shapeError(name, sh, err)
		}
		if err != nil {
			return q, fmt.Errorf("declare %s: %w", name, err)
		}
		return q, nil
	}
	var err error
	if c.work, err = decl(n.work, n.workArgs(sh)); err != nil {
		return c, err
	}
	retryArgs := amqp.Table{
		amqp.QueueTypeArg:           sh.queueType,
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": n.work,
	}
	if sh.queueType == amqp.QueueTypeQuorum {
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
	if c.dead, err = decl(n.dead, amqp.Table{amqp.QueueTypeArg: sh.queueType}); err != nil {
		return c, err
	}
	return c, nil
}

// inspect counts what declare would, with passive declares that create
// nothing, each on a channel from open (a passive declare of a missing
// queue closes its channel): ErrNoQueue when the work queue does not
// exist; a retry or dead-letter queue that does not is counted as empty.
func (n names) inspect(open func() (*amqp.Channel, error)) (counts, error) {
	look := func(name string) (amqp.Queue, error) {
		ch, err := open()
		if err != nil {
			return amqp.Queue{}, err
		}
		defer ch.Close()
		return ch.QueueDeclarePassive(name, true, false, false, false, nil)
	}
	var c counts
	var err error
	if c.work, err = look(n.work); err != nil {
		return c, notFound(n.work, err)
	}
	for _, name := range n.retry {
		q, err := look(name)
		if err != nil && !isNotFound(err) {
			return c, err
		}
		c.delayed += int64(q.Messages)
	}
	if c.dead, err = look(n.dead); err != nil && !isNotFound(err) {
		return c, err
	}
	return c, nil
}

func isNotFound(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.NotFound
}

// notFound is ErrNoQueue for a passive declare that found no queue name.
func notFound(name string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%s: %w", name, backends.ErrNoQueue)
	}
	return err
}

// shapeError explains a PRECONDITION_FAILED for queue name in one line,
// with the fix. The broker's text names the argument that differs
// ("inequivalent arg 'x-delivery-limit' …"); it is only read to choose the
// advice, and quoted whole.
func (n names) shapeError(name string, sh shape, err error) error {
	var advice string
	switch {
	case strings.Contains(err.Error(), "'"+amqp.QueueTypeArg+"'"):
		advice = "use its queue_type or delete it first"
	case name == n.work && strings.Contains(err.Error(), "'"+deliveryLimitArg+"'"):
		advice = fmt.Sprintf("palantir declares x-delivery-limit %d, from max_deliveries %d: give every palantir on this queue the same max_deliveries, or delete the queue when it is empty (rabbitmqctl delete_queue %s)",
			sh.deliveryLimit, sh.workerLimit, name)
	default:
		advice = fmt.Sprintf("delete it when it is empty (rabbitmqctl delete_queue %s) and palantir declares it again", name)
	}
	return &shapeErr{
		work: name == n.work,
		err:  fmt.Errorf("declare %s as queue_type=%s: %w: a queue of that name exists with other arguments; %s (%w)", name, sh.queueType, backends.ErrBadURL, advice, err),
	}
}

// legacyAdvice is the warning for a quorum work queue declared by an older
// palantir (shape.legacy): the policy that gives it the dead-letter target
// and delivery limit its arguments lack.
func (n names) legacyAdvice(sh shape) string {
	return fmt.Sprintf("rabbitmq work queue %s was declared by an older palantir without a dead-letter target: "+
		"a message over RabbitMQ's delivery limit (20 by default on RabbitMQ 4) is dropped, not dead-lettered; "+
		"fix it without losing messages with a policy: rabbitmqctl set_policy --apply-to quorum_queues palantir-%s '^%s$' "+
		`'{"dead-letter-exchange":"","dead-letter-routing-key":"%s","delivery-limit":%d}', `+
		"or delete the queue when it is empty (rabbitmqctl delete_queue %s)",
		n.work, n.work, regexp.QuoteMeta(n.work), n.dead, sh.deliveryLimit, n.work)
}
