package peers

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// Service URLs, as palantir's own tests name them.
func testURL(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

// skipOrFail skips a test whose service is unreachable, naming the URL and
// the cause, and fails it when PALANTIR_REQUIRE_SERVICES=1.
func skipOrFail(t *testing.T, url string, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnreachable) {
		return
	}
	if os.Getenv("PALANTIR_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s unreachable and PALANTIR_REQUIRE_SERVICES=1: %v", url, err)
	}
	t.Skipf("SKIPPING: %s unreachable (set PALANTIR_REQUIRE_SERVICES=1 to fail instead): %v", url, err)
}

func TestPeersLoseNothing(t *testing.T) {
	const jobs = 200
	pg := testURL("PALANTIR_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	rd := testURL("PALANTIR_TEST_PEERS_REDIS_URL", "redis://127.0.0.1:6379/15")
	tests := []struct {
		name string
		url  string
		run  func(context.Context) (Result, error)
	}{
		{"river tuned", pg, func(ctx context.Context) (Result, error) {
			return RunRiver(ctx, RiverOptions{DatabaseURL: pg, Jobs: jobs, Timeout: time.Minute})
		}},
		{"river defaults", pg, func(ctx context.Context) (Result, error) {
			return RunRiver(ctx, RiverOptions{DatabaseURL: pg, Jobs: jobs, Defaults: true, Timeout: time.Minute})
		}},
		{"asynq", rd, func(ctx context.Context) (Result, error) {
			return RunAsynq(ctx, AsynqOptions{RedisURL: rd, Jobs: jobs, Timeout: time.Minute})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r, err := tt.run(ctx)
			skipOrFail(t, tt.url, err)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if r.Lost != 0 || r.Duplicates != 0 || r.Executed != jobs {
				t.Errorf("got lost %d, duplicates %d, executed %d; want 0, 0, %d", r.Lost, r.Duplicates, r.Executed, jobs)
			}
			if r.JobsPerSec <= 0 {
				t.Errorf("got %g jobs/s, want more than 0", r.JobsPerSec)
			}
		})
	}
}

func TestAsynqRefusesDatabaseZero(t *testing.T) {
	_, err := RunAsynq(context.Background(), AsynqOptions{RedisURL: "redis://127.0.0.1:6379/0", Jobs: 1})
	if err == nil || errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want a refusal of database 0", err)
	}
}

func TestTallyCountsLostAndDuplicates(t *testing.T) {
	tl := newTally(4)
	for _, i := range []int{0, 1, 1, 3, 3, 3} {
		tl.record(i)
	}
	var r Result
	tl.fill(&r)
	if r.Lost != 1 || r.Duplicates != 3 || r.Executed != 6 {
		t.Errorf("got lost %d, duplicates %d, executed %d; want 1, 3, 6", r.Lost, r.Duplicates, r.Executed)
	}
	select {
	case <-tl.all:
		t.Errorf("all closed with index 2 never seen")
	default:
	}
	tl.record(2)
	select {
	case <-tl.all:
	default:
		t.Errorf("all not closed after every index was seen")
	}
}
