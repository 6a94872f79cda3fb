package peers

import (
	"sync"
	"sync/atomic"
	"time"
)

// Result is one peer run. Its JSON form is peerbench's `-o json` contract:
// snake_case, durations in seconds.
type Result struct {
	Peer string `json:"peer"` // "river" or "asynq"
	// Mode says which client settings were used: "tuned" or "defaults".
	Mode string `json:"mode"`
	// Settings lists the client settings in words, for the table.
	Settings string `json:"settings"`
	// Target is the database or Redis URL, password redacted.
	Target       string `json:"target"`
	Jobs         int    `json:"jobs"`
	Workers      int    `json:"workers"`
	PayloadBytes int    `json:"payload_bytes"` // encoded job args
	// Insert says how jobs were inserted (batch size, goroutines).
	Insert string `json:"insert"`

	// JobsPerSec is distinct jobs completed per second, from the first
	// insert to the last completion.
	JobsPerSec      float64 `json:"jobs_per_sec"`
	DurationSeconds float64 `json:"duration_seconds"`
	// InsertSeconds is how long inserting all jobs took (workers running).
	InsertSeconds float64 `json:"insert_seconds"`

	Executed   int64 `json:"executed"`   // worker calls, duplicates included
	Duplicates int64 `json:"duplicates"` // worker calls for an index already seen
	Lost       int64 `json:"lost"`       // inserted, never executed

	// Error says why the run failed or is incomplete ("" when it is not).
	Error string `json:"error"`
}

// tally counts worker calls per job index. Safe for concurrent use.
type tally struct {
	seen     []atomic.Int32
	distinct atomic.Int64
	executed atomic.Int64
	once     sync.Once
	all      chan struct{} // closed when every index has been seen
}

func newTally(n int) *tally {
	return &tally{seen: make([]atomic.Int32, n), all: make(chan struct{})}
}

// record counts one call for index i; out-of-range indexes count as
// executed only (they would show as a mismatch between executed and jobs).
func (t *tally) record(i int) {
	t.executed.Add(1)
	if i < 0 || i >= len(t.seen) {
		return
	}
	if t.seen[i].Add(1) == 1 && t.distinct.Add(1) == int64(len(t.seen)) {
		t.once.Do(func() { close(t.all) })
	}
}

// fill writes executed, duplicates and lost into r.
func (t *tally) fill(r *Result) {
	r.Executed = t.executed.Load()
	r.Lost, r.Duplicates = 0, 0
	for i := range t.seen {
		switch n := t.seen[i].Load(); {
		case n == 0:
			r.Lost++
		case n > 1:
			r.Duplicates += int64(n - 1)
		}
	}
}

// finish sets the rates from the run's start and end.
func (r *Result) finish(start, inserted, end time.Time, completed int64) {
	d := end.Sub(start)
	r.DurationSeconds = d.Seconds()
	r.InsertSeconds = inserted.Sub(start).Seconds()
	if d > 0 {
		r.JobsPerSec = float64(completed) / d.Seconds()
	}
}

// pad returns the padding that brings a job's encoded args ({"i":N,"pad":"…"})
// to about payload bytes, as palantir bench pads its orders.
func pad(payload int) string {
	const overhead = len(`{"i":1000000,"pad":""}`)
	n := max(payload-overhead, 0)
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	return string(b)
}
