package ops_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/inproc"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// TestScheduleLaunchesEachTickOnceAcrossProcesses runs three schedulers,
// each with its own handle on one store (three processes, as far as the
// store can tell), for a few ticks: every tick is launched once, by one
// of them.
func TestScheduleLaunchesEachTickOnceAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	broker := inproc.NewBroker()
	const every = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 5*every+every/2)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	byTick := map[time.Time]int{}
	for range 3 {
		st, err := store.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		tel := telemetry.NewRecorder(st, nil)
		defer tel.Close()
		l := &ops.Launcher{Store: st, Queue: broker.Open(backends.Config{Queue: "q"}), Telemetry: tel,
			Backend: "inproc", QueueName: "q", Source: telemetry.CLI()}
		s := &ops.Scheduler{Launcher: l, Schedules: []ops.Schedule{{Name: "ravens", Every: every,
			Request: ops.LaunchRequest{Types: []string{"raven"}, Count: 2, FailRate: 0, MaxAttempts: 1, Speed: 1}}},
			Launched: func(name string, tick time.Time, ids []string) {
				mu.Lock()
				defer mu.Unlock()
				byTick[tick] += len(ids)
			}}
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(ctx) }()
	}
	wg.Wait()
	if len(byTick) < 4 || len(byTick) > 6 {
		t.Errorf("%d ticks launched in %v at every %v, want about 5: %v", len(byTick), 5*every+every/2, every, byTick)
	}
	for tick, n := range byTick {
		if n != 2 || !tick.Equal(tick.Truncate(every)) {
			t.Errorf("tick %v launched %d missions, want 2 once, on the boundary", tick, n)
		}
	}
	st, _ := store.Open(context.Background(), path)
	defer st.Close()
	ms, err := st.History(context.Background(), store.Filter{})
	if err != nil || len(ms) != 2*len(byTick) {
		t.Errorf("the store holds %d missions (%v), want %d", len(ms), err, 2*len(byTick))
	}
}
