package bench

import (
	"bytes"
	"os"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"time"
)

// memSampler records the largest resident memory seen between start and
// stop.
type memSampler struct {
	peak atomic.Uint64
	quit chan struct{}
	done chan struct{}
}

func startMemSampler(every time.Duration) *memSampler {
	m := &memSampler{quit: make(chan struct{}), done: make(chan struct{})}
	m.sample()
	go func() {
		defer close(m.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.quit:
				return
			case <-t.C:
				m.sample()
			}
		}
	}()
	return m
}

func (m *memSampler) sample() {
	v := residentBytes()
	for {
		old := m.peak.Load()
		if v <= old || m.peak.CompareAndSwap(old, v) {
			return
		}
	}
}

// stop ends sampling and returns the peak in bytes.
func (m *memSampler) stop() uint64 {
	close(m.quit)
	<-m.done
	m.sample()
	return m.peak.Load()
}

// residentBytes is the process's resident set size where the system tells
// (Linux: /proc/self/statm). The pure-Go SQLite driver allocates outside
// the Go heap, so the runtime's own figures would miss it. Elsewhere it
// falls back to the memory the Go runtime holds (mapped, minus what it
// returned to the system).
func residentBytes() uint64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := bytes.Fields(b); len(f) > 1 {
			if pages, err := strconv.ParseUint(string(f[1]), 10, 64); err == nil {
				return pages * uint64(os.Getpagesize())
			}
		}
	}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}
