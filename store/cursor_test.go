package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/telemetry"
)

func event(mission string, name telemetry.Name) telemetry.Event {
	return telemetry.Event{At: time.Now(), Name: name, MissionID: mission, Attempt: 1, Service: "cli"}
}

func names(evs []telemetry.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.MissionID+":"+string(e.Name))
	}
	return out
}

func TestEventCursorReturnsEachNewEventOnce(t *testing.T) {
	ctx := context.Background()
	s := openT(t, filepath.Join(t.TempDir(), "p.db"))
	if err := s.InsertEvents(ctx, []telemetry.Event{event("old", telemetry.MissionInvoked)}); err != nil {
		t.Fatal(err)
	}
	last, err := s.LastEventID(ctx)
	if err != nil || last == 0 {
		t.Fatalf("LastEventID = %d, %v", last, err)
	}
	all, mine := s.FollowEvents("", last), s.FollowEvents("b", 0)
	s.InsertEvents(ctx, []telemetry.Event{event("a", telemetry.MissionQueued), event("b", telemetry.MissionQueued)})
	got, err := all.Next(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("first Next: %v %v, want a and b queued (not the old event)", names(got), err)
	}
	if got, _ := all.Next(ctx); len(got) != 0 {
		t.Errorf("second Next with nothing new: %v", names(got))
	}
	if got, _ := mine.Next(ctx); len(got) != 1 || got[0].MissionID != "b" {
		t.Errorf("cursor of mission b: %v", names(got))
	}
}

// On PostgreSQL a transaction that drew a smaller id can commit after one
// with a larger id; the cursor must still return its event, once.
func TestEventCursorSeesIdsCommittedOutOfOrderOnPostgres(t *testing.T) {
	ctx := context.Background()
	url := testservices.PostgresDB(t)
	s := openT(t, url)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cur := s.FollowEvents("", 0)
	slow, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.ExecContext(ctx, `INSERT INTO events (at_us, name, mission_id, attempt, service, since_us, detail)
		VALUES ($1, 'mission_queued', 'slow', 1, 'cli', 0, '')`, time.Now().UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEvents(ctx, []telemetry.Event{event("fast", telemetry.MissionQueued)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := cur.Next(ctx); len(got) != 1 || got[0].MissionID != "fast" {
		t.Fatalf("before the slow commit: %v, want fast", names(got))
	}
	if err := slow.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := cur.Next(ctx); len(got) != 1 || got[0].MissionID != "slow" {
		t.Errorf("after the slow commit: %v, want slow (its id is below fast's)", names(got))
	}
	if got, _ := cur.Next(ctx); len(got) != 0 {
		t.Errorf("again: %v, want nothing", names(got))
	}
}
