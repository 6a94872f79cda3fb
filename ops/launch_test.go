package ops_test

import (
	"context"
	"testing"
	"time"
)

// A launch stamps its missions' creation on the Launcher's clock, one
// microsecond apart in launch order.
func TestLauncherStampsWithItsClock(t *testing.T) {
	st := openStore(t)
	fixed := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	ids := launch(t, st, fixed, 3)
	ms, err := st.Missions(context.Background(), ids)
	if err != nil || len(ms) != 3 {
		t.Fatalf("Missions: %d, %v; want 3", len(ms), err)
	}
	for i, m := range ms {
		if want := fixed.Add(time.Duration(i) * time.Microsecond); !m.CreatedAt.Equal(want) {
			t.Errorf("mission %d created at %v, want %v", i, m.CreatedAt, want)
		}
	}
}
