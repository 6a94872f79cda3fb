// Package peers measures palantir's peers, River and asynq, the way
// `palantir bench` measures palantir: N no-op jobs, each carrying its
// index, timed from the first insert to the last job completed, with every
// index counted so that lost and duplicated jobs are counted, not assumed.
//
// It is a Go module of its own (bench/peers/go.mod) so that palantir's
// go.mod and binary do not carry River, asynq or their dependencies, and so
// that the repository's `go test ./...` does not descend into it.
//
// # What "completed" means
//
// For River, a job is completed when River's completer has written its
// state to PostgreSQL and the client has sent the completion event
// (Client.Subscribe, EventKindJobCompleted): the clock stops at the last
// such event. For asynq, a task is completed when its handler has returned
// and the queue is empty in Redis (the server deletes a finished task when
// it has no retention): the clock stops when, after the last handler ran,
// the inspector first sees the queue empty (polled every millisecond).
// Both are the equivalent of palantir bench's "settled": the outcome is
// persisted and the broker has forgotten the message.
//
// # Scratch space
//
// River gets a PostgreSQL database of its own, created with a random name
// and dropped afterwards; asynq gets a Redis database number other than 0,
// flushed before and after. Nothing else is touched.
package peers
