package inproc

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

func (q *Queue) addDead(ctx context.Context, dl backends.DeadLetter) error {
	if q.cfg.DeadLetters != nil {
		return q.cfg.DeadLetters.AddDeadLetter(ctx, q.cfg.Queue, dl)
	}
	q.st.mu.Lock()
	q.st.dead = append(q.st.dead, dl)
	q.st.mu.Unlock()
	return nil
}

// Stats counts what is in memory (and in the dead-letter book).
func (q *Queue) Stats(ctx context.Context) (backends.Stats, error) {
	if q.absent {
		return backends.Stats{}, fmt.Errorf("inproc stats %s: %w: the queue lives in the memory of the process that uses it", q.cfg.Queue, backends.ErrNoQueue)
	}
	dead, err := q.DeadLetters(ctx, 0)
	if err != nil {
		return backends.Stats{}, err
	}
	st := q.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.promote(timeNow())
	return backends.Stats{
		Ready:       int64(len(st.ready)),
		InFlight:    int64(len(st.inflight)),
		Delayed:     int64(len(st.delayed)),
		DeadLetters: int64(len(dead)),
	}, nil
}

// DeadLetters lists dead letters, oldest first.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]backends.DeadLetter, error) {
	if q.cfg.DeadLetters != nil {
		return q.cfg.DeadLetters.ListDeadLetters(ctx, q.cfg.Queue, limit)
	}
	q.st.mu.Lock()
	defer q.st.mu.Unlock()
	out := slices.Clone(q.st.dead)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Replay moves dead letters back to the queue as attempt 1.
func (q *Queue) Replay(ctx context.Context, ids ...string) ([]string, error) {
	return q.ReplayRewritten(ctx, nil, ids...)
}

// ReplayRewritten is Replay with each copy's body rewritten. The new
// bodies are made before anything moves, so that a rewrite that fails
// leaves every dead letter where it was.
func (q *Queue) ReplayRewritten(ctx context.Context, rewrite backends.Rewrite, ids ...string) ([]string, error) {
	bodies, err := q.rewritten(ctx, rewrite, ids)
	if err != nil {
		return nil, err
	}
	taken, err := q.take(ctx, ids)
	if err != nil {
		return nil, err
	}
	msgs := make([]backends.Message, len(taken))
	replayed := make([]string, len(taken))
	for i, dl := range taken {
		msgs[i] = dl.Message
		msgs[i].Attempt = 1
		if b, ok := bodies[dl.ID]; ok {
			msgs[i].Body = b
		}
		replayed[i] = dl.ID
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	return replayed, q.Publish(ctx, msgs...)
}

// DeleteDeadLetters deletes dead letters.
func (q *Queue) DeleteDeadLetters(ctx context.Context, ids ...string) ([]string, error) {
	taken, err := q.take(ctx, ids)
	out := make([]string, len(taken))
	for i, dl := range taken {
		out[i] = dl.ID
	}
	return out, err
}

// take removes and returns the dead letters ids name (all when none).
func (q *Queue) take(ctx context.Context, ids []string) ([]backends.DeadLetter, error) {
	if q.cfg.DeadLetters != nil {
		return q.cfg.DeadLetters.TakeDeadLetters(ctx, q.cfg.Queue, ids...)
	}
	var taken []backends.DeadLetter
	q.st.mu.Lock()
	defer q.st.mu.Unlock()
	q.st.dead = slices.DeleteFunc(q.st.dead, func(dl backends.DeadLetter) bool {
		if len(ids) == 0 || slices.Contains(ids, dl.ID) {
			taken = append(taken, dl)
			return true
		}
		return false
	})
	return taken, nil
}

// rewritten maps the id of each dead letter ids name (all when none) to
// its rewritten body; nil without a rewrite.
func (q *Queue) rewritten(ctx context.Context, rewrite backends.Rewrite, ids []string) (map[string][]byte, error) {
	if rewrite == nil {
		return nil, nil
	}
	dead, err := q.DeadLetters(ctx, 0)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, dl := range dead {
		if len(ids) > 0 && !slices.Contains(ids, dl.ID) {
			continue
		}
		b, err := rewrite(dl.Body)
		if err != nil {
			return nil, fmt.Errorf("inproc replay %s: %w", dl.ID, err)
		}
		out[dl.ID] = b
	}
	return out, nil
}

// Purge drops ready and delayed messages.
func (q *Queue) Purge(ctx context.Context) (int64, error) {
	st := q.st
	st.mu.Lock()
	defer st.mu.Unlock()
	n := int64(len(st.ready) + len(st.delayed))
	st.ready, st.delayed = nil, nil
	return n, nil
}

var timeNow = time.Now
