// Package nats is the NATS JetStream backend: a backends.Queue on a
// work-queue stream with one durable pull consumer that every worker
// shares (github.com/nats-io/nats.go and its jetstream package), using
// JetStream's own mechanisms where they keep palantir's contract.
//
// # URL
//
//	nats://[user:password@ | token@]host[:4222]
//	tls://host:4222?cacertfile=/ca.pem&certfile=/client.pem&keyfile=/client.key
//	nats://host:4222?replicas=3
//
// One server per URL: once connected, the client learns the other
// servers of a cluster from it. tls:// (or any TLS parameter) asks for
// TLS. replicas (1 to 5) is how many servers of a cluster keep each of
// the queue's streams; without it a new stream has one and an existing
// stream keeps its own (so that a process with a shorter URL does not
// scale a replicated stream down). Any other query parameter, a path, or a list of servers is an
// error wrapping backends.ErrBadURL. Errors and logs show the URL
// redacted: the password, and a lone user name, which NATS reads as a
// token.
//
// # Names
//
// For the palantir queue Q (NamesFor; the key K is Q upper-cased, with
// anything but letters, digits and '-' replaced and a hash appended when
// Q is not plain lower-case, so that no two queues share it):
//
//   - stream PALANTIR_K on subject palantir.K, the work queue: retention
//     WorkQueuePolicy (an acked message is deleted), file storage;
//   - its durable pull consumer palantir: explicit acks, AckWait = the
//     lease, MaxDeliver = MaxDeliver(max_deliveries), unbounded
//     MaxAckPending (each worker bounds its own with its prefetch);
//   - stream PALANTIR_K_DELAYED on palantir.K.delayed, retries waiting for
//     their delay, with its durable consumer palantir-mover;
//   - stream PALANTIR_K_DEAD on palantir.K.dead, the dead letters: limits
//     retention, never consumed, read with STREAM.MSG.GET.
//
// Open creates or updates the three streams and creates the work
// consumer if it is missing; Subscribe sets the consumer's AckWait and
// MaxDeliver from its own configuration.
//
// # Messages
//
// The body is the message's payload. Headers: Palantir-Id,
// Palantir-Attempt; on a released copy Palantir-Redelivered and
// Palantir-Prior-Deliveries; on a delayed retry Palantir-Due; on a dead
// letter Palantir-Reason and Palantir-Dead-At. A message published by
// hand (nats pub palantir.K) has none of them and is delivered as
// attempt 1 with the ID "raw-" and its stream sequence. EnqueuedAt is
// the time JetStream stored the copy.
//
// # Delivery semantics
//
//   - Publish sends asynchronously, at most 512 messages of a batch at a
//     time, and returns once JetStream has acked every one (stored in the
//     stream's files); publish acks not received in 30 s are an error
//     wrapping ErrUnreachable.
//   - Each consumer makes its own pull requests (CONSUMER.MSG.NEXT) for
//     up to Prefetch messages, less those it holds, each waiting 4 to 5 s
//     on the server with an idle heartbeat every second (a request the
//     server lost is noticed within two); JetStream hands each message to
//     one of them.
//   - The lease is AckWait: a message not acked within it is delivered
//     again, to any consumer. Extend is an in-progress ack (+WPI) sent as
//     a request, which restarts the AckWait. The client keeps its own
//     clock of the lease: a message that waited in its buffer past half a
//     lease is extended before it is handed out, and one past the lease
//     is dropped (the server has it back); Extend after the lease returns
//     ErrLeaseLost, since the server does not say whether someone else
//     has the message now.
//   - Ack is +ACK awaiting the server's reply (AckSync). JetStream cannot
//     tell the acks of two deliveries of one message apart: an ack after
//     the lease still deletes the message. That is safe in palantir
//     (outcomes are recorded once) but it is not ErrLeaseLost.
//   - Retry publishes a new copy as attempt+1 and acks the original, so
//     that the copy's deliveries count from 1 (a NAK would redeliver the
//     same message, attempt and count unchanged). With a delay the copy
//     goes to the delayed stream stamped with its due time; the mover,
//     which every consuming process runs, NAKs it with the delay that
//     remains (NakWithDelay: the server's timer redelivers it when due)
//     and then publishes it to the work subject and acks it. Delays are
//     measured on the clocks of the processes involved.
//   - Release publishes a copy of the same attempt, marked redelivered,
//     and acks the original; DeadLetter publishes a copy to the dead
//     stream and acks the original. If a copy cannot be published, the
//     original is NAKed (given back at once) and the error returned
//     (Release then returns nil: the message is back). If the copy is
//     published but the ack is lost, the original comes back after the
//     lease beside its copy: at-least-once, and the worker records
//     outcomes once.
//   - Copies that palantir itself might publish twice carry a
//     Nats-Msg-Id, which JetStream de-duplicates within two minutes: a
//     moved retry, a replayed dead letter (so two concurrent replays
//     queue one copy) and one dead-lettered at MaxDeliver.
//   - A consumer that is closed cancels its pull request and gives back
//     what it pulled but did not hand out, at once and uncounted (a copy
//     each, then an ack; see Server versions for why not a NAK); what it
//     handed out comes back after the lease, as if the process had died.
//   - The connection reconnects for ever after it was once made, backing
//     off from 100 ms to 5 s, and buffers nothing while disconnected:
//     publishes, acks and pulls fail at once with ErrUnreachable, and a
//     consumer's pulls back off from 100 ms to 5 s.
//
// # Limits
//
// A message body over Config.MaxMessageBytes is refused at Publish
// (ErrTooLarge) and, when pulled (published by hand, or by a process
// with a larger limit), dead-lettered with the reason without being
// handed out. Received.Deliveries is JetStream's delivery count of the
// copy plus Palantir-Prior-Deliveries; the worker dead-letters a message
// delivered more than max_deliveries times. The work consumer's
// MaxDeliver is higher, the backstop for a message no worker settles:
// JetStream then stops delivering it and publishes an advisory
// ($JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.PALANTIR_K.palantir),
// on which every consuming process's watch dead-letters it with that
// reason and deletes it from the work stream.
//
// # Stats
//
// Ready is the consumer's NumPending (not yet delivered), InFlight its
// NumAckPending (delivered and not acked: held by a worker, or waiting
// to be delivered again after a lost lease or a NAK), Delayed and
// DeadLetters the message counts of the delayed and dead streams. Purge
// purges the delayed stream, and the work stream whole when nothing is
// in flight, else message by message past the last one delivered.
//
// # Server versions
//
// nats-server 2.9 or later (pull requests with heartbeats, next-by-subject
// message get). Before 2.10.14, the server mishandles a redelivery (after
// a lost lease, or a NAK) that finds only an expired or abandoned pull
// request waiting (nats-server#5305): it skips the message until its
// AckWait runs out again, counting one more delivery, and may hand an
// earlier message out a second time. The backend makes that rare (long
// pull requests with jittered expiry; no NAKs when a consumer closes) but
// cannot rule it out; the worker's once-only recording of outcomes
// absorbs the duplicate.
//
// Not guaranteed: durability through a power cut (JetStream fsyncs every
// sync_interval, two minutes by default; a process crash loses nothing);
// FIFO across redeliveries and retries; a consistent snapshot in Stats
// (three requests).
package nats
