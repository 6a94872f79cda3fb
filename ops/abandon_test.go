package ops_test

import (
	"context"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
)

// Abandon runs after an interrupt: a cancelled context still ends the
// unfinished missions, stamped at the time given, and only once.
func TestAbandonEndsUnfinishedMissionsOnce(t *testing.T) {
	st := openStore(t)
	ids := launch(t, st, time.Now(), 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	at := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	tests := []struct {
		name string
		ids  []string
		want int64
	}{
		{"none", nil, 0},
		{"two of three", ids[:2], 2},
		{"again, with the third", ids, 1},
		{"all final", ids, 0},
	}
	for _, tt := range tests {
		n, err := ops.Abandon(ctx, st, tt.ids, "interrupted", at)
		if err != nil || n != tt.want {
			t.Errorf("%s: Abandon = %d, %v; want %d", tt.name, n, err, tt.want)
		}
	}
	ms, err := st.Missions(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Status != mission.Failure || m.Error != "interrupted" || !m.FinishedAt.Equal(at) {
			t.Errorf("mission %s: %s %q finished %v; want FAILURE \"interrupted\" at %v", m.ID, m.Status, m.Error, m.FinishedAt, at)
		}
	}
}
