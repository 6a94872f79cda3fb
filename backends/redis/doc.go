// Package redis is the Redis backend: a work queue on a Redis Stream read
// through a consumer group, with go-redis v9 (a single server, a
// Sentinel-managed master, or a Cluster). It needs Redis 6.2 or later
// (XAUTOCLAIM, exclusive XRANGE); 7.0 or later is recommended.
//
// # Keys
//
// For queue name Q (the --queue flag, default "missions"):
//
//	palantir:{Q}          stream    the work queue; consumer group "palantir"
//	palantir:{Q}:delayed  sorted set retries waiting for their delay
//	palantir:{Q}:dead     stream    dead letters
//
// The braces are a Cluster hash tag: the three keys live in one slot, so
// the Lua scripts that move an entry from one to another are atomic on
// Cluster too. Inspect them with the broker's own tools, for example
//
//	redis-cli XLEN 'palantir:{missions}'
//	redis-cli XPENDING 'palantir:{missions}' palantir
//	redis-cli XINFO CONSUMERS 'palantir:{missions}' palantir
//	redis-cli XRANGE 'palantir:{missions}:dead' - +
//
// A work or dead-letter entry has the fields id (the message id), body,
// attempt, plus redelivered=1 on a released copy and reason and dead_at
// (RFC 3339) on a dead letter. A delayed retry is the sorted-set member
// "<entry id>\n<attempt>\n<length of id>\n<id><body>", scored by its due
// time in milliseconds on the server's clock. An entry added by hand
// (XADD 'palantir:{Q}' '*' foo bar) is delivered too: its id is the stream
// entry id, its attempt 1, its body the value of its only field (or all its
// fields as a JSON object), so that the worker can dead-letter it.
//
// # Delivery semantics
//
// Delivery is at least once, through the Streams pending list:
//
//   - Publish appends with XADD, pipelined. EnqueuedAt is the time in the
//     stream entry id.
//   - Every Subscribe joins group "palantir" as a new consumer (the worker
//     name plus the process id and a random suffix). Receive reads new
//     entries with XREADGROUP, up to Prefetch at a time into a small local
//     buffer; entries in the buffer are already pending on this consumer.
//   - An entry received and not settled within the lease (Config.Lease,
//     the visibility timeout) is reclaimed by the next Receive of any
//     consumer with XAUTOCLAIM and delivered again, Redelivered, with the
//     same attempt. This is how the deliveries of a dead worker come back.
//     Extend resets the entry's idle time so a live, slow worker keeps it.
//   - Settling first checks, atomically, that the entry is still pending
//     on this consumer with the delivery count it was received with; if it
//     was reclaimed meanwhile, settling changes nothing and returns
//     backends.ErrLeaseLost. Ack deletes the entry (XACK + XDEL, so the
//     stream holds only work not yet done); concurrent acks of one queue
//     are sent together, one script call for up to 256 entries, each still
//     checked on its own. Retry puts attempt+1 in the
//     delayed set (or straight on the stream when the delay is 0); the
//     next Receive after its due time moves it to the stream. Release
//     appends a copy with the same attempt. DeadLetter appends to the
//     dead-letter stream. Replay moves dead letters back as attempt 1.
//   - Closing a consumer (or the queue) gives back at once what it read but
//     never handed out; what it handed out comes back after the lease.
//
// Streams have no way to put an entry at the front: a released or retried
// message is received after those already waiting.
//
// # What Redis does not guarantee
//
// Redis acknowledges a write once it is in memory. Without persistence
// configured for it (appendonly yes, with appendfsync everysec or always),
// everything queued, in flight, delayed or dead is lost when the server
// restarts, and with appendfsync everysec up to a second of acknowledged
// writes can be lost on a crash. Replication to replicas is asynchronous, so
// a Sentinel or Cluster failover can lose the writes the old master had not
// yet sent. palantir then loses missions that Publish reported as queued.
// Delayed retries are moved to the stream only while some consumer is
// receiving.
//
// # URLs
//
//	redis://[user:password@]host[:port][/db][?param=value&...]
//	rediss://...                                   TLS
//	redis://host:26379/0?master_name=mymaster[&addr=host2:26379...]
//	                                               Sentinel: host and addr are sentinels
//	redis://host:7000?addr=host2:7000[&addr=...]   Cluster (or ?cluster=true with one seed)
//
// User and password are those of the Redis servers, also with Sentinel
// (sentinels are reached without AUTH). Known query parameters: addr,
// client_name, cluster, conn_max_idle_time, conn_max_lifetime, db,
// dial_timeout, master_name, max_active_conns, max_idle_conns,
// min_idle_conns, pool_size, pool_timeout, protocol, read_timeout,
// write_timeout (see go-redis's ParseURL for their meaning), and for
// rediss:// only, with amqp091-go's names: cacertfile (PEM file of the CAs
// to trust), certfile and keyfile (a client certificate and its key),
// server_name_indication (the name to verify instead of the host), and
// skip_verify (no verification; logged as a warning). Any other parameter
// is an error wrapping backends.ErrBadURL, and so are username and
// password in the query string, where a redacted URL would still show
// them, TLS parameters on redis://, and max_retries and its backoff
// parameters: go-redis's automatic retries are off (see noRetries in
// url.go).
//
// # Limits and delivery counts
//
// Publish refuses a batch holding a body over Config.MaxBytes with
// backends.ErrTooLarge before sending any of it. A poll reads entries one
// at a time within a byte budget (pollBudget: a few MiB, at least one
// entry); an entry whose body is over the limit (put there by another
// client) is moved to the dead letters inside Redis with the reason
// "message of N bytes is over the limit of M (max_message_size)" and
// logged, never handed to the worker. Received.Deliveries is the consumer
// group's delivery counter of the entry, plus, for a released copy, the
// count it was released with.
//
// # Memory pressure
//
// At maxmemory with policy noeviction Redis refuses writes but still
// serves reads, claims and acks. A poll then moves due retries and
// dead-letters oversized entries only as far as Redis accepts, logs the
// refusal once per change of state, and goes on delivering; acks free
// memory. Subscribe joins an existing group although XGROUP CREATE is
// refused. A refused write (Publish, Retry, DeadLetter, Release) is an
// error wrapping backends.ErrUnreachable that names maxmemory.
package redis
