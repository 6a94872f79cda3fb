package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/palantir-lab/palantir/backends"
)

// Name is the registered backend name.
const Name = "rabbitmq"

// Reconnection backoff, and how long an operation waits for a lost
// connection to come back before it reports the broker unreachable.
const (
	minBackoff    = 100 * time.Millisecond
	maxBackoff    = 5 * time.Second
	reconnectWait = 10 * time.Second
)

// Backend registers rabbitmq for the amqp and amqps URL schemes.
func Backend() backends.Backend {
	return backends.Backend{
		Name:      Name,
		Schemes:   []string{"amqp", "amqps"},
		Holds:     "RabbitMQ queues",
		Networked: true,
		URL: &backends.URLSetting{Key: "amqp_url", Default: "amqp://guest:guest@127.0.0.1:5672/",
			Help: "RabbitMQ URL for --backend rabbitmq (amqps:// for TLS; ?queue_type=quorum for quorum queues)"},
		Open: func(ctx context.Context, cfg backends.Config) (backends.Queue, error) {
			return Open(ctx, cfg)
		},
		Hint: func(error) string {
			return "start RabbitMQ (rabbitmq-server -detached) or point --amqp-url / PALANTIR_AMQP_URL at it; check the user and password"
		},
		Ceiling: ceiling,
		Primitives: map[string]string{
			"mission_queued":        "basic.publish to Q (default exchange, persistent) in confirm mode; waits for basic.ack from the broker",
			"mission_started":       "basic.deliver on a basic.consume of Q (prefetch basic.qos = concurrency)",
			"mission_progress":      "nothing: the lease is the channel, held while the worker lives",
			"mission_retry":         "basic.publish of attempt+1 to Q.retry.<class> (per-message expiration, dead-lettered back to Q), confirmed; then basic.ack",
			"mission_persisted":     "then basic.ack of the delivery (after the store's commit)",
			"mission_dead_lettered": "basic.publish to Q.dead, confirmed; then basic.ack",
		},
		Guarantees: backends.Guarantees{
			Holds: []string{
				"a dead worker's missions come back at once (the channel closes)",
				"nothing lost on a broker restart (durable queues, persistent messages, confirms)",
				"quorum queues (?queue_type=quorum) survive the loss of a cluster minority",
			},
			DoesNot: []string{
				"a retry exactly on time: the ladder class makes it up to half its bound late",
				"FIFO across redeliveries and retries",
			},
		},
	}
}

// Queue is one palantir queue on two RabbitMQ connections, one that
// consumes and one that publishes (see consuming). Every method is
// safe for concurrent use. Config.Lease is ignored: a delivery's lease is
// the channel it arrived on.
type Queue struct {
	cfg   backends.Config
	set   settings
	names names
	log   *slog.Logger

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // the supervisors, watchers and the consumers' pumps
	mu        sync.Mutex     // orders Subscribe's wg.Add before Close's wait

	// Two connections, because RabbitMQ blocks a connection that publishes
	// during a resource alarm, all of it, acks included: consuming carries
	// the consumers and the admin calls, publishing every publish (Publish,
	// and the copies of Retry, DeadLetter and recount). Acks, which free
	// what the alarm is about, go on while publishers wait.
	consuming  link
	publishing link

	pub publisher

	// inflight counts the deliveries this Queue's consumers hold unsettled
	// (received from the broker, buffered or handed out); consumers counts
	// those consumers while the broker has them registered. Stats compares
	// the latter with the broker's consumer count.
	inflight  atomic.Int64
	consumers atomic.Int64

	// legacy is set once the quorum work queue turned out to be one an
	// older palantir declared (see declareOn); legacyWarned says the
	// warning about it was logged.
	legacy       atomic.Bool
	legacyWarned atomic.Bool

	// afterCopy, set only by tests, runs between the confirm of a Retry's
	// or DeadLetter's copy and the ack of the original.
	afterCopy func(*delivery)
}

var _ backends.Queue = (*Queue)(nil)

// Open connects to the broker at cfg.URL and declares the topology of
// cfg.Queue (see the package comment). It fails within the dial timeout
// (3 s unless the URL sets connection_timeout) with an error wrapping
// backends.ErrUnreachable when the broker does not answer or refuses the
// credentials, and with backends.ErrBadURL for a URL it cannot use.
func Open(ctx context.Context, cfg backends.Config) (*Queue, error) {
	set, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if err := checkQueueName(cfg.Queue); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	q := &Queue{
		cfg:   cfg,
		set:   set,
		names: namesFor(cfg.Queue),
		log:   log.With("backend", Name, "queue", cfg.Queue),
		done:  make(chan struct{}),
	}
	q.consuming = link{q: q, name: "palantir " + cfg.Queue, declares: !cfg.Inspect, up: make(chan struct{})}
	q.publishing = link{q: q, name: "palantir " + cfg.Queue + " publisher", up: make(chan struct{})}
	conn, err := q.dial(ctx, q.consuming.name)
	if err != nil {
		// Refused, timed out, TLS or handshake failure, bad credentials or
		// vhost: whichever, there is no broker to use at this URL.
		return nil, fmt.Errorf("rabbitmq open %s: %w: %w", set.redacted, backends.ErrUnreachable, err)
	}
	// Inspecting declares nothing: a mistyped --queue must leave nothing.
	if !cfg.Inspect {
		if err := q.declareOn(conn); err != nil {
			conn.Close()
			return nil, fmt.Errorf("rabbitmq open %s: %w", set.redacted, classify(err))
		}
	}
	pconn, err := q.dial(ctx, q.publishing.name)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("rabbitmq open %s: publishing connection: %w: %w", set.redacted, backends.ErrUnreachable, err)
	}
	q.consuming.start(conn)
	q.publishing.start(pconn)
	return q, nil
}

// Backend returns "rabbitmq".
func (q *Queue) Backend() string { return Name }

// Close closes the connection without settling anything: the broker
// requeues every delivery this Queue's consumers held. Later calls on the
// Queue and its consumers return backends.ErrClosed. Close is idempotent
// and waits for this Queue's goroutines to end.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		close(q.done)
		q.mu.Unlock()
		q.publishing.close()
		q.consuming.close()
		// After the connection, which ends any publish waiting for confirms.
		q.pub.close()
		q.wg.Wait()
	})
	return nil
}

func (q *Queue) isClosed() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

// dial opens a connection called name (as the management UI and
// rabbitmqctl list_connections show it). ctx bounds the TCP connect; the dial timeout
// bounds connect, TLS and AMQP handshake alike.
func (q *Queue) dial(ctx context.Context, name string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	timeout := q.set.dialTimeout
	return amqp.DialConfig(q.set.dialURL, amqp.Config{
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Cleared by amqp091-go once the handshake is done.
			if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		},
	})
}

// shape is how this Queue declares its queues.
func (q *Queue) shape() shape {
	return shape{
		queueType:     q.set.queueType,
		deliveryLimit: brokerDeliveryLimit(q.cfg.DeliveryLimit()),
		workerLimit:   q.cfg.DeliveryLimit(),
		legacy:        q.legacy.Load(),
	}
}

// declare declares the topology on ch (see names.declare).
func (q *Queue) declare(ch *amqp.Channel) (counts, error) {
	return q.names.declare(ch, q.shape())
}

// declareOn declares the topology on fresh channels of conn. A quorum work
// queue that an older palantir declared, without the dead-letter target
// and delivery limit of today's, is refused by the broker
// (PRECONDITION_FAILED: other arguments). Its messages must not be
// stranded by an upgrade, so declareOn checks that the queue has exactly
// the old arguments and then uses it as it is, warning once with the
// policy that gives it what it lacks. Any other difference is an error
// that says how to fix it.
func (q *Queue) declareOn(conn *amqp.Connection) error {
	err := q.declareChannel(conn)
	if !isWorkShape(err) || q.set.queueType != amqp.QueueTypeQuorum || q.legacy.Load() {
		return err
	}
	q.legacy.Store(true)
	if lerr := q.declareChannel(conn); lerr != nil {
		q.legacy.Store(false)
		return err
	}
	if !q.legacyWarned.Swap(true) {
		q.log.Warn(q.names.legacyAdvice(q.shape()))
	}
	return nil
}

// declareChannel declares the topology on a channel of its own.
func (q *Queue) declareChannel(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	_, err = q.declare(ch)
	return err
}

// channel opens a channel on the consuming connection.
func (q *Queue) channel(ctx context.Context) (*amqp.Channel, error) {
	return q.consuming.channel(ctx)
}

// connection returns the consuming connection (see link.connection).
func (q *Queue) connection(ctx context.Context) (*amqp.Connection, error) {
	return q.consuming.connection(ctx)
}

// classify wraps err with backends.ErrUnreachable when it means the broker
// could not be reached or the connection is gone, so callers can tell a
// transient failure from a refusal. Errors that already carry a palantir
// sentinel or a context error are returned as they are.
func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, sentinel := range []error{backends.ErrUnreachable, backends.ErrClosed, backends.ErrBadURL, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	var ae *amqp.Error
	var ne net.Error
	switch {
	case errors.As(err, &ae):
		switch ae.Code {
		case amqp.ChannelError: // amqp.ErrClosed: the channel or connection is not open
			return fmt.Errorf("%w: %w", backends.ErrUnreachable, err)
		case amqp.ConnectionForced, amqp.FrameError, amqp.SyntaxError, amqp.CommandInvalid,
			amqp.UnexpectedFrame, amqp.ResourceError, amqp.InternalError:
			return fmt.Errorf("%w: %w", backends.ErrUnreachable, err)
		}
		return err
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: %w", backends.ErrUnreachable, err)
	}
	return err
}
