package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// moverAckWait is how long the mover may hold a due retry before the
// server gives it to another mover: a mover that died between publishing
// the copy and acking it leaves it for this long (and the copy's
// Nats-Msg-Id stops a second one).
const moverAckWait = 10 * time.Second

// moveBatch bounds one pull of the mover.
const moveBatch = 256

// startBackground starts, once per Queue, what consumers rely on beyond
// their own pulls:
//
//   - the mover, a durable pull consumer on the delayed stream that every
//     consuming process runs (JetStream hands each retry to one of them):
//     a retry not yet due is NAKed with the delay that remains
//     (NakWithDelay: the server's own timer redelivers it when due); a
//     due one is published to the work subject and acked;
//   - the MaxDeliver watch, a subscription to JetStream's advisory for a
//     message the work consumer stopped delivering at MaxDeliver, which
//     dead-letters that message (see onMaxDeliveries).
func (q *Queue) startBackground(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.background || q.closing {
		return nil
	}
	mover, err := q.durable(ctx, q.names.Delayed, q.moverConfig())
	if err != nil {
		return q.fail(ctx, "create consumer", q.names.Delayed+" "+q.names.Mover, err)
	}
	subject := fmt.Sprintf("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.%s.%s", q.names.Work, q.names.Consumer)
	q.advisory, err = q.nc.Subscribe(subject, q.onMaxDeliveries)
	if err != nil {
		return q.fail(ctx, "subscribe", subject, err)
	}
	q.background = true
	q.bg.Add(1)
	go q.move(mover)
	return nil
}

// stopBackground unsubscribes the MaxDeliver watch and cancels the
// mover's pull request; the mover then ends if the queue is closed or
// destroyed.
func (q *Queue) stopBackground() {
	q.mu.Lock()
	adv, stop := q.advisory, q.stopMover
	q.advisory = nil
	q.mu.Unlock()
	if adv != nil {
		adv.Unsubscribe()
	}
	if stop != nil {
		stop()
	}
}

// stopped reports whether the background work must end.
func (q *Queue) stopped() bool { return q.closed() || q.destroyed.Load() }

// moverConfig: delayed retries wait pending on the mover (NAKed with
// their delay), so neither their number nor their deliveries are bounded.
func (q *Queue) moverConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       q.names.Mover,
		Description:   fmt.Sprintf("palantir: moves the due retries of queue %q to its work stream", q.cfg.Queue),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       moverAckWait,
		MaxDeliver:    -1,
		MaxAckPending: -1,
	}
}

// move pulls from the delayed stream until the queue closes. A failed
// pull (the server is away) is tried again after a backoff of 100 ms
// doubling to 5 s, said once.
func (q *Queue) move(mover jetstream.Consumer) {
	defer q.bg.Done()
	failures := 0
	for !q.stopped() {
		ctx, cancel := pullContext()
		q.mu.Lock()
		q.stopMover = cancel
		q.mu.Unlock()
		if q.stopped() { // Close or Destroy may have missed this one
			cancel()
		}
		batch, err := pull(ctx, mover, moveBatch)
		if err == nil {
			for m := range batch.Messages() {
				q.moveOne(m)
			}
			err = batch.Error()
		}
		cancel()
		if err == nil {
			if failures > 0 {
				q.log.Info("nats: delayed retries are moving again")
			}
			failures = 0
			continue
		}
		if q.stopped() {
			return
		}
		failures++
		if failures == 1 {
			q.log.Warn("nats: cannot pull delayed retries; trying again with backoff", "err", err)
		}
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) || noStream(err) {
			ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
			if q.ensure(ctx) == nil {
				if m, err := q.durable(ctx, q.names.Delayed, q.moverConfig()); err == nil {
					mover = m
				}
			}
			cancel()
		}
		select {
		case <-q.done:
			return
		case <-time.After(backoff(failures, 100*time.Millisecond, 5*time.Second)):
		}
	}
}

// moveOne holds a retry until it is due, or moves it to the work subject.
func (q *Queue) moveOne(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	s := decode(m.Headers(), m.Data(), md.Sequence.Stream)
	if wait := time.Until(s.due); wait > time.Millisecond {
		_ = m.NakWithDelay(wait) // if lost, the message comes back after moverAckWait
		return
	}
	o := outgoing{subject: q.names.WorkSubject, msg: s.msg, prior: s.prior, redelivered: s.redelivered,
		msgID: fmt.Sprintf("moved-%s-%d-%d", s.msg.ID, s.msg.Attempt, md.Sequence.Stream)}
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	if _, err := q.publishOne(ctx, o); err != nil {
		q.log.Debug("nats: could not move a due retry; trying again in a second", "id", s.msg.ID, "err", err)
		_ = m.NakWithDelay(time.Second)
		return
	}
	// If this ack is lost, the retry is moved again after moverAckWait,
	// and JetStream drops the second copy by its Nats-Msg-Id.
	_ = m.DoubleAck(ctx)
}

// maxDeliveriesAdvisory is the part of JetStream's
// io.nats.jetstream.advisory.v1.max_deliver event that palantir reads.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// onMaxDeliveries dead-letters the message the advisory names. The
// worker dead-letters a message delivered more than max_deliveries times
// before MaxDeliver is reached; this is the backstop for a message that
// no worker settles (one that kills every worker before it can look).
// JetStream stops delivering such a message but keeps it in the work
// stream, where nothing would ever see it again. Every consuming process
// gets the advisory; the dead letter's Nats-Msg-Id keeps one copy.
func (q *Queue) onMaxDeliveries(msg *natsgo.Msg) {
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(msg.Data, &adv); err != nil || adv.StreamSeq == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	work, err := q.js.Stream(ctx, q.names.Work)
	if err != nil {
		return
	}
	raw, err := work.GetMsg(ctx, adv.StreamSeq)
	if err != nil {
		return // gone already: another process dead-lettered it
	}
	s := decode(raw.Header, raw.Data, raw.Sequence)
	reason := fmt.Sprintf("delivered %d times without an outcome (JetStream MaxDeliver of consumer %s)", adv.Deliveries, q.names.Consumer)
	o := outgoing{subject: q.names.DeadSubject, msg: s.msg, reason: reason, deadAt: time.Now(),
		msgID: fmt.Sprintf("maxdeliver-%s-%d", s.msg.ID, raw.Sequence)}
	ack, err := q.publishOne(ctx, o)
	if err != nil {
		q.log.Warn("nats: a message reached MaxDeliver and could not be dead-lettered; it stays in the work stream, undelivered",
			"id", s.msg.ID, "seq", raw.Sequence, "err", err)
		return
	}
	if ack.Duplicate {
		return // another process is on it
	}
	if err := work.DeleteMsg(ctx, raw.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		q.log.Warn("nats: dead-lettered a message at MaxDeliver but could not delete it from the work stream",
			"id", s.msg.ID, "seq", raw.Sequence, "err", err)
		return
	}
	q.log.Warn("nats: dead-lettered a message JetStream stopped delivering", "id", s.msg.ID, "reason", reason)
}
