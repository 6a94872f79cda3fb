package backends

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Message is one unit of work on the wire. Body is opaque to the backend.
type Message struct {
	// ID identifies the message for dead-letter listing and replay; the
	// publisher chooses it (palantir uses the mission id).
	ID   string
	Body []byte
	// Attempt is the mission attempt this message carries, starting at 1.
	// Publish sends 0 as 1. Retry increments it; a redelivery after a crash
	// does not (the attempt was never finished).
	Attempt int
}

// Received is a Message as a consumer sees it, with the broker's metadata.
type Received struct {
	Message
	// EnqueuedAt is when the broker accepted this copy (for queue wait).
	EnqueuedAt time.Time
	// Redelivered is true when another consumer (or an earlier connection)
	// already received this copy without settling it.
	Redelivered bool
	// Deliveries counts the deliveries of this copy, this one included:
	// 1 the first time, more after crashes or lost leases. A Retry
	// publishes a new copy, whose count starts again. 0 when the broker
	// cannot tell (the worker then relies on Redelivered).
	Deliveries int
}

// DeadLetter is a message that was given up on, with the reason.
type DeadLetter struct {
	Message
	Reason string
	DeadAt time.Time
}

// Stats is a snapshot of the queue, for status and bench.
type Stats struct {
	Ready       int64 // waiting to be received
	InFlight    int64 // received, not yet settled
	Delayed     int64 // retries waiting for their delay
	DeadLetters int64
}

// Publisher puts messages on the queue.
type Publisher interface {
	// Publish enqueues msgs and returns once the broker has taken
	// responsibility for all of them (persisted or confirmed), or with an
	// error; on error some may have been enqueued. Safe for concurrent use.
	// Cancelling ctx abandons the wait and returns ctx's error.
	Publish(ctx context.Context, msgs ...Message) error
}

// Subscriber opens consumers.
type Subscriber interface {
	// Subscribe opens a consumer. Each consumer is one broker session: a
	// channel on RabbitMQ, a consumer-group member on Redis. Safe for
	// concurrent use.
	Subscribe(ctx context.Context, opts ConsumerOptions) (Consumer, error)
}

// ConsumerOptions set up a consumer.
type ConsumerOptions struct {
	// Name identifies the consumer to the broker (the worker name).
	Name string
	// Prefetch bounds the deliveries the broker hands this consumer before
	// they are settled; 0 means 1.
	Prefetch int
}

// Consumer receives deliveries.
type Consumer interface {
	// Receive blocks until a delivery is available, ctx ends (returns ctx's
	// error) or the consumer is closed (returns ErrClosed). It is safe to
	// call from several goroutines; each delivery goes to one caller.
	Receive(ctx context.Context) (Delivery, error)
	// Close stops receiving. Unsettled deliveries are NOT settled: they come
	// back to the queue as if the consumer had died (at once on RabbitMQ,
	// after the lease elsewhere), and settling them afterwards may fail
	// with ErrLeaseLost or ErrClosed. Close is idempotent.
	Close() error
}

// Delivery is one received message awaiting settlement. Exactly one of
// Ack, Retry, Release and DeadLetter may succeed; later calls return
// ErrSettled. Settlement methods are safe for concurrent use with Extend.
type Delivery interface {
	Received() Received
	// Ack settles the delivery as done. Call it only after the outcome is
	// persisted: an unacked delivery is delivered again.
	Ack(ctx context.Context) error
	// Retry re-enqueues the message as attempt+1, visible after delay. If
	// the copy cannot be enqueued, the backend gives the original back as
	// the same attempt (nothing is lost) and returns the error.
	Retry(ctx context.Context, delay time.Duration) error
	// Release gives the message back unprocessed, as the same attempt, to be
	// received again as soon as possible (graceful shutdown).
	Release(ctx context.Context) error
	// DeadLetter moves the message to the dead letters with a reason. As
	// with Retry, a failure gives the original back rather than losing it.
	DeadLetter(ctx context.Context, reason string) error
	// Extend renews the lease so a live consumer keeps a long delivery.
	// Backends whose lease is the connection itself (RabbitMQ) return nil
	// while the connection lives, and ErrLeaseLost once it is gone.
	Extend(ctx context.Context) error
}

// Admin inspects and manages the queue.
type Admin interface {
	// Stats returns counts; backends that cannot know a count report -1.
	Stats(ctx context.Context) (Stats, error)
	// DeadLetters lists up to limit dead letters, oldest first (limit <= 0:
	// all).
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// Replay sends the dead letters with the given message ids (all of them
	// when ids is empty) back to the queue as attempt 1, and returns the ids
	// it replayed. Unknown ids are not an error; they are just not returned.
	Replay(ctx context.Context, ids ...string) ([]string, error)
	// ReplayRewritten is Replay with each copy's body rewritten (a
	// mission replayed with another fail rate); rewrite's error stops the
	// replay, nothing of that dead letter moved.
	ReplayRewritten(ctx context.Context, rewrite Rewrite, ids ...string) ([]string, error)
	// DeleteDeadLetters deletes the dead letters with the given message
	// ids (all of them when ids is empty) and returns the ids it deleted,
	// oldest first. Unknown ids are not an error.
	DeleteDeadLetters(ctx context.Context, ids ...string) ([]string, error)
	// Purge removes every ready and delayed message (not dead letters, not
	// in-flight ones) and returns how many it removed (-1 if unknown).
	Purge(ctx context.Context) (int64, error)
}

// Queue is one named work queue on one broker.
type Queue interface {
	Publisher
	Subscriber
	Admin
	// Backend is the registered name (inproc, redis, rabbitmq).
	Backend() string
	// Close releases the connection. Idempotent.
	Close() error
}

// Errors every backend reports in the same way (wrapped with context).
var (
	// ErrClosed: the queue or consumer was closed.
	ErrClosed = errors.New("closed")
	// ErrSettled: the delivery was already acked, retried, released or
	// dead-lettered.
	ErrSettled = errors.New("delivery already settled")
	// ErrLeaseLost: the lease expired and the message went to another
	// consumer; settling it here has no effect.
	ErrLeaseLost = errors.New("lease lost: message was delivered again")
	// ErrUnreachable: the broker could not be reached. Transient.
	ErrUnreachable = errors.New("broker unreachable")
	// ErrUnknownBackend: the registry knows no such name or scheme.
	ErrUnknownBackend = errors.New("unknown backend")
	// ErrBadURL: a backend URL or one of its parameters is invalid.
	ErrBadURL = errors.New("bad backend URL")
	// ErrTooLarge: a message body is over Config.MaxMessageBytes.
	ErrTooLarge = errors.New("message too large")
	// ErrNoQueue: a queue opened with Config.Inspect has nothing on the
	// broker (no message was ever published to it, or it was removed).
	ErrNoQueue = errors.New("no such queue")
)

// Rewrite turns a dead letter's body into its replayed copy's.
type Rewrite func(body []byte) ([]byte, error)

// DeadLetterBook keeps dead letters for a backend that has no durable
// storage of its own (inproc), so that `dlq list` in a later process still
// sees them. The store implements it.
type DeadLetterBook interface {
	AddDeadLetter(ctx context.Context, queue string, dl DeadLetter) error
	ListDeadLetters(ctx context.Context, queue string, limit int) ([]DeadLetter, error)
	// TakeDeadLetters removes and returns the dead letters with these ids
	// (all when ids is empty).
	TakeDeadLetters(ctx context.Context, queue string, ids ...string) ([]DeadLetter, error)
}

// Transactional enqueue. A queue kept in a SQL database can join a
// transaction of the caller's on that same database, so that the store
// writes a mission's row and its message in one commit at launch, and its
// outcome and the message's settlement in one commit at the end: no crash
// can leave one without the other. Optional: a broker cannot do it. The
// store finds out whether a queue qualifies (store.Store.Shares); callers
// need not know which backends do.

// TxQueue is a Queue whose messages live in a SQL database.
type TxQueue interface {
	Queue
	// SameDatabase reports whether db reaches the database that holds
	// this queue, so that a transaction on db may publish and settle. It
	// asks both; it blocks as long as they take to answer.
	SameDatabase(ctx context.Context, db *sql.DB) (bool, error)
	// PublishTx inserts msgs inside tx, as Publish would: they become
	// receivable when tx commits, and vanish if it rolls back. After the
	// commit, call Published, so that this process's consumers look at
	// once. Safe for concurrent use.
	PublishTx(ctx context.Context, tx *sql.Tx, msgs ...Message) error
	// Published wakes this process's consumers after a PublishTx commit.
	Published()
}

// TxDelivery is a Delivery of a TxQueue, which can be settled inside a
// transaction of the caller's on the queue's database. After tx ends,
// call the matching plain method (Ack after AckTx, DeadLetter after
// DeadLetterTx): if tx committed, it changes nothing and returns what the
// settlement found (ErrLeaseLost if the message had gone to another
// consumer); if tx rolled back, the delivery is still unsettled and the
// method does its own work. Not safe for concurrent use with other
// settlements.
type TxDelivery interface {
	Delivery
	// AckTx deletes the message inside tx.
	AckTx(ctx context.Context, tx *sql.Tx) error
	// DeadLetterTx moves the message to the dead letters with reason
	// inside tx.
	DeadLetterTx(ctx context.Context, tx *sql.Tx, reason string) error
}
