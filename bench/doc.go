// Package bench is `palantir bench`: an honest side-by-side comparison of
// the backends, with identical zero-duration missions through each one.
//
// # Method
//
// Each backend is measured on its own fresh queues (named from
// Options.Queue, "bench-<random>" by default), in two phases, and the
// queues are deleted from the broker afterwards.
//
//  1. Ceiling: the same number of messages, of the same size, through the
//     bare client library with no palantir code: what the broker allows
//     on this machine. Redis: go-redis, pipelined XADD from one producer,
//     Concurrency consumer-group members each reading up to Prefetch
//     (default max(Concurrency, 100)) entries per XREADGROUP and acknowledging them
//     with one XACK. RabbitMQ: amqp091-go, a durable queue, persistent
//     messages, publisher confirms with a window of 512, one consumer
//     channel with prefetch Prefetch shared by Concurrency
//     goroutines, one ack per message. inproc: a buffered Go channel from
//     one producer to Concurrency consumers.
//  2. palantir: the real path. Like `palantir launch`, batches of up to
//     1000 missions are created in the store, published through the
//     backend's Queue and marked queued, with the same telemetry; one
//     worker (package worker) holding up to Prefetch deliveries, of which
//     Concurrency execute at once, takes them,
//     "executes" them with a sleeper that does not wait, persists each
//     outcome, records telemetry, and acks. Orders are raven missions with
//     fail_rate 0, padded with the Order's pad field to Payload bytes;
//     they are built and encoded before the clock starts.
//
// The phase ends when every published mission has been recorded as a
// success, or when none has been for DrainTimeout.
//
// # What is reported
//
//   - missions/s: distinct missions recorded as SUCCESS, over the time
//     from the first publish to the last settlement; ratio_to_ceiling
//     divides it by the ceiling's msgs/s. With a Rate, missions/s is
//     bounded by the rate and the ratio says little: look at latencies.
//   - publish: the duration of each Publish call, counted once per
//     message it carried. queue wait: from the broker's enqueue time
//     (Received.EnqueuedAt: millisecond precision on Redis, whose stream
//     ids carry the time) to the worker's Receive. end to end: from the
//     mission's intended send time to its ack after persistence.
//     Percentiles come from HDR histograms (1 µs to 1 h, three significant
//     digits): fixed memory, not a sorted slice of every sample.
//   - redeliveries: deliveries the broker flagged as redelivered;
//     duplicates: deliveries of a mission already recorded (the worker's
//     Duplicate result, or a second success); lost: missions the broker
//     accepted that were never recorded as SUCCESS, counted from the
//     worker's observations, never assumed. It must be 0.
//   - cpu_seconds: this process's user+system CPU time over the palantir
//     phase (getrusage); with inproc that includes the broker, with the
//     others only palantir and its client library. peak_memory_mb: the
//     largest resident set size sampled every 20 ms during the phase,
//     after a GC that returns freed memory to the system.
//
// # Constant rate
//
// With Rate > 0, mission i is due at start + i/Rate. A ticker wakes the
// publisher, which sends everything due in one batch; a late publish is
// followed by a catch-up batch, and latency is still measured from each
// mission's intended time, so a stall shows up in the percentiles rather
// than silently slowing the arrivals (no coordinated omission). With Rate
// 0, a mission's intended time is when its batch started.
//
// # Store
//
// By default each backend gets a fresh SQLite file in a temporary
// directory, deleted afterwards: bench never writes to the user's
// palantir.db. Options.Store "none" replaces the store with an in-memory
// stand-in that persists nothing but still remembers completed missions,
// so duplicates are detected; telemetry events are then emitted but not
// written. Any other value is a store URL, and the missions stay there.
package bench
