// Package backends holds the Queue contract that every broker implements,
// and the Registry that picks a backend by name or URL scheme.
//
// # Delivery semantics
//
// Every backend gives at-least-once delivery with the same observable
// behaviour, each through its broker's native mechanism:
//
//   - A Delivery is unsettled until exactly one of Ack, Retry, Release or
//     DeadLetter succeeds. A consumer that disappears without settling
//     (SIGKILL, lost connection) gives its deliveries back: RabbitMQ
//     requeues unacked messages when the channel closes, Redis Streams
//     reclaims pending entries after the lease (visibility timeout) with
//     XAUTOCLAIM, inproc expires the lease in memory.
//   - Extend renews the lease of a long-running delivery so that a live
//     consumer is never robbed of its work.
//   - Retry re-enqueues the message as the next attempt after a delay;
//     DeadLetter moves it, with a reason, to the dead letters, from which
//     Replay sends it back as attempt 1.
//
// Backends stay thin: they never decode bodies, count failures or decide to
// retry. That policy lives once, in package worker.
//
// # Names
//
// The work queue of queue name Q is the RabbitMQ queue Q or the Redis stream
// palantir:{Q} (braces keep its keys in one Redis Cluster slot); dead
// letters and delayed retries live beside it under names
// derived from Q, so students can inspect them with the broker's own tools.
package backends
