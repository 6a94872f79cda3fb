package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/palantir-lab/palantir/mission"
)

// DueMessage is the message of a mission launched for later, claimed to
// be published now.
type DueMessage struct {
	ID     string
	Body   []byte
	Status mission.State // the mission's: only a PENDING one is still to publish
}

// CreateDelayed records new missions as PENDING with their messages kept
// until due, in one transaction: all or none. ms and bodies go together.
func (s *Store) CreateDelayed(ctx context.Context, ms []Mission, bodies [][]byte, due time.Time) error {
	if len(ms) != len(bodies) {
		return fmt.Errorf("create delayed: %d missions, %d bodies", len(ms), len(bodies))
	}
	return s.group(ctx, "", func(tx *sqlx.Tx) error {
		for i, m := range ms {
			m.DueAt = due
			if _, err := s.execTx(ctx, tx, insertMission, rowOf(m).args()...); err != nil {
				return fmt.Errorf("create mission %s: %w", m.ID, err)
			}
			if _, err := s.execTx(ctx, tx, insertDue, m.ID, m.Backend, m.Queue, micros(due), string(bodies[i])); err != nil {
				return fmt.Errorf("create mission %s: %w", m.ID, err)
			}
		}
		return nil
	})
}

const insertDue = `INSERT INTO due_missions (id, backend, queue, due_us, body) VALUES (?, ?, ?, ?, ?)`

// ClaimDue takes up to limit messages of the queue that are due at now
// and not claimed, for lease: their claimer publishes them, then calls
// DoneDue. A claimer that dies lets its claim lapse, and another takes
// them (a message may then be published twice, which at-least-once
// delivery allows and the store's once-only outcomes absorb).
func (s *Store) ClaimDue(ctx context.Context, backend, queue string, now time.Time, lease time.Duration, limit int) ([]DueMessage, error) {
	// Most looks find nothing: a read, not a write transaction, says so.
	var found int
	err := s.scanDB(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM due_missions
		WHERE backend = ? AND queue = ? AND due_us <= ? AND claimed_until_us <= ? LIMIT 1) d`,
		[]any{backend, queue, micros(now), micros(now)}, &found)
	if err != nil || found == 0 {
		return nil, err
	}
	var rows []struct {
		ID     string `db:"id"`
		Body   string `db:"body"`
		Status string `db:"status"`
	}
	// The claim re-checks claimed_until_us on the row it updates, so two
	// claimers that read the same ids cannot both take one.
	err = s.db.SelectContext(ctx, &rows, s.rebind(`UPDATE due_missions SET claimed_until_us = ?
		WHERE claimed_until_us <= ? AND id IN (SELECT id FROM due_missions
			WHERE backend = ? AND queue = ? AND due_us <= ? AND claimed_until_us <= ? ORDER BY due_us LIMIT ?)
		RETURNING id, body, COALESCE((SELECT status FROM missions WHERE missions.id = due_missions.id), '') AS status`),
		micros(now.Add(lease)), micros(now), backend, queue, micros(now), micros(now), limit)
	if err != nil {
		return nil, err
	}
	out := make([]DueMessage, len(rows))
	for i, r := range rows {
		out[i] = DueMessage{ID: r.ID, Body: []byte(r.Body), Status: mission.State(r.Status)}
	}
	return out, nil
}

// DoneDue forgets the messages of published (or cancelled) missions.
func (s *Store) DoneDue(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`DELETE FROM due_missions WHERE id IN (?)`, ids)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.rebind(q), args...)
	return err
}
