package ops_test

import (
	"context"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/inproc"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/telemetry"
)

// A unique launch publishes one mission per type and hero on the queue
// within the window; the others are skipped, each naming the one that
// holds its place.
func TestUniqueLaunchSkipsDuplicatesWithinTheWindow(t *testing.T) {
	st := openStore(t)
	tel := telemetry.NewRecorder(st, nil)
	defer tel.Close()
	now := time.Now()
	var skipped []ops.Skip
	l := &ops.Launcher{Store: st, Queue: inproc.NewBroker().Open(backends.Config{Queue: "q"}), Telemetry: tel,
		Backend: "inproc", QueueName: "q", Source: telemetry.CLI(), Now: func() time.Time { return now },
		Skipped: func(s ops.Skip) { skipped = append(skipped, s) }}
	launch := func(hero string, count int) []string {
		t.Helper()
		var ids []string
		r := ops.LaunchRequest{Types: []string{"raven"}, Count: count, Hero: hero, FailRate: 0, MaxAttempts: 1, Speed: 1, UniqueFor: time.Minute}
		if err := l.Launch(context.Background(), r, func(chunk []string) error { ids = append(ids, chunk...); return nil }); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	first := launch("frodo", 3)
	if len(first) != 1 || len(skipped) != 2 || skipped[0].HeldBy != first[0] || skipped[0].Type != "raven" || skipped[0].Hero != "frodo" {
		t.Fatalf("3 unique ravens for frodo: launched %v, skipped %+v; want 1 launched, 2 skipped held by it", first, skipped)
	}
	if again := launch("frodo", 1); len(again) != 0 || len(skipped) != 3 {
		t.Errorf("a second launch within the minute: launched %v, skipped %d; want none, 3", again, len(skipped))
	}
	if sam := launch("samwise", 1); len(sam) != 1 {
		t.Errorf("another hero: launched %v, want 1", sam)
	}
	now = now.Add(time.Minute)
	if later := launch("frodo", 1); len(later) != 1 {
		t.Errorf("once the minute is up: launched %v, want 1", later)
	}
	n, _ := st.CountMissions(context.Background())
	if n != 3 {
		t.Errorf("the store holds %d missions, want the 3 launched", n)
	}
}
