package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/palantir-lab/palantir/backends"
)

// Stats counts: Ready, the work consumer's messages not yet delivered
// (NumPending); InFlight, those delivered and not acked (NumAckPending:
// held by a worker, or whose lease ran out and that wait to be delivered
// again); Delayed, the delayed stream's messages; DeadLetters, the dead
// stream's. Three API requests, not one snapshot. Safe for concurrent
// use.
func (q *Queue) Stats(ctx context.Context) (backends.Stats, error) {
	if q.closed() {
		return backends.Stats{}, fmt.Errorf("nats stats %s: %w", q.names.Work, backends.ErrClosed)
	}
	if q.cfg.Inspect {
		return q.inspectStats(ctx)
	}
	cons, err := q.js.Consumer(ctx, q.names.Work, q.names.Consumer)
	if err != nil {
		return backends.Stats{}, q.fail(ctx, "stats", q.names.Work, err)
	}
	ci := cons.CachedInfo()
	s := backends.Stats{Ready: int64(ci.NumPending), InFlight: int64(ci.NumAckPending)}
	for _, c := range []struct {
		stream string
		n      *int64
	}{{q.names.Delayed, &s.Delayed}, {q.names.Dead, &s.DeadLetters}} {
		st, err := q.js.Stream(ctx, c.stream)
		if err != nil {
			return backends.Stats{}, q.fail(ctx, "stats", c.stream, err)
		}
		*c.n = int64(st.CachedInfo().State.Msgs)
	}
	return s, nil
}

// inspectStats is Stats for a Queue opened to inspect, which made no
// stream: ErrNoQueue without the work stream; a missing consumer (no
// worker yet) leaves every message ready, a missing delayed or dead
// stream counts none.
func (q *Queue) inspectStats(ctx context.Context) (backends.Stats, error) {
	work, err := q.js.Stream(ctx, q.names.Work)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return backends.Stats{}, fmt.Errorf("nats stats %s: %w", q.names.Work, backends.ErrNoQueue)
	}
	if err != nil {
		return backends.Stats{}, q.fail(ctx, "stats", q.names.Work, err)
	}
	s := backends.Stats{Ready: int64(work.CachedInfo().State.Msgs)}
	cons, err := work.Consumer(ctx, q.names.Consumer)
	switch {
	case err == nil:
		ci := cons.CachedInfo()
		s.Ready, s.InFlight = int64(ci.NumPending), int64(ci.NumAckPending)
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return backends.Stats{}, q.fail(ctx, "stats", q.names.Work, err)
	}
	for _, c := range []struct {
		stream string
		n      *int64
	}{{q.names.Delayed, &s.Delayed}, {q.names.Dead, &s.DeadLetters}} {
		st, err := q.js.Stream(ctx, c.stream)
		switch {
		case err == nil:
			*c.n = int64(st.CachedInfo().State.Msgs)
		case !errors.Is(err, jetstream.ErrStreamNotFound):
			return backends.Stats{}, q.fail(ctx, "stats", c.stream, err)
		}
	}
	return s, nil
}

// deadLetters calls fn with each dead letter and its sequence, oldest
// first, until fn returns false. One request each ("next message on the
// subject from this sequence"), so that deleted ones cost nothing.
func (q *Queue) deadLetters(ctx context.Context, fn func(seq uint64, dl backends.DeadLetter) (bool, error)) error {
	st, err := q.js.Stream(ctx, q.names.Dead)
	if q.cfg.Inspect && errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("nats dead letters %s: %w", q.names.Dead, backends.ErrNoQueue)
	}
	if err != nil {
		return q.fail(ctx, "dead letters", q.names.Dead, err)
	}
	state := st.CachedInfo().State
	if state.Msgs == 0 {
		return nil
	}
	for seq := state.FirstSeq; ; {
		raw, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(q.names.DeadSubject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return q.fail(ctx, "dead letters", q.names.Dead, err)
		}
		s := decode(raw.Header, raw.Data, raw.Sequence)
		dl := backends.DeadLetter{Message: s.msg, Reason: s.reason, DeadAt: s.deadAt}
		if dl.DeadAt.IsZero() {
			dl.DeadAt = raw.Time
		}
		more, err := fn(raw.Sequence, dl)
		if err != nil || !more {
			return err
		}
		seq = raw.Sequence + 1
	}
}

// DeadLetters lists up to limit dead letters, oldest first (limit <= 0:
// all), from the dead stream. Safe for concurrent use.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]backends.DeadLetter, error) {
	if q.closed() {
		return nil, fmt.Errorf("nats dead letters %s: %w", q.names.Dead, backends.ErrClosed)
	}
	out := []backends.DeadLetter{}
	err := q.deadLetters(ctx, func(_ uint64, dl backends.DeadLetter) (bool, error) {
		out = append(out, dl)
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Replay publishes each dead letter with one of these message ids (all
// when ids is empty) to the work subject as attempt 1, awaiting its
// publish ack, then deletes it from the dead stream, and returns the ids
// it replayed, oldest first. Unknown ids are skipped. The copy's
// Nats-Msg-Id names the dead letter, so two concurrent replays put one
// copy on the queue and only one of them returns the id.
func (q *Queue) Replay(ctx context.Context, ids ...string) ([]string, error) {
	return q.ReplayRewritten(ctx, nil, ids...)
}

// ReplayRewritten is Replay with each copy's body rewritten. Dead
// letters move one at a time: a rewrite that fails stops the replay
// there, with those before it replayed and the rest still dead.
func (q *Queue) ReplayRewritten(ctx context.Context, rewrite backends.Rewrite, ids ...string) ([]string, error) {
	return q.takeDead(ctx, "replay", rewrite, true, ids)
}

// DeleteDeadLetters deletes dead letters from the dead stream, one at a
// time.
func (q *Queue) DeleteDeadLetters(ctx context.Context, ids ...string) ([]string, error) {
	return q.takeDead(ctx, "delete dead letters", nil, false, ids)
}

// takeDead deletes the dead letters ids name (all when none) from the
// dead stream, each after, with requeue, its copy (rewritten) was
// published to the work subject as attempt 1.
func (q *Queue) takeDead(ctx context.Context, op string, rewrite backends.Rewrite, requeue bool, ids []string) ([]string, error) {
	if q.closed() {
		return nil, fmt.Errorf("nats %s %s: %w", op, q.names.Dead, backends.ErrClosed)
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	dead, err := q.js.Stream(ctx, q.names.Dead)
	if err != nil {
		return nil, q.fail(ctx, op, q.names.Dead, err)
	}
	var replayed []string
	seen := map[string]bool{}
	err = q.deadLetters(ctx, func(seq uint64, dl backends.DeadLetter) (bool, error) {
		if len(want) > 0 && !want[dl.ID] {
			return true, nil
		}
		duplicate := false
		if requeue {
			o := outgoing{subject: q.names.WorkSubject, msg: dl.Message, msgID: fmt.Sprintf("replay-%s-%d", dl.ID, seq)}
			o.msg.Attempt = 1
			if rewrite != nil {
				var err error
				if o.msg.Body, err = rewrite(o.msg.Body); err != nil {
					return false, fmt.Errorf("nats %s %s: rewrite: %w", op, dl.ID, err)
				}
			}
			ack, err := q.publishOne(ctx, o)
			if err != nil {
				return false, q.fail(ctx, op, dl.ID, err)
			}
			duplicate = ack.Duplicate
		}
		err := dead.DeleteMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) && !requeue {
			return true, nil // another delete or replay took it first
		}
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return false, q.fail(ctx, op, dl.ID, err)
		}
		if !duplicate && !seen[dl.ID] {
			seen[dl.ID] = true
			replayed = append(replayed, dl.ID)
		}
		return true, nil
	})
	return replayed, err
}

// Purge removes every ready message and every delayed retry and returns
// how many it removed; in-flight messages and dead letters stay. When
// nothing is in flight, the work stream is purged whole (one request);
// otherwise the messages past the last one delivered are deleted one by
// one. The delayed stream is purged whole. Not atomic: a message
// delivered between the look and the purge is purged too (its ack then
// finds nothing). Safe for concurrent use.
func (q *Queue) Purge(ctx context.Context) (int64, error) {
	if q.closed() {
		return 0, fmt.Errorf("nats purge %s: %w", q.names.Work, backends.ErrClosed)
	}
	cons, err := q.js.Consumer(ctx, q.names.Work, q.names.Consumer)
	if err != nil {
		return 0, q.fail(ctx, "purge", q.names.Work, err)
	}
	ci := cons.CachedInfo()
	var n int64
	if ci.NumAckPending == 0 {
		if n, err = q.purgeStream(ctx, q.names.Work); err != nil {
			return 0, err
		}
	} else {
		work, err := q.js.Stream(ctx, q.names.Work)
		if err != nil {
			return 0, q.fail(ctx, "purge", q.names.Work, err)
		}
		for seq := ci.Delivered.Stream + 1; seq <= work.CachedInfo().State.LastSeq; seq++ {
			switch err := work.DeleteMsg(ctx, seq); {
			case err == nil:
				n++
			case !errors.Is(err, jetstream.ErrMsgNotFound):
				return n, q.fail(ctx, "purge", q.names.Work, err)
			}
		}
	}
	delayed, err := q.purgeStream(ctx, q.names.Delayed)
	return n + delayed, err
}

// purgeStream purges stream whole and returns how many messages it
// removed. The request is made by hand: the client library's Purge does
// not return the count the server answers with.
func (q *Queue) purgeStream(ctx context.Context, stream string) (int64, error) {
	rctx, cancel := withTimeout(ctx, apiTimeout)
	defer cancel()
	reply, err := q.nc.RequestWithContext(rctx, "$JS.API.STREAM.PURGE."+stream, nil)
	if err != nil {
		return 0, q.fail(ctx, "purge", stream, err)
	}
	var res struct {
		Success bool                `json:"success"`
		Purged  int64               `json:"purged"`
		Error   *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(reply.Data, &res); err != nil {
		return 0, fmt.Errorf("nats purge %s: unexpected reply %q", stream, reply.Data)
	}
	if res.Error != nil {
		return 0, q.fail(ctx, "purge", stream, res.Error)
	}
	return res.Purged, nil
}

// Destroy deletes the queue's three streams, and with them its
// consumers, messages and dead letters. It first stops this Queue's
// mover and MaxDeliver watch, and from then on nothing of this Queue
// makes the streams again (consumers' pulls fail with ErrClosed).
func (q *Queue) Destroy(ctx context.Context) error {
	q.destroyed.Store(true)
	q.stopBackground()
	for _, s := range []string{q.names.Work, q.names.Delayed, q.names.Dead} {
		if err := q.js.DeleteStream(ctx, s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return q.fail(ctx, "delete stream", s, err)
		}
	}
	return nil
}
