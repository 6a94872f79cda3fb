package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
)

// The store's write path, per mission, on SQLite and (when reachable)
// PostgreSQL: creating missions in batches as launch does, and the
// worker's three writes for a zero-duration mission (BeginAttempt, one
// SetProgress per stage, Complete).
//
//	go test -run '^$' -bench . -benchmem ./store/ | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkCreateMissions(b *testing.B) {
	for _, bs := range benchStores() {
		open := bs.open
		b.Run(bs.name, func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			const batch = 1000
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				ms := benchMissions(i, min(batch, b.N-i))
				if err := s.CreateMissions(ctx, ms); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "missions/s")
		})
	}
}

func BenchmarkWorkerWrites(b *testing.B) {
	for _, bs := range benchStores() {
		open := bs.open
		b.Run(bs.name, func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			ms := benchMissions(0, b.N)
			for i := 0; i < b.N; i += 1000 {
				if err := s.CreateMissions(ctx, ms[i:min(i+1000, b.N)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for _, m := range ms {
				now := time.Now()
				if _, err := s.BeginAttempt(ctx, m.Order(), "inproc", "bench", 1, "w", now); err != nil {
					b.Fatal(err)
				}
				for p, stage := range []string{"write the message", "raven flies"} {
					if err := s.SetProgress(ctx, m.ID, 1, 50*(p+1), stage, now); err != nil {
						b.Fatal(err)
					}
				}
				m.Attempt, m.Worker = 1, "w"
				if ok, err := s.Complete(ctx, m, 15, now, store.Beside{}); err != nil || !ok {
					b.Fatalf("Complete: %v, %v", ok, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "missions/s")
		})
	}
}

func BenchmarkComplete(b *testing.B) {
	for _, bs := range benchStores() {
		open := bs.open
		b.Run(bs.name, func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			ms := benchMissions(0, b.N)
			for i := 0; i < b.N; i += 1000 {
				if err := s.CreateMissions(ctx, ms[i:min(i+1000, b.N)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for _, m := range ms {
				m.Attempt, m.Worker = 1, "w"
				if ok, err := s.Complete(ctx, m, 15, time.Now(), store.Beside{}); err != nil || !ok {
					b.Fatalf("Complete: %v, %v", ok, err)
				}
			}
		})
	}
}

type benchStore struct {
	name string
	open func(b *testing.B) *store.Store
}

func benchStores() []benchStore {
	open := func(b *testing.B, url string) *store.Store {
		s, err := store.Open(context.Background(), url)
		if err != nil {
			b.Fatalf("Open: %v", err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	return []benchStore{
		{"sqlite", func(b *testing.B) *store.Store { return open(b, filepath.Join(b.TempDir(), "bench.db")) }},
		{"postgres", func(b *testing.B) *store.Store { return open(b, testservices.PostgresDB(b)) }},
	}
}

func benchMissions(from, n int) []store.Mission {
	now := time.Now()
	ms := make([]store.Mission, n)
	for i := range ms {
		o := mission.Order{ID: fmt.Sprintf("bench-%09d", from+i), Type: mission.Raven, Hero: mission.HeroFor(i),
			MaxAttempts: 3, Speed: mission.MaxSpeed, CreatedAt: now}
		ms[i] = store.MissionFromOrder(o, "inproc", "bench")
	}
	return ms
}
