// Package worker executes missions taken from a queue. It holds the policy
// that backends do not: decoding, attempt counting, backoff, the decision
// to retry or dead-letter, persistence order and telemetry. It is the same
// code whether the queue is in this process, in Redis or in RabbitMQ.
//
// # Order of effects
//
// A delivery is settled with the broker only after its outcome is in the
// store: persist, then ack (or retry, or dead-letter). A worker that dies
// in between leaves the message unsettled, so it is delivered again; the
// store then recognises the duplicate (BeginAttempt), so the mission is
// recorded and scored once.
//
// # Concurrency and prefetch
//
// Run starts one goroutine per delivery it may hold (Prefetch); a
// semaphore of Concurrency slots bounds how many of them execute. A held
// delivery is recorded as started only once it has a slot (until then the
// store shows it QUEUED); its outcome is persisted and acked outside the
// slot, so while one mission waits for its commit another executes, and
// many missions share each group commit.
//
// # Shutdown
//
// When Run's context ends the worker stops receiving and gives in-flight
// missions ShutdownTimeout to finish; missions still running then, and
// those still waiting for a slot, are released back to the queue
// unfinished, as the same attempt.
package worker
