package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestCancelOnEveryBackend cancels one mission while it waits in the queue
// (no worker yet) and one while a worker process runs it: both end
// FAILURE "cancelled", the waiting one never starts, the running one stops
// within a couple of seconds, unscored, and the broker holds nothing
// afterwards: nothing retried, nothing dead-lettered.
func TestCancelOnEveryBackend(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		code, out, errs := e.palantir("launch", "raven", "recon", "--speed", "1", "--fail-rate", "0")
		ids := strings.Fields(out)
		if code != 0 || len(ids) != 2 {
			t.Fatalf("launch: exit %d %q %s", code, out, errs)
		}
		waiting, running := ids[0], ids[1]
		if code, _, errs := e.palantir("cancel", waiting); code != 0 {
			t.Fatalf("cancel %s: exit %d %s", waiting, code, errs)
		}
		e.startWorker("eagle1")
		e.waitFor(20*time.Second, running+" PROCESSING", func() bool {
			ms := e.missions("status", running)
			return len(ms) == 1 && ms[0].Status == "PROCESSING"
		})
		cancelled := time.Now()
		if code, _, errs := e.palantir("cancel", running); code != 0 {
			t.Fatalf("cancel %s: exit %d %s", running, code, errs)
		}
		e.waitFor(10*time.Second, "the broker to hold nothing", func() bool {
			_, held, _ := e.queueFigures()
			return held == 0
		})
		if took := time.Since(cancelled); took > 4*time.Second {
			t.Errorf("the running mission's message was settled %v after its cancel", took)
		}
		for _, m := range e.missions("status", waiting, running) {
			if m.Status != "FAILURE" || m.Error != "cancelled" || m.Score != 0 {
				t.Errorf("%s: %s %q score %d, want FAILURE cancelled unscored", m.ID, m.Status, m.Error, m.Score)
			}
		}
		_, trace, _ := e.palantir("trace", waiting, "-o", "json")
		if strings.Contains(trace, "mission_started") {
			t.Errorf("the mission cancelled while queued ran: %s", trace)
		}
		_, dead, _ := e.palantir("dlq", "list", "-o", "json")
		var letters []json.RawMessage
		if err := json.Unmarshal([]byte(dead), &letters); err != nil || len(letters) != 0 {
			t.Errorf("dead letters after cancel: %s", dead)
		}
		time.Sleep(1500 * time.Millisecond) // what a redelivery or retry would take
		if _, held, raw := e.queueFigures(); held != 0 {
			t.Errorf("the broker holds %d message(s) after the cancels: %s", held, raw)
		}
	})
}

// TestPauseAndResumeOnEveryBackend: a paused queue takes launches and its
// worker process starts none of them; resumed, it runs them all, once.
func TestPauseAndResumeOnEveryBackend(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		if code, _, errs := e.palantir("queue", "pause"); code != 0 {
			t.Fatalf("queue pause: exit %d %s", code, errs)
		}
		e.startWorker("eagle1")
		code, out, errs := e.palantir("launch", "raven", "--count", "3", "--speed", "10", "--fail-rate", "0")
		ids := strings.Fields(out)
		if code != 0 || len(ids) != 3 {
			t.Fatalf("launch: exit %d %q %s", code, out, errs)
		}
		time.Sleep(2500 * time.Millisecond) // two heartbeats and more
		for _, m := range e.missions(append([]string{"status"}, ids...)...) {
			if m.Status != "QUEUED" {
				t.Fatalf("%s is %s while its queue is paused\nworker log:\n%s", m.ID, m.Status, e.workerLog("eagle1"))
			}
		}
		if code, _, errs := e.palantir("queue", "resume"); code != 0 {
			t.Fatalf("queue resume: exit %d %s", code, errs)
		}
		e.waitFor(15*time.Second, "the three SUCCESS", func() bool {
			for _, m := range e.missions(append([]string{"status"}, ids...)...) {
				if m.Status != "SUCCESS" {
					return false
				}
			}
			return true
		})
		for _, m := range e.missions(append([]string{"status"}, ids...)...) {
			if m.Attempt != 1 || m.Score != 15 {
				t.Errorf("%s: attempt %d score %d, want 1 and 15", m.ID, m.Attempt, m.Score)
			}
		}
		if log := e.workerLog("eagle1"); !strings.Contains(log, "queue paused") || !strings.Contains(log, "queue resumed") {
			t.Errorf("the worker did not say paused and resumed:\n%s", log)
		}
		// A unique launch, twice: the second is skipped.
		for i, want := range []int{1, 0} {
			code, out, errs := e.palantir("launch", "raven", "--hero", "frodo", "--unique-for", "1m", "--speed", "10")
			if code != 0 || len(strings.Fields(out)) != want {
				t.Errorf("unique launch #%d: exit %d, ids %q, %s; want %d id", i+1, code, out, errs, want)
			}
		}
	})
}

// TestSchedulesLaunchEachTickOnceOnEveryBackend: two worker processes read
// one schedules: section; each tick is launched once, by one of them, and
// runs.
func TestSchedulesLaunchEachTickOnceOnEveryBackend(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		cfg := "schedules:\n  ravens: {every: 500ms, type: raven, speed: 50, fail_rate: 0}\n"
		if err := os.WriteFile(filepath.Join(e.dir, "palantir.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		e.startWorker("eagle1")
		e.startWorker("eagle2")
		time.Sleep(3200 * time.Millisecond)
		ms := e.missions("history")
		byTick := map[int64]int{}
		for _, m := range ms {
			_, out, _ := e.palantir("status", m.ID, "-o", "json")
			var objs []struct {
				CreatedAt time.Time `json:"created_at"`
			}
			if err := json.Unmarshal([]byte(out), &objs); err != nil || len(objs) != 1 {
				t.Fatalf("status %s: %v %s", m.ID, err, out)
			}
			byTick[objs[0].CreatedAt.Truncate(500*time.Millisecond).UnixMilli()]++
		}
		if len(byTick) < 4 {
			t.Errorf("%d ticks launched in 3.2 s at every 500ms, want 5 or 6: %v\n%s\n%s", len(byTick), byTick, e.workerLog("eagle1"), e.workerLog("eagle2"))
		}
		for tick, n := range byTick {
			if n != 1 {
				t.Errorf("tick %d launched %d missions, want 1", tick, n)
			}
		}
		if len(ms) == 0 {
			t.Fatal("no mission launched")
		}
		// Its events are written in batches: wait for them.
		e.waitFor(10*time.Second, "the scheduled mission's trace naming its schedule", func() bool {
			_, trace, _ := e.palantir("trace", ms[len(ms)-1].ID, "-o", "json")
			return strings.Contains(trace, `"schedule:ravens"`)
		})
	})
}

// TestLaunchLaterOnEveryBackend: a mission launched --in 1500ms is PENDING
// with nothing in the broker until then; the queue's worker publishes and
// runs it once due, not before.
func TestLaunchLaterOnEveryBackend(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		e.startWorker("eagle1")
		launched := time.Now()
		code, out, errs := e.palantir("launch", "raven", "--in", "1500ms", "--speed", "50", "--fail-rate", "0")
		ids := strings.Fields(out)
		if code != 0 || len(ids) != 1 {
			t.Fatalf("launch --in: exit %d %q %s", code, out, errs)
		}
		if ms := e.missions("status", ids[0]); ms[0].Status != "PENDING" {
			t.Errorf("at once the mission is %s, want PENDING", ms[0].Status)
		}
		if _, held, raw := e.queueFigures(); held != 0 {
			t.Errorf("the broker holds %d message(s) before the mission is due: %s", held, raw)
		}
		e.waitFor(15*time.Second, ids[0]+" SUCCESS", func() bool {
			return e.missions("status", ids[0])[0].Status == "SUCCESS"
		})
		// The worker writes its events in batches, after the outcome's
		// own: the queued one may come a moment after SUCCESS.
		var queuedAt []time.Time
		var trace string
		e.waitFor(10*time.Second, "mission_queued in the trace", func() bool {
			_, trace, _ = e.palantir("trace", ids[0], "-o", "json")
			var tr struct {
				Steps []struct {
					Event string    `json:"event"`
					At    time.Time `json:"at"`
				} `json:"steps"`
			}
			if err := json.Unmarshal([]byte(trace), &tr); err != nil {
				t.Fatalf("trace: %v %s", err, trace)
			}
			queuedAt = nil
			for _, ev := range tr.Steps {
				if ev.Event == "mission_queued" {
					queuedAt = append(queuedAt, ev.At)
				}
			}
			return len(queuedAt) > 0
		})
		if len(queuedAt) != 1 {
			t.Errorf("the trace has %d mission_queued, want 1: %s", len(queuedAt), trace)
		}
		for _, at := range queuedAt {
			if at.Before(launched.Add(1400 * time.Millisecond)) {
				t.Errorf("queued at %v, %v after the launch: before it was due", at, at.Sub(launched))
			}
		}
	})
}

// TestWorkerOfTwoQueuesOnEveryBackend: a worker process of one slot
// consuming `--queue HIGH,LOW`, started onto two full queues, runs every
// mission of the first before the second's (but one, which may take the
// slot before the first queue's deliveries arrive), and records each on
// its own queue.
func TestWorkerOfTwoQueuesOnEveryBackend(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		low := e.queue + "-low"
		if b, _ := registry.Resolve(e.backend); b.URL != nil {
			url := e.url()
			t.Cleanup(func() { removeQueue(t, e.backend, url, low) })
		}
		lows := e.launch("raven", "--count", "4", "--speed", "20", "--fail-rate", "0", "--queue", low)
		highs := e.launch("raven", "--count", "4", "--speed", "20", "--fail-rate", "0")
		e.startWorker("eagle1", "--queue", e.queue+","+low, "-c", "1")
		all := append(append([]string{}, highs...), lows...)
		var objs []struct {
			ID        string    `json:"id"`
			Queue     string    `json:"queue"`
			Status    string    `json:"status"`
			StartedAt time.Time `json:"started_at"`
		}
		e.waitFor(30*time.Second, "the eight SUCCESS", func() bool {
			_, out, _ := e.palantir(append([]string{"status", "-o", "json"}, all...)...)
			objs = objs[:0]
			if json.Unmarshal([]byte(out), &objs) != nil {
				return false
			}
			for _, o := range objs {
				if o.Status != "SUCCESS" {
					return false
				}
			}
			return len(objs) == 8
		})
		sort.Slice(objs, func(i, j int) bool { return objs[i].StartedAt.Before(objs[j].StartedAt) })
		var order []string
		lowsFirst := 0
		for i, o := range objs {
			order = append(order, o.Queue)
			if i < 5 && o.Queue == low {
				lowsFirst++
			}
			want := e.queue
			if slices.Contains(lows, o.ID) {
				want = low
			}
			if o.Queue != want {
				t.Errorf("%s recorded on queue %q, want %q", o.ID, o.Queue, want)
			}
		}
		if lowsFirst > 1 {
			t.Errorf("%d missions of the second queue among the first 5 started, want at most 1: %v\n%s", lowsFirst, order, e.workerLog("eagle1"))
		}
		if log := e.workerLog("eagle1"); !strings.Contains(log, "strict priority") {
			t.Errorf("the worker did not say how it shares its slots:\n%s", log)
		}
	})
}
