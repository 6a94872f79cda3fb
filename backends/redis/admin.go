package redis

import (
	"context"
	"fmt"
	"slices"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/backends"
)

// replayBatch bounds the entry ids passed to one replay script.
const replayBatch = 256

// Stats counts, in one atomic snapshot: Ready, the stream entries not yet
// delivered to the group (stream length minus pending: settled entries
// are deleted); InFlight, the group's pending entries; Delayed, the
// delayed set; DeadLetters, the dead-letter stream. Safe for concurrent use.
func (q *Queue) Stats(ctx context.Context) (backends.Stats, error) {
	if q.closed() {
		return backends.Stats{}, fmt.Errorf("redis stats %s: %w", q.keys.Stream, backends.ErrClosed)
	}
	if q.cfg.Inspect {
		n, err := q.client.Exists(ctx, q.keys.Stream, q.keys.Delayed, q.keys.Dead).Result()
		if err != nil {
			return backends.Stats{}, q.fail(ctx, "stats", q.keys.Stream, err)
		}
		if n == 0 {
			return backends.Stats{}, fmt.Errorf("redis stats %s: %w", q.keys.Stream, backends.ErrNoQueue)
		}
	}
	n, err := statsScript.Run(ctx, q.client, []string{q.keys.Stream, q.keys.Delayed, q.keys.Dead}, Group).Int64Slice()
	if err != nil {
		return backends.Stats{}, q.fail(ctx, "stats", q.keys.Stream, err)
	}
	if len(n) != 4 {
		return backends.Stats{}, fmt.Errorf("redis stats %s: unexpected reply %v", q.keys.Stream, n)
	}
	return backends.Stats{Ready: n[0], InFlight: n[1], Delayed: n[2], DeadLetters: n[3]}, nil
}

// DeadLetters lists up to limit dead letters, oldest first (limit <= 0:
// all), from the dead-letter stream. Safe for concurrent use.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]backends.DeadLetter, error) {
	if q.closed() {
		return nil, fmt.Errorf("redis dead letters %s: %w", q.keys.Dead, backends.ErrClosed)
	}
	var cmd *goredis.XMessageSliceCmd
	if limit > 0 {
		cmd = q.client.XRangeN(ctx, q.keys.Dead, "-", "+", int64(limit))
	} else {
		cmd = q.client.XRange(ctx, q.keys.Dead, "-", "+")
	}
	msgs, err := cmd.Result()
	if err != nil {
		return nil, q.fail(ctx, "dead letters", q.keys.Dead, err)
	}
	out := make([]backends.DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, deadLetter(m))
	}
	return out, nil
}

func deadLetter(m goredis.XMessage) backends.DeadLetter {
	f := make(map[string]string, len(m.Values))
	for k, v := range m.Values {
		f[k] = fmt.Sprint(v)
	}
	reason, deadAt := f["reason"], f["dead_at"]
	delete(f, "reason")
	delete(f, "dead_at")
	dl := backends.DeadLetter{Reason: reason}
	dl.ID, dl.Body, dl.Attempt = decodeFields(m.ID, f)
	if t, err := time.Parse(time.RFC3339Nano, deadAt); err == nil {
		dl.DeadAt = t
	} else {
		dl.DeadAt = streamTime(m.ID)
	}
	return dl
}

// Replay moves the dead letters with these message ids (all when ids is
// empty) back to the work stream as attempt 1, each atomically, and
// returns the ids it replayed, oldest first. Unknown ids are skipped. Two
// concurrent replays never replay one dead letter twice.
func (q *Queue) Replay(ctx context.Context, ids ...string) ([]string, error) {
	return q.ReplayRewritten(ctx, nil, ids...)
}

// ReplayRewritten is Replay with each copy's body rewritten, made in Go
// before the page's script moves anything: a rewrite that fails stops
// the replay there, with the pages before it replayed.
func (q *Queue) ReplayRewritten(ctx context.Context, rewrite backends.Rewrite, ids ...string) ([]string, error) {
	mode := 1
	if rewrite != nil {
		mode = 2
	}
	return q.moveDead(ctx, "replay", mode, rewrite, ids)
}

// DeleteDeadLetters deletes dead letters, each atomically.
func (q *Queue) DeleteDeadLetters(ctx context.Context, ids ...string) ([]string, error) {
	return q.moveDead(ctx, "delete dead letters", 0, nil, ids)
}

// moveDead runs moveDeadScript in mode on the dead letters ids name (all
// when none) and returns their ids, oldest first.
func (q *Queue) moveDead(ctx context.Context, op string, mode int, rewrite backends.Rewrite, ids []string) ([]string, error) {
	if q.closed() {
		return nil, fmt.Errorf("redis %s %s: %w", op, q.keys.Dead, backends.ErrClosed)
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	// Page through the dead letters rather than read them all (with their
	// bodies) at once; each page's matches are moved before the next page
	// is read, so memory stays one page however many there are.
	var moved []string
	seen := map[string]bool{}
	after := "-"
	per := max(mode, 1) // arguments per dead letter
	for {
		page, err := q.client.XRangeN(ctx, q.keys.Dead, after, "+", replayPage).Result()
		if err != nil {
			return moved, q.fail(ctx, op, q.keys.Dead, err)
		}
		var args []any
		for _, m := range page {
			dl := deadLetter(m)
			if len(want) > 0 && !want[dl.ID] {
				continue
			}
			args = append(args, m.ID)
			if mode == 2 {
				body, err := rewrite(dl.Body)
				if err != nil {
					return moved, fmt.Errorf("redis %s %s: rewrite: %w", op, dl.ID, err)
				}
				args = append(args, body)
			}
		}
		for batch := range slices.Chunk(args, replayBatch*per) {
			got, err := moveDeadScript.Run(ctx, q.client, []string{q.keys.Stream, q.keys.Dead}, append([]any{mode}, batch...)...).StringSlice()
			if err != nil {
				return moved, q.fail(ctx, op, q.keys.Dead, err)
			}
			for _, id := range got {
				if !seen[id] {
					seen[id] = true
					moved = append(moved, id)
				}
			}
		}
		if len(page) < replayPage {
			return moved, nil
		}
		after = "(" + page[len(page)-1].ID
	}
}

// replayPage is how many dead letters Replay reads at a time.
const replayPage = 100

// Purge deletes the entries not yet delivered to the group and every
// delayed retry, atomically, and returns how many it removed. Pending
// (in-flight) entries and dead letters stay. Safe for concurrent use; it
// blocks Redis for as long as the deletion takes.
func (q *Queue) Purge(ctx context.Context) (int64, error) {
	if q.closed() {
		return 0, fmt.Errorf("redis purge %s: %w", q.keys.Stream, backends.ErrClosed)
	}
	n, err := purgeScript.Run(ctx, q.client, []string{q.keys.Stream, q.keys.Delayed}, Group).Int64()
	if err != nil {
		return 0, q.fail(ctx, "purge", q.keys.Stream, err)
	}
	return n, nil
}
