package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/palantir-lab/palantir/internal/testservices"
)

// A worker's slots read the store at once (BeginAttempt). A pool that
// keeps fewer idle connections than it opens closes the extras after each
// burst and opens them again on the next: on PostgreSQL each is a new
// server process (a fork, authentication), which took `bench -c 32 --store
// postgres://…` from 1,150 missions/s at -c 4 down to 390, the server's
// CPU 60% in the kernel.
func TestPoolKeepsTheConnectionsItOpens(t *testing.T) {
	ctx := context.Background()
	for name, url := range map[string]string{
		"sqlite":   filepath.Join(t.TempDir(), "p.db"),
		"postgres": testservices.PostgresDB(t),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for range 5 {
				var wg sync.WaitGroup
				for range 32 {
					wg.Go(func() {
						if _, err := s.Missions(ctx, []string{"nobody"}); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
			}
			if st := s.db.Stats(); st.MaxIdleClosed > 0 {
				t.Errorf("%d connections closed for want of idle room (%d open at most): the pool churns", st.MaxIdleClosed, st.MaxOpenConnections)
			}
		})
	}
}
