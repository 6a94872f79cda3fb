package ops

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// DeadQueue is what listing and replaying dead letters needs of a queue.
type DeadQueue interface {
	DeadLetters(ctx context.Context, limit int) ([]backends.DeadLetter, error)
	ReplayRewritten(ctx context.Context, rewrite backends.Rewrite, ids ...string) ([]string, error)
}

// Replayer sends dead letters back to one queue. Its fields are set once.
type Replayer struct {
	Store     *store.Store
	Queue     DeadQueue
	Telemetry *telemetry.Recorder
	Backend   string
	QueueName string
	// Now is the clock of the replay's stamps (nil: time.Now).
	Now func() time.Time
	// Overrides replace what the orders carry: the fail rate travels
	// with a mission, so a replay of one that failed at fail rate 1
	// fails again unless it is changed.
	Overrides store.Overrides
}

// CheckOverrides checks a replay's overrides with launch's bounds.
func CheckOverrides(ov store.Overrides, name FieldName) error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%w: %s %s", ErrInvalid, name(field), fmt.Sprintf(format, a...))
	}
	switch {
	case ov.FailRate != nil && !(*ov.FailRate >= 0 && *ov.FailRate <= 1): // NaN too
		return bad("fail_rate", "must be between 0 and 1, got %g", *ov.FailRate)
	case ov.MaxAttempts != nil && (*ov.MaxAttempts < 1 || *ov.MaxAttempts > 100):
		return bad("max_attempts", "must be between 1 and 100, got %d", *ov.MaxAttempts)
	case ov.Speed != nil && !(*ov.Speed >= mission.MinSpeed && *ov.Speed <= mission.MaxSpeed):
		return bad("speed", "must be between %g and %g, got %g", mission.MinSpeed, mission.MaxSpeed, *ov.Speed)
	}
	return nil
}

// rewrite is the change the replay makes to each order, or nil. A body
// that is not a mission's order (a stranger's message) goes back as it
// was.
func (r *Replayer) rewrite() backends.Rewrite {
	if r.Overrides.None() {
		return nil
	}
	return func(body []byte) ([]byte, error) {
		o, err := mission.Decode(body)
		if err != nil {
			return body, nil
		}
		r.Overrides.Apply(&o)
		return o.Encode()
	}
}

func (r *Replayer) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// Replay sends back the dead letters matching args (ids or unique
// prefixes of at least four characters; none: all of them) and returns
// the ids replayed. An arg that matches no dead letter, or several, is an
// ErrInvalid error and nothing is replayed.
func (r *Replayer) Replay(ctx context.Context, args []string) ([]string, error) {
	dead, err := r.Queue.DeadLetters(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("list dead letters of %s queue %q: %w", r.Backend, r.QueueName, err)
	}
	ids, err := MatchDead(dead, args)
	if err != nil || len(dead) == 0 {
		return nil, err
	}
	if len(ids) == 0 {
		for _, dl := range dead {
			ids = append(ids, dl.ID)
		}
	}
	// Reset first, so a worker that takes a replayed message at once finds
	// its mission ready to run rather than already FAILURE.
	if err := r.Store.ResetFailed(ctx, ids, r.now(), r.Overrides); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	replayed, err := r.Queue.ReplayRewritten(ctx, r.rewrite(), ids...)
	if err != nil {
		return nil, fmt.Errorf("replay to %s queue %q: %w", r.Backend, r.QueueName, err)
	}
	now := r.now()
	for _, id := range replayed {
		r.Telemetry.Emit(telemetry.Event{Name: telemetry.MissionQueued, MissionID: id, Attempt: 1,
			Service: telemetry.Broker(r.Backend), Detail: "replayed from the dead letters", At: now}, time.Time{})
	}
	return replayed, nil
}

// MatchDead resolves ids or unique prefixes against the dead letters.
func MatchDead(dead []backends.DeadLetter, args []string) ([]string, error) {
	var ids []string
	for _, arg := range args {
		arg = strings.ToLower(arg)
		var hits []string
		for _, dl := range dead {
			if dl.ID == arg {
				hits = []string{dl.ID}
				break
			}
			if len(arg) >= 4 && strings.HasPrefix(strings.ToLower(dl.ID), arg) {
				hits = append(hits, dl.ID)
			}
		}
		switch len(hits) {
		case 0:
			return nil, fmt.Errorf("%w: no dead letter %q", ErrInvalid, arg)
		case 1:
			ids = append(ids, hits[0])
		default:
			return nil, fmt.Errorf("%w: %q matches %d dead letters; type more of it", ErrInvalid, arg, len(hits))
		}
	}
	return ids, nil
}

// SplitReplayed sorts replayed ids into those with a mission (known, in
// the order of missions, the store's rows for them) and the others
// (strange, in replayed order): messages that were never missions, such
// as malformed ones, which a worker will dead-letter again.
func SplitReplayed(replayed []string, missions []store.Mission) (known, strange []string) {
	isMission := map[string]bool{}
	for _, m := range missions {
		known = append(known, m.ID)
		isMission[m.ID] = true
	}
	for _, id := range replayed {
		if !isMission[id] {
			strange = append(strange, id)
		}
	}
	return known, strange
}
