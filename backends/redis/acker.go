package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/internal/batch"
)

// Batched acks. A worker acks every mission it finishes; one script round
// trip each would make the network round trip, and the syscalls on both
// ends, the ceiling of the whole pipeline. Acks are instead queued to one
// goroutine per Queue that sends whatever has accumulated (up to maxAcks)
// in a single script call, so concurrent deliveries share a round trip.
// Nothing waits on purpose: while one batch is in flight, the next forms.
// Each ack keeps its meaning: it is checked against the lease on its own,
// and its caller learns its own outcome.

const maxAcks = 256

// ackBatchScript settles many entries of one stream. KEYS[1] work stream;
// ARGV[1] group, then triples of consumer, entry id and the delivery count
// seen at Receive. It returns, per triple, 1 if it acked the entry or 0 if
// the lease was lost (see luaOwned: the same check, entry by entry).
var ackBatchScript = goredis.NewScript(`
local out = {}
local acked = {}
for i = 2, #ARGV, 3 do
  local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[i + 1], ARGV[i + 1], 1, ARGV[i])
  if type(p) == 'table' and not p.err and #p == 1 and tonumber(p[1][4]) == tonumber(ARGV[i + 2]) then
    table.insert(acked, ARGV[i + 1])
    table.insert(out, 1)
  else
    table.insert(out, 0)
  end
end
if #acked > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(acked))
  redis.call('XDEL', KEYS[1], unpack(acked))
end
return out
`)

// ackReq is one delivery's ack waiting for its batch.
type ackReq struct {
	consumer, sid string
	count         int64
	done          chan ackResult // buffered: the acker never blocks on it
}

type ackResult struct {
	owned bool
	err   error
}

// batchTimeout bounds one batch's round trip (the client's own timeouts
// apply within it).
const batchTimeout = 10 * time.Second

// ack queues one ack and waits for its batch. Cancelling ctx abandons the
// wait; the ack may still be made. Safe for concurrent use.
func (q *Queue) ack(ctx context.Context, consumer, sid string, count int64) (owned bool, err error) {
	req := &ackReq{consumer: consumer, sid: sid, count: count, done: make(chan ackResult, 1)}
	select {
	case q.acks <- req:
	case <-q.done:
		return false, errQueueClosed
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case r := <-req.done:
		return r.owned, r.err
	case <-q.ackerDone:
		// The acker answers everything it took before it ends; a request
		// queued after its last look is answered here.
		select {
		case r := <-req.done:
			return r.owned, r.err
		default:
			return false, errQueueClosed
		}
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// errQueueClosed answers acks the queue's closing cut off; fail maps it
// to backends.ErrClosed.
var errQueueClosed = goredis.ErrClosed

// ackLoop runs the batches until the queue closes; requests left then
// are answered with errQueueClosed.
func (q *Queue) ackLoop() {
	defer close(q.ackerDone)
	reqs := make([]*ackReq, 0, maxAcks)
	for {
		select {
		case first := <-q.acks:
			reqs = batch.Fill(reqs, first, q.acks, maxAcks)
			q.ackBatch(reqs)
		case <-q.done:
			for {
				select {
				case r := <-q.acks:
					r.done <- ackResult{err: errQueueClosed}
				default:
					return
				}
			}
		}
	}
}

// ackBatch sends one batch and answers each request.
func (q *Queue) ackBatch(batch []*ackReq) {
	args := make([]any, 0, 1+3*len(batch))
	args = append(args, Group)
	for _, r := range batch {
		args = append(args, r.consumer, r.sid, r.count)
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	res, err := ackBatchScript.Run(ctx, q.client, []string{q.keys.Stream}, args...).Int64Slice()
	if err == nil && len(res) != len(batch) {
		err = fmt.Errorf("ack script answered %d results for %d acks", len(res), len(batch))
	}
	for i, r := range batch {
		if err != nil {
			r.done <- ackResult{err: err}
			continue
		}
		r.done <- ackResult{owned: res[i] == 1}
	}
}
