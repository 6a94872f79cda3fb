package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/internal/prefetch"
)

// minBlock and maxBlock bound one blocking XREADGROUP. Short blocks keep
// Receive responsive to ctx and Close (go-redis cannot interrupt a
// blocked read) and let due retries and expired leases be noticed.
const (
	minBlock = 10 * time.Millisecond
	maxBlock = time.Second
)

// reapEvery is how often a consumer deletes group members that hold
// nothing and have been idle for reapIdle (dead workers' names).
const reapEvery = time.Minute

// Subscribe joins the consumer group (creating it and the stream if
// needed) as a new consumer named opts.Name plus a suffix unique to this
// process and call, so that two workers with one name never share a
// pending list. Safe for concurrent use.
func (q *Queue) Subscribe(ctx context.Context, opts backends.ConsumerOptions) (backends.Consumer, error) {
	if q.closed() {
		return nil, fmt.Errorf("redis subscribe %s: %w", q.keys.Stream, backends.ErrClosed)
	}
	if err := q.ensureGroup(ctx); err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = "consumer"
	}
	c := &consumer{
		q:        q,
		name:     fmt.Sprintf("%s-%d-%08x", name, os.Getpid(), rand.Uint32()),
		block:    min(max(q.lease/2, minBlock), maxBlock),
		cursor:   "0-0",
		lastReap: time.Now(),
	}
	c.pf = prefetch.New[*delivery](c, prefetch.Options{
		Prefetch:       opts.Prefetch,
		Lease:          q.lease,
		QueueDone:      q.done,
		Op:             "redis receive " + q.keys.Stream,
		GiveBackWithin: 2 * time.Second,
	})
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return nil, fmt.Errorf("redis subscribe %s: %w", q.keys.Stream, backends.ErrClosed)
	}
	q.consumers[c] = struct{}{}
	return c, nil
}

// consumer is one member of the group.
//
// Receive callers take deliveries from pf's buffer; when it is empty, one
// of them reads more from Redis (Fetch) while the others wait.
type consumer struct {
	q     *Queue
	name  string
	block time.Duration
	pf    *prefetch.Consumer[*delivery]

	// Owned by Fetch (one caller at a time):
	cursor   string // XAUTOCLAIM position in the pending list
	lastReap time.Time

	once sync.Once
}

var (
	_ prefetch.Fetcher[*delivery] = (*consumer)(nil)
	_ prefetch.Delivery           = (*delivery)(nil)
)

// Receive returns the next delivery: first entries whose lease expired
// (Redelivered), then new ones. Due retries are moved to the stream on
// the way. It blocks until one is available, ctx ends (ctx's error,
// within about a second) or the consumer or queue is closed (ErrClosed).
// Safe for concurrent use.
func (c *consumer) Receive(ctx context.Context) (backends.Delivery, error) {
	d, err := c.pf.Receive(ctx)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Fetch reads up to want entries, blocking at most c.block; pf calls it
// from one Receive at a time (prefetch.Fetcher). Redis calls do not use
// ctx's cancellation: a read whose reply was abandoned would leave its
// entries pending on this consumer until the lease expires; instead they
// are kept in the buffer for the next Receive.
func (c *consumer) Fetch(ctx context.Context, want int) ([]*delivery, error) {
	rctx := context.WithoutCancel(ctx)
	if time.Since(c.lastReap) > reapEvery {
		c.lastReap = time.Now()
		idle := max(10*c.q.lease, reapEvery).Milliseconds()
		// Best effort: a failure here changes nothing.
		_ = reapScript.Run(rctx, c.q.client, []string{c.q.keys.Stream}, Group, idle, "").Err()
	}

	k := c.q.keys
	res, err := pollScript.Run(rctx, c.q.client, []string{k.Stream, k.Delayed, k.Dead},
		Group, c.name, c.q.lease.Milliseconds(), int64(want), c.cursor, c.q.cfg.MaxBytes(), c.q.budget).Slice()
	if isNoGroup(err) {
		return nil, c.q.ensureGroup(rctx)
	}
	if err != nil {
		return nil, c.q.fail(ctx, "receive", c.q.keys.Stream, err)
	}
	p, err := parsePoll(res)
	if err != nil {
		return nil, fmt.Errorf("redis receive %s: %w", c.q.keys.Stream, err)
	}
	c.cursor = p.cursor
	for _, k := range p.killed {
		c.logTooLarge(k.id, k.size)
	}
	c.q.noteRefused(p.refused)
	ds := make([]*delivery, 0, len(p.claimed)+len(p.fresh))
	for _, e := range p.claimed {
		ds = append(ds, c.newDelivery(e, true))
	}
	for _, e := range p.fresh {
		ds = append(ds, c.newDelivery(e, false))
	}
	if len(ds) > 0 || len(p.killed) > 0 || ctx.Err() != nil {
		// After dead-lettering, poll again rather than block: more
		// oversized entries may wait, and the poll keeps their bodies in
		// Redis where a blocking read would bring one here.
		return ds, nil
	}

	block := c.block
	if p.nextDue >= 0 {
		block = min(block, max(time.Duration(p.nextDue-p.now)*time.Millisecond, minBlock))
	}
	// One entry at most: this read returns its body to us whatever its
	// size (an oversized one is then dead-lettered, see below); the next
	// poll reads the rest within its budget.
	streams, err := c.q.client.XReadGroup(rctx, &goredis.XReadGroupArgs{
		Group:    Group,
		Consumer: c.name,
		Streams:  []string{c.q.keys.Stream, ">"},
		Count:    1,
		Block:    block,
	}).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil, nil
	case isNoGroup(err):
		return nil, c.q.ensureGroup(rctx)
	case err != nil:
		return nil, c.q.fail(ctx, "receive", c.q.keys.Stream, err)
	}
	for _, s := range streams {
		for _, m := range s.Messages {
			f := make(map[string]string, len(m.Values))
			for k, v := range m.Values {
				if s, ok := v.(string); ok {
					f[k] = s // no copy: this may be a huge body
				} else {
					f[k] = fmt.Sprint(v)
				}
			}
			if bodySize(f) > c.q.cfg.MaxBytes() {
				c.kill(rctx, m.ID, fieldOr(f, "id", m.ID))
				continue
			}
			ds = append(ds, c.newDelivery(entry{sid: m.ID, fields: f, count: 1}, false))
		}
	}
	return ds, nil
}

// kill dead-letters d, whose body is over the size limit, inside Redis.
// Best effort: an entry not dead-lettered now is caught by the poll
// script after the lease.
func (c *consumer) kill(ctx context.Context, sid, id string) {
	k := c.q.keys
	n, err := killScript.Run(ctx, c.q.client, []string{k.Stream, k.Delayed, k.Dead},
		Group, c.name, sid, 1, c.q.cfg.MaxBytes()).Int64()
	if err != nil {
		c.q.log.Warn("redis: could not dead-letter a message over the size limit; it will be tried again after the lease",
			"id", id, "err", err)
		return
	}
	if n > 0 {
		c.logTooLarge(id, n)
	}
}

// bodySize is the length of the body decodeFields would return for f
// (luaSize's measure), without building it.
func bodySize(f map[string]string) int {
	if b, ok := f["body"]; ok {
		return len(b)
	}
	n := 0
	for k, v := range f {
		if len(f) == 1 {
			return len(v)
		}
		n += len(k) + len(v)
	}
	return n
}

func fieldOr(f map[string]string, key, def string) string {
	if v := f[key]; v != "" {
		return v
	}
	return def
}

// logTooLarge says once that the backend dead-lettered message id, of n
// bytes, without handing it to the worker.
func (c *consumer) logTooLarge(id string, n int64) {
	c.q.log.Warn("redis: dead-lettered a message over the size limit without delivering it",
		"id", id, "bytes", n, "limit", c.q.cfg.MaxBytes(),
		"reason", fmt.Sprintf("message of %d bytes is over the limit of %d (max_message_size)", n, c.q.cfg.MaxBytes()))
}

// GiveBack gives back entries read but never handed out: copies go to
// the end of the stream at once, rather than after the lease. Best
// effort: an entry not given back is redelivered after the lease.
func (c *consumer) GiveBack(ctx context.Context, ds []*delivery) {
	for _, d := range ds {
		if c.q.closed() {
			return
		}
		_ = unreadScript.Run(ctx, c.q.client, []string{c.q.keys.Stream}, d.settleArgs()...).Err()
	}
}

// Close stops the consumer: Receive returns ErrClosed. Entries read into
// its buffer but not handed out go back to the stream at once; deliveries
// handed out are not settled and come back after the lease. Idempotent;
// may block for up to two seconds.
func (c *consumer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.shutdown(ctx)
	return nil
}

func (c *consumer) shutdown(ctx context.Context) {
	c.once.Do(func() {
		c.GiveBack(ctx, c.pf.Stop())
		if !c.q.closed() {
			// Leave no name behind in XINFO CONSUMERS if nothing is pending.
			_ = reapScript.Run(ctx, c.q.client, []string{c.q.keys.Stream}, Group, 0, c.name).Err()
		}
		c.q.mu.Lock()
		delete(c.q.consumers, c)
		c.q.mu.Unlock()
	})
}

// entry is one stream entry as read from Redis.
type entry struct {
	sid    string // stream entry id
	fields map[string]string
	count  int64 // delivery count after this read
}

// newDelivery decodes e. palantir writes the fields id, body and attempt;
// an entry added by hand may have none of them, and is still delivered:
// its id is the stream entry id, its attempt 1, and its body the value of
// its only field, or all its fields as a JSON object.
//
// Deliveries is the group's delivery counter of the entry (1 when read
// with XREADGROUP, one more each time XAUTOCLAIM reclaims it) plus the
// deliveries without an outcome of the copy it was released from (field
// prior_deliveries), so that a Release does not reset the count.
func (c *consumer) newDelivery(e entry, claimed bool) *delivery {
	id, body, attempt := decodeFields(e.sid, e.fields)
	prior, err := strconv.Atoi(e.fields["prior_deliveries"])
	if err != nil || prior < 0 {
		prior = 0
	}
	return &delivery{
		c:       c,
		sid:     e.sid,
		count:   e.count,
		fetched: time.Now(),
		rec: backends.Received{
			Message:     backends.Message{ID: id, Body: body, Attempt: attempt},
			EnqueuedAt:  streamTime(e.sid),
			Redelivered: claimed || e.count > 1 || e.fields["redelivered"] == "1",
			Deliveries:  int(e.count) + prior,
		},
	}
}

func decodeFields(sid string, f map[string]string) (id string, body []byte, attempt int) {
	id = f["id"]
	if id == "" {
		id = sid
	}
	attempt, err := strconv.Atoi(f["attempt"])
	if err != nil || attempt < 1 {
		attempt = 1
	}
	if b, ok := f["body"]; ok {
		return id, []byte(b), attempt
	}
	if len(f) == 1 {
		for _, v := range f {
			return id, []byte(v), attempt
		}
	}
	body, _ = json.Marshal(f) // map keys come out sorted
	return id, body, attempt
}

// delivery is one entry pending on its consumer. Its methods are safe
// for concurrent use (mu serialises settlement and Extend); each is one
// round trip (Ack's shared with concurrent acks), a Lua script that checks
// the lease is still ours. Cancelling
// ctx abandons the wait; the change may or may not have been made, and the
// method may be called again. A failed round trip leaves the delivery
// unsettled.
type delivery struct {
	c     *consumer
	sid   string
	count int64 // the delivery count that proves the lease is still ours
	rec   backends.Received
	// fetched is when the entry was read: its lease runs from then, while
	// it waits in the buffer too.
	fetched time.Time

	mu      sync.Mutex
	settled bool
}

// Received returns the message and its metadata.
func (d *delivery) Received() backends.Received { return d.rec }

// FetchedAt returns when the entry was read (prefetch.Delivery).
func (d *delivery) FetchedAt() time.Time { return d.fetched }

// Drop marks the delivery settled; the buffer calls it when the entry was
// reclaimed by another consumer before it was handed out
// (prefetch.Delivery).
func (d *delivery) Drop() {
	d.mu.Lock()
	d.settled = true
	d.mu.Unlock()
}

func (d *delivery) settleArgs(extra ...any) []any {
	return append([]any{Group, d.c.name, d.sid, d.count}, extra...)
}

// settle runs script, which settles the entry if it is still ours. A
// network error leaves the delivery unsettled so the call may be repeated.
func (d *delivery) settle(ctx context.Context, op string, script *goredis.Script, keys []string, extra ...any) error {
	return d.settleWith(ctx, op, func() (bool, error) {
		n, err := script.Run(ctx, d.c.q.client, keys, d.settleArgs(extra...)...).Int64()
		return n == 1, err
	})
}

// settleWith settles the delivery with one round trip, which reports
// whether the entry was still ours.
func (d *delivery) settleWith(ctx context.Context, op string, roundTrip func() (owned bool, err error)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.settled {
		return fmt.Errorf("redis %s %s: %w", op, d.rec.ID, backends.ErrSettled)
	}
	q := d.c.q
	if q.closed() {
		return fmt.Errorf("redis %s %s: %w", op, d.rec.ID, backends.ErrClosed)
	}
	owned, err := roundTrip()
	if err != nil {
		return q.fail(ctx, op, d.rec.ID, err)
	}
	d.settled = true
	d.c.pf.Settled()
	if !owned {
		return fmt.Errorf("redis %s %s: %w", op, d.rec.ID, backends.ErrLeaseLost)
	}
	return nil
}

// Ack deletes the entry (XACK + XDEL). It returns ErrLeaseLost if the
// lease expired and another delivery of the entry was made meanwhile.
// Concurrent acks share a round trip (acker.go).
func (d *delivery) Ack(ctx context.Context) error {
	return d.settleWith(ctx, "ack", func() (bool, error) {
		return d.c.q.ack(ctx, d.c.name, d.sid, d.count)
	})
}

// Retry re-enqueues the message as attempt+1 and deletes this entry,
// atomically. With a delay it waits in the delayed set, scored by its due
// time on the server's clock, until a Receive moves it to the stream.
func (d *delivery) Retry(ctx context.Context, delay time.Duration) error {
	k := d.c.q.keys
	return d.settle(ctx, "retry", retryScript, []string{k.Stream, k.Delayed},
		d.rec.ID, d.rec.Body, d.rec.Attempt+1, max(delay, 0).Milliseconds())
}

// Release appends a copy of the message with the same attempt to the
// stream, marked redelivered, and deletes this entry, atomically. Streams
// cannot push to the front: the copy is received after what is already
// waiting, but without waiting for the lease.
//
// A release is not a delivery without an outcome (the message was given
// back unprocessed): the copy carries this one's count minus one, which
// its next delivery adds to its own.
func (d *delivery) Release(ctx context.Context) error {
	return d.settle(ctx, "release", releaseScript, []string{d.c.q.keys.Stream},
		d.rec.ID, d.rec.Body, d.rec.Attempt, max(d.rec.Deliveries-1, 0))
}

// DeadLetter appends the message with reason and time to the dead-letter
// stream and deletes this entry, atomically.
func (d *delivery) DeadLetter(ctx context.Context, reason string) error {
	k := d.c.q.keys
	return d.settle(ctx, "dead-letter", deadScript, []string{k.Stream, k.Dead},
		d.rec.ID, d.rec.Body, d.rec.Attempt, reason, time.Now().UTC().Format(time.RFC3339Nano))
}

// Extend resets the entry's idle time (XCLAIM JUSTID to this consumer), so
// that it is not reclaimed for another lease. It returns ErrLeaseLost if
// the entry was already reclaimed, ErrSettled after settlement.
func (d *delivery) Extend(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.settled {
		return fmt.Errorf("redis extend %s: %w", d.rec.ID, backends.ErrSettled)
	}
	q := d.c.q
	if q.closed() {
		return fmt.Errorf("redis extend %s: %w", d.rec.ID, backends.ErrClosed)
	}
	n, err := extendScript.Run(ctx, q.client, []string{q.keys.Stream}, d.settleArgs()...).Int64()
	if err != nil {
		return q.fail(ctx, "extend", d.rec.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("redis extend %s: %w", d.rec.ID, backends.ErrLeaseLost)
	}
	return nil
}

// poll is pollScript's reply.
type poll struct {
	cursor         string
	nextDue, now   int64 // server milliseconds; nextDue -1 when none
	claimed, fresh []entry
	killed         []killed
	refused        string // a write Redis refused (OOM), or ""
}

// killed is an entry the poll script dead-lettered for its size.
type killed struct {
	id   string
	size int64
}

func parsePoll(res []any) (poll, error) {
	var p poll
	if len(res) != 7 {
		return p, fmt.Errorf("unexpected poll reply of %d elements", len(res))
	}
	var ok1, ok2, ok3 bool
	p.cursor, ok1 = res[0].(string)
	p.nextDue, ok2 = res[1].(int64)
	p.now, ok3 = res[2].(int64)
	if !ok1 || !ok2 || !ok3 {
		return p, fmt.Errorf("unexpected poll reply %v", res[:3])
	}
	var err error
	if p.claimed, err = parseEntries(res[3], true); err != nil {
		return p, err
	}
	if p.fresh, err = parseEntries(res[4], false); err != nil {
		return p, err
	}
	list, _ := res[5].([]any)
	for _, item := range list {
		if k, ok := item.([]any); ok && len(k) == 2 {
			id, _ := k[0].(string)
			n, _ := k[1].(int64)
			p.killed = append(p.killed, killed{id: id, size: n})
		}
	}
	p.refused, _ = res[6].(string)
	return p, nil
}

// parseEntries reads {{id, {field, value, ...}[, count]}...}.
func parseEntries(v any, withCount bool) ([]entry, error) {
	list, ok := v.([]any)
	if !ok && v != nil {
		return nil, fmt.Errorf("unexpected entry list %T", v)
	}
	out := make([]entry, 0, len(list))
	for _, item := range list {
		e, ok := item.([]any)
		if !ok || len(e) < 2 {
			return nil, fmt.Errorf("unexpected entry %v", item)
		}
		sid, _ := e[0].(string)
		kv, _ := e[1].([]any)
		f := make(map[string]string, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			f[fmt.Sprint(kv[i])] = fmt.Sprint(kv[i+1])
		}
		en := entry{sid: sid, fields: f, count: 1}
		if withCount && len(e) > 2 {
			en.count, _ = e[2].(int64)
		}
		out = append(out, en)
	}
	return out, nil
}
