// Package sqlqueue is a work queue kept in a SQL database: the design
// that the postgres and sqlite backends share (schema, claim, lease and
// settlement SQL), written once, with a small Dialect for what differs.
// It is the design of River, Oban, Solid Queue and pgmq, reduced to what
// palantir's Queue contract needs.
//
// # Tables
//
// Created at Open if absent (idempotently; processes opening together
// take turns, on PostgreSQL through an advisory lock), shared by every
// queue of the database, which the queue column tells apart:
//
//	palantir_queue         id, queue, msg_id, body, attempt, deliveries, released,
//	                       visible_at, enqueued_at, lease_owner, lease_token
//	                       index (queue, visible_at, id)
//	palantir_dead_letters  id, queue, msg_id, body, attempt, reason, dead_at
//	                       index (queue, id)
//
// Times are BIGINT microseconds since the epoch on the database's clock.
// A row of palantir_queue is ready (visible_at in the past, no lease
// token), delayed (visible_at in the future, no token: a retry waiting
// for its delay) or in flight (a token; visible_at is when its lease
// ends). Inspect them with the database's own tools:
//
//	SELECT msg_id, attempt, deliveries, lease_owner,
//	       visible_at > (EXTRACT(EPOCH FROM now())*1e6)::bigint AS invisible
//	FROM palantir_queue WHERE queue = 'missions' ORDER BY visible_at, id;
//
// A row inserted by hand with just queue and body is delivered too: its
// id is the row id, its attempt 1.
//
// # Claim, lease, settlement
//
// A consumer claims up to its prefetch of the oldest visible rows in one
// statement,
//
//	UPDATE palantir_queue SET visible_at = now + lease, deliveries = deliveries + 1,
//	       lease_owner = ?, lease_token = ?
//	WHERE id = ANY(ARRAY(SELECT id FROM palantir_queue
//	       WHERE queue = ? AND visible_at <= now ORDER BY visible_at, id
//	       LIMIT ? FOR UPDATE SKIP LOCKED))                        -- PostgreSQL
//	RETURNING id, msg_id, body (if within the size limit), octet_length(body), …
//
// (on SQLite, id IN (SELECT … LIMIT ?) without the lock: one writer at a
// time makes it unnecessary). The claim is the lease: the row is
// invisible to other claimers until visible_at, and the fresh random
// token is the proof of it. Every settlement checks the token in its
// WHERE clause, so that a consumer whose lease ran out, and whose row
// another consumer claimed since, changes nothing and gets
// backends.ErrLeaseLost:
//
//   - Extend: visible_at = now + lease.
//   - Ack: DELETE. Concurrent acks of a Queue share one transaction.
//   - Retry: in one transaction, INSERT … SELECT a copy as attempt+1,
//     visible after the delay, deliveries 0 (a new row, at the back), and
//     DELETE the row.
//   - Release: visible_at = now, token cleared, the same attempt, its
//     delivery not counted (deliveries - 1) and the row marked released.
//   - DeadLetter: in one transaction, INSERT INTO palantir_dead_letters …
//     SELECT with the reason, and DELETE the row.
//
// Copies are made inside the database (INSERT … SELECT), so that a body
// never travels back. Replay deletes dead letters (RETURNING them) and
// inserts them as attempt 1 in one transaction: of two concurrent
// replays, the second finds them gone.
//
// # Delivery semantics
//
//   - At least once: a row leaves palantir_queue only by a settlement
//     whose token matches. A consumer that dies (SIGKILL, a lost
//     connection) leaves its rows leased; they become visible when the
//     lease ends and the next claim delivers them again, Redelivered,
//     Deliveries one more, the same attempt. Closing a consumer gives back
//     at once the rows it claimed and never handed out.
//   - Deliveries counts claims (Redelivered is Deliveries > 1, or a
//     released row); the worker dead-letters a row claimed too often.
//   - A row whose body is over Config.MaxBytes (a stranger's: Publish
//     refuses one with backends.ErrTooLarge) is claimed without its body
//     and moved to the dead letters inside the database, with the reason
//     "message of N bytes is over the limit of M (max_message_size)".
//   - Order: the oldest visible row first (by visible_at, then id). A
//     retry is a new row; a released row or an expired lease is visible
//     from the time it became so. Concurrent claimers on PostgreSQL pass
//     over each other's locked rows, so there is no FIFO across workers.
//   - Durability is the database's: Publish returns after its commit.
//
// # Waking consumers
//
// An idle consumer first peeks (SELECT MIN(visible_at): a read, taking no
// lock) and claims only when a row is visible; otherwise it waits until
// the first row becomes visible, or a wakeup, or its poll (Dialect.PollMin,
// doubling to PollMax while it finds nothing). Publish, Release, Retry and
// Replay wake this process's consumers of the same database and queue at
// once, and run the dialect's Notify in their transaction for other
// processes (PostgreSQL's NOTIFY palantir_queue, heard by a LISTEN
// connection per Queue with consumers, which reconnects with backoff).
// After finding work, a consumer claims again without peeking. A
// database that does not answer is an error wrapping
// backends.ErrUnreachable, returned to the caller, who backs off: nothing
// here retries in a loop.
package sqlqueue
