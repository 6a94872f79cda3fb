package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is one backend's row. Its JSON form is the `palantir bench -o json`
// contract: snake_case, latencies in milliseconds.
type Result struct {
	Backend string `json:"backend"`
	// Broker is the broker URL, password redacted ("" for inproc).
	Broker       string  `json:"broker"`
	Missions     int     `json:"missions"`
	Concurrency  int     `json:"concurrency"`
	Prefetch     int     `json:"prefetch"`
	PayloadBytes int     `json:"payload_bytes"` // the encoded order's size
	Rate         float64 `json:"rate"`          // 0: as fast as possible
	Store        string  `json:"store"`

	// MissionsPerSec is distinct missions recorded as SUCCESS per second of
	// the palantir phase (first publish to last settlement).
	MissionsPerSec float64 `json:"missions_per_sec"`
	// CeilingMsgsPerSec is what the bare client library carries through the
	// same broker, with the same payload and consumer count.
	CeilingMsgsPerSec float64 `json:"ceiling_msgs_per_sec"`
	RatioToCeiling    float64 `json:"ratio_to_ceiling"`

	// PublishMS is the duration of the Publish call that carried each
	// mission; QueueWaitMS from the broker's enqueue time to the worker's
	// Receive; EndToEndMS from the mission's intended send time to its
	// settlement (ack after persistence).
	PublishMS   Percentiles `json:"publish_ms"`
	QueueWaitMS Percentiles `json:"queue_wait_ms"`
	EndToEndMS  Percentiles `json:"end_to_end_ms"`

	Redeliveries int64 `json:"redeliveries"` // deliveries flagged redelivered
	Duplicates   int64 `json:"duplicates"`   // deliveries of a mission already recorded
	Lost         int64 `json:"lost"`         // published, never recorded as SUCCESS

	// CPUSeconds is this process's user+system CPU time over the palantir
	// phase (with inproc, that includes the broker); PeakMemoryMB the
	// largest resident set size sampled during it.
	CPUSeconds      float64 `json:"cpu_seconds"`
	PeakMemoryMB    float64 `json:"peak_memory_mb"`
	DurationSeconds float64 `json:"duration_seconds"`
	// Error says why this backend could not be measured (or not fully).
	Error string `json:"error"`

	// EndToEndCDF is the end-to-end latency distribution, for plots.
	EndToEndCDF []CDFPoint `json:"-"`
}

// Percentiles summarise a latency distribution, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// CDFPoint says that Percentile % of the values were at most Ms.
type CDFPoint struct {
	Percentile float64
	Ms         float64
}

// latency is an HDR histogram of durations in microseconds, from 1 µs to
// one hour at three significant digits: fixed memory (about 200 KB)
// however many values it records. Safe for concurrent use.
type latency struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

const maxLatencyUS = int64(time.Hour / time.Microsecond)

func newLatency() *latency { return &latency{h: hdrhistogram.New(1, maxLatencyUS, 3)} }

// record adds n values of d (negative durations, from clocks a
// millisecond apart, count as zero).
func (l *latency) record(d time.Duration, n int64) {
	us := min(max(d.Microseconds(), 0), maxLatencyUS)
	l.mu.Lock()
	_ = l.h.RecordValues(us, n) // cannot fail: us is within range
	l.mu.Unlock()
}

func (l *latency) count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.TotalCount()
}

func (l *latency) percentiles() Percentiles {
	l.mu.Lock()
	defer l.mu.Unlock()
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Percentiles{P50: ms(l.h.ValueAtQuantile(50)), P95: ms(l.h.ValueAtQuantile(95)),
		P99: ms(l.h.ValueAtQuantile(99)), Max: ms(l.h.Max())}
}

// cdfPercentiles are where the CDF is sampled: every percent, then the
// tail in finer steps.
var cdfPercentiles = func() []float64 {
	var ps []float64
	for p := 0; p <= 99; p++ {
		ps = append(ps, float64(p))
	}
	return append(ps, 99.5, 99.9, 99.95, 99.99, 100)
}()

func (l *latency) cdf() []CDFPoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h.TotalCount() == 0 {
		return nil
	}
	pts := make([]CDFPoint, 0, len(cdfPercentiles))
	for _, p := range cdfPercentiles {
		v := l.h.ValueAtQuantile(p)
		if p == 100 {
			v = l.h.Max()
		}
		pts = append(pts, CDFPoint{Percentile: p, Ms: float64(v) / 1000})
	}
	return pts
}

// Label names r among rs in tables and charts: its backend's name, or,
// when another row has the same backend (a single server beside a
// cluster), its broker URL, password already redacted.
func Label(r Result, rs []Result) string {
	for _, o := range rs {
		if o.Backend == r.Backend && o.Broker != r.Broker && r.Broker != "" {
			return r.Broker
		}
	}
	return r.Backend
}
