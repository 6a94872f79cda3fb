// Package rabbitmq is the RabbitMQ backend: a backends.Queue on AMQP 0-9-1
// (github.com/rabbitmq/amqp091-go), using RabbitMQ's own mechanisms for
// every guarantee rather than re-implementing them in the client.
//
// # URL
//
//	amqp://user:password@host:5672/vhost?queue_type=quorum
//	amqps://user:password@host:5671/vhost?cacertfile=/ca.pem
//
// palantir reads one query parameter of its own, queue_type=classic|quorum
// (default classic), and removes it before dialling. The parameters that
// amqp091-go understands are passed through: auth_mechanism, cacertfile,
// certfile, channel_max, connection_timeout (milliseconds; it replaces the
// default 3 s dial and handshake timeout), heartbeat, keyfile and
// server_name_indication. Any other parameter is an error wrapping
// backends.ErrBadURL that lists the known ones. Errors and logs show the URL
// through backends.Redact, never the password.
//
// # Names
//
// For the palantir queue Q (QueueNames lists them), declared idempotently
// on open, after every reconnect, and by Stats and Purge:
//
//   - Q, the work queue: durable, on the default exchange with routing
//     key Q, x-queue-type classic or quorum. As a quorum queue it also has
//     x-delivery-limit (twice the worker's limit, at least 20) and
//     dead-letters what exceeds it to Q.dead (x-dead-letter-exchange "",
//     x-dead-letter-routing-key Q.dead, at-least-once), where `dlq list`
//     shows the reason from its x-death header. The worker dead-letters at
//     its own limit first; the broker's is the backstop (RabbitMQ 4 would
//     otherwise drop the message at its default limit of 20). A quorum Q
//     declared by an older palantir without these is used as it is, with
//     a warning naming the policy that adds them.
//   - Q.retry.125ms, Q.retry.250ms, Q.retry.500ms, Q.retry.1s, Q.retry.2s,
//     Q.retry.4s, Q.retry.8s, Q.retry.16s, Q.retry.32s and Q.retry.long,
//     the retry ladder: durable queues with no consumers whose
//     x-dead-letter-exchange "" and x-dead-letter-routing-key Q send each
//     message back to Q when its per-message expiration (the exact retry
//     delay in milliseconds) runs out. A delay goes to the first class at
//     least as long as itself (a delay of 700 ms waits in Q.retry.1s);
//     delays above 32 s wait in Q.retry.long.
//   - Q.dead, the dead letters: durable, never consumed; listed with basic.get
//     and returned unacked, so that `rabbitmqctl list_queues` and the
//     management UI show them too.
//
// Why a ladder: RabbitMQ expires a message only when it reaches the head of
// its queue, so in a single retry queue a 1 s retry queued behind a 30 s one
// would wait 30 s. Within one power-of-two class every delay is between half
// the class bound and the bound, so a retry is never early and less than
// half the bound late (under 125 ms in the shortest class; in Q.retry.long
// a retry can wait behind any longer one); palantir's backoff (1 s, 2 s, 4 s … divided by the
// speed) puts each attempt in a class of its own, where all delays are equal
// and expiry order is exact. The ladder is fixed, rather than one queue per
// distinct delay, so that any process (`palantir status`, `palantir purge`)
// can find every delayed retry by name without listing queues, which AMQP
// cannot do.
//
// # Messages
//
// Every message is persistent (delivery mode 2) with MessageId = Message.ID,
// AppId "palantir", Timestamp = publish time, and headers
// x-palantir-attempt (int32) and x-palantir-enqueued-at (RFC 3339 with
// nanoseconds: when the copy becomes receivable, which for a retry is after
// its delay; AMQP's Timestamp has only second precision). Dead letters also
// carry x-palantir-reason and x-palantir-dead-at; a copy republished to
// count its deliveries carries x-palantir-deliveries (see Delivery count).
// A message published by
// hand without any of these is still delivered, as attempt 1, with the ID
// "raw-" followed by a hash of its body, and EnqueuedAt = the time it was
// received.
//
// # Delivery semantics
//
//   - A Queue has two connections: "palantir Q" for consumers and admin
//     calls, "palantir Q publisher" for every publish. RabbitMQ blocks a
//     connection that publishes during a memory or disk alarm
//     (connection.blocked), acks included; apart, consumers keep acking.
//     A publish on a blocked connection gives up after 10 s, and any
//     publish without its confirms after 30 s, with an error wrapping
//     ErrBlocked (for the alarm) and backends.ErrUnreachable.
//   - Publish uses a dedicated channel in confirm mode with the mandatory
//     flag: it returns once the broker has confirmed every message (at most
//     1024 outstanding); a broker nack, or a message that no queue took, is
//     an error. Durable queues, persistent messages and confirms together
//     mean a confirmed message survives a broker restart.
//   - Each consumer is its own channel with basic.qos prefetch = Prefetch
//     and manual acknowledgement. Its lease is the channel: Extend has
//     nothing to renew (it returns nil, or ErrLeaseLost once the channel is
//     gone), and a consumer, process or connection that goes away returns
//     its unacked messages to the queue at once, marked redelivered.
//   - Retry publishes a confirmed copy as attempt+1 to the retry ladder (to
//     Q when the delay is 0) and only then acks the original; DeadLetter
//     publishes a confirmed copy to Q.dead and then acks. If the process dies
//     between the two steps the original comes back with its old attempt
//     beside the copy: at-least-once, and the worker records outcomes once.
//     The same holds when the copy is confirmed but the ack is lost with
//     the channel: Retry and DeadLetter then return nil (the copy is what
//     counts, so the worker records the next attempt and the redelivered
//     original is stale) and log a warning. If the copy cannot be published, the original is released back to
//     the queue rather than left holding a prefetch slot.
//   - Release is basic.nack with requeue.
//   - After a connection or channel is lost the backend reconnects with
//     capped exponential backoff (100 ms to 5 s), redeclares the topology
//     and resumes consuming. Deliveries received on the lost channel were
//     already requeued by the broker: settling them returns
//     backends.ErrLeaseLost and never acks anything twice.
//   - With queue_type=quorum every queue above is a quorum queue
//     (replicated, for clusters), and the retry ladder dead-letters with
//     x-dead-letter-strategy at-least-once.
//
// # Delivery count
//
// Received.Deliveries counts the deliveries of a copy without an outcome,
// this one included. Quorum queues count for us (x-delivery-count, which
// RabbitMQ 4.3 narrowed to failed deliveries: a Release no longer counts
// there). A classic queue only says that a message was delivered before
// (the redelivered flag), so a consumer that receives such a message with
// no count republishes it, confirmed, with x-palantir-deliveries = the
// deliveries so far, acks the original, and hands out the copy when it
// comes: the count survives the next crash, and the copy waits at the tail
// of the queue. If that publish fails, the original is handed out as it
// is, counted 2 or more (at least). A Retry is a new copy, counted from 1.
// The worker, not the backend, decides what a count means.
//
// Not guaranteed: ordering after a redelivery or retry; exactness of a retry
// delay when different delays share a ladder class (see Names); anything a
// classic queue on a failed cluster node held (use quorum queues); and
// DeadLetters, Replay and Stats are snapshots that can race with each other
// (listing dead letters holds them unacked for a moment, so a concurrent
// listing may not see them).
//
// # Stats
//
// queue.declare-ok reports a queue's ready messages and its consumers, not
// its unacknowledged ones, so Stats reports InFlight exactly only when it
// can account for every consumer of Q: when the broker's consumer count
// equals the number of consumers this Queue holds open, InFlight is the
// number of deliveries they hold unsettled (0 when nobody consumes);
// otherwise it is -1, unknown. (Unacked messages on a channel whose consumer
// was cancelled but which stayed open, or fetched by a stranger with
// basic.get, are not seen; palantir itself does neither on Q.)
package rabbitmq
