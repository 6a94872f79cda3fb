package store

import (
	"context"
	"fmt"

	"github.com/palantir-lab/palantir/telemetry"
)

// EventCursor reads, batch by batch, the events stored after a point: what
// `events --follow` prints and `serve` streams. Not safe for concurrent use.
//
// On PostgreSQL an event's id is drawn when its transaction inserts it, not
// when the transaction commits, so a batch with smaller ids can become
// visible after one with larger ids: a follower that only asked for ids
// above the largest it had seen would skip it for good. The cursor reads a
// window of ids behind its high-water mark again and skips those it has
// already returned. SQLite has one writer at a time, so ids become visible
// in order there and the window is empty.
type EventCursor struct {
	s         *Store
	missionID string
	high      int64              // the largest id returned
	window    int64              // ids behind high read again
	seen      map[int64]struct{} // returned ids within the window
}

// cursorWindow is how far behind its high-water mark a cursor looks on
// PostgreSQL: more ids than concurrent writers commit out of order in one
// poll.
const cursorWindow = 2048

// EventBatch bounds one Next, so that a follower far behind catches up in
// steps of bounded memory: a Next that returns this many has more to read.
const EventBatch = 5000

// FollowEvents returns a cursor over the events after id after (of one
// mission when missionID is not empty).
func (s *Store) FollowEvents(missionID string, after int64) *EventCursor {
	c := &EventCursor{s: s, missionID: missionID, high: after, seen: map[int64]struct{}{}}
	if s.driver == "postgres" {
		c.window = cursorWindow
	}
	return c
}

// LastEventID is the largest event id stored so far (0 when none): where a
// follower that wants only new events starts.
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	err := s.db.GetContext(ctx, &id, `SELECT COALESCE(MAX(id), 0) FROM events`)
	if err != nil {
		return 0, fmt.Errorf("last event id: %w", err)
	}
	return id, nil
}

// Next returns the events stored since the last call, in id order, at
// most EventBatch of them (call again at once when it returns that many).
func (c *EventCursor) Next(ctx context.Context) ([]telemetry.Event, error) {
	q := `SELECT id, at_us, name, mission_id, attempt, service, since_us, detail FROM events WHERE id > ?`
	args := []any{max(c.high-c.window, 0)}
	if c.missionID != "" {
		q += ` AND mission_id = ?`
		args = append(args, c.missionID)
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, EventBatch+len(c.seen))
	evs, err := c.s.selectEvents(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out := evs[:0]
	for _, e := range evs {
		if _, dup := c.seen[e.ID]; dup || e.ID <= c.high-c.window {
			continue
		}
		out = append(out, e)
		c.high = max(c.high, e.ID)
		if c.window > 0 {
			c.seen[e.ID] = struct{}{}
		}
	}
	for id := range c.seen {
		if id <= c.high-c.window {
			delete(c.seen, id)
		}
	}
	return out, nil
}
