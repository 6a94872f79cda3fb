package ops_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// Cancel ends what has not ended, once, and says so in the mission's
// telemetry, naming who cancelled it.
func TestCancelEndsOnceAndSaysWho(t *testing.T) {
	st := openStore(t)
	ids := launch(t, st, time.Now(), 2)
	tel := telemetry.NewRecorder(st, nil)
	defer tel.Close()
	ctx := context.Background()
	got, err := ops.Cancel(ctx, st, tel, ids[:1], telemetry.API(), time.Now())
	if err != nil || !slices.Equal(got, ids[:1]) {
		t.Fatalf("Cancel = %v, %v; want %v", got, err, ids[:1])
	}
	if again, err := ops.Cancel(ctx, st, tel, ids, telemetry.CLI(), time.Now()); err != nil || !slices.Equal(again, ids[1:]) {
		t.Errorf("second Cancel = %v, %v; want only %v", again, err, ids[1:])
	}
	tel.Flush()
	evs, err := st.Events(ctx, store.EventFilter{MissionID: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	var failed []telemetry.Event
	for _, e := range evs {
		if e.Name == telemetry.MissionFailed {
			failed = append(failed, e)
		}
	}
	if len(failed) != 1 || failed[0].Service != "api" || failed[0].Detail != "cancelled by api" || failed[0].Attempt != 1 {
		t.Errorf("mission_failed events of %s: %+v, want one by api, attempt 1", ids[0], failed)
	}
	ms, _ := st.Missions(ctx, ids)
	for _, m := range ms {
		if m.Status != mission.Failure || m.Error != store.CancelledReason {
			t.Errorf("%s: %s %q", m.ID, m.Status, m.Error)
		}
	}
}
