package bench_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/all"
	"github.com/palantir-lab/palantir/bench"
	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/store"
)

func options(backend string, missions int) bench.Options {
	return bench.Options{Registry: all.Registry(), Backends: []string{backend}, Missions: missions, Concurrency: 4,
		Payload: 256, URLs: testservices.BackendURLs(all.Registry()), DrainTimeout: 20 * time.Second}
}

// checkRow holds one backend's row to the contract: nothing lost, a rate
// measured, percentiles in order.
func checkRow(t *testing.T, r bench.Result, missions int) {
	t.Helper()
	if r.Error != "" {
		t.Fatalf("%s: error %q", r.Backend, r.Error)
	}
	if r.Lost != 0 || r.Duplicates != 0 {
		t.Errorf("%s: lost %d, duplicates %d; want 0, 0", r.Backend, r.Lost, r.Duplicates)
	}
	if r.Missions != missions || r.MissionsPerSec <= 0 || r.CeilingMsgsPerSec <= 0 || r.RatioToCeiling <= 0 {
		t.Errorf("%s: missions %d at %.0f/s, ceiling %.0f/s, ratio %.2f; want %d and positive rates",
			r.Backend, r.Missions, r.MissionsPerSec, r.CeilingMsgsPerSec, r.RatioToCeiling, missions)
	}
	for name, p := range map[string]bench.Percentiles{"publish": r.PublishMS, "queue wait": r.QueueWaitMS, "end to end": r.EndToEndMS} {
		if !(p.P50 <= p.P95 && p.P95 <= p.P99 && p.P99 <= p.Max) {
			t.Errorf("%s: %s percentiles %+v are not ordered", r.Backend, name, p)
		}
	}
	if r.EndToEndMS.Max <= 0 || r.PublishMS.Max <= 0 {
		t.Errorf("%s: end-to-end %+v, publish %+v: nothing recorded", r.Backend, r.EndToEndMS, r.PublishMS)
	}
	if r.PayloadBytes != 256 {
		t.Errorf("%s: payload %d bytes, want 256", r.Backend, r.PayloadBytes)
	}
	if r.CPUSeconds <= 0 || r.PeakMemoryMB <= 0 || r.DurationSeconds <= 0 {
		t.Errorf("%s: cpu %.3fs, memory %.1f MB, duration %.3fs; want all positive", r.Backend, r.CPUSeconds, r.PeakMemoryMB, r.DurationSeconds)
	}
	if n := len(r.EndToEndCDF); n == 0 || r.EndToEndCDF[n-1].Percentile != 100 {
		t.Errorf("%s: CDF %v does not reach 100%%", r.Backend, r.EndToEndCDF)
	}
}

func run(t *testing.T, o bench.Options) bench.Result {
	t.Helper()
	rs, err := bench.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(rs) != 1 {
		t.Fatalf("Run returned %d results, want 1", len(rs))
	}
	return rs[0]
}

func TestInproc(t *testing.T) {
	for _, tc := range []struct {
		name     string
		store    string
		rate     float64
		prefetch int
	}{
		{name: "temporary SQLite", store: ""},
		{name: "no store", store: bench.StoreNone},
		{name: "at a constant rate", store: bench.StoreNone, rate: 2000},
		{name: "prefetch = concurrency", store: bench.StoreNone, prefetch: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options("inproc", 300)
			o.Store, o.Rate, o.Prefetch = tc.store, tc.rate, tc.prefetch
			var phases []string
			o.Progress = func(p bench.Progress) {
				if p.Finished {
					phases = append(phases, string(p.Phase))
				}
			}
			r := run(t, o)
			checkRow(t, r, 300)
			if got := strings.Join(phases, ","); got != "ceiling,palantir" {
				t.Errorf("finished phases %q, want ceiling,palantir", got)
			}
			want := tc.prefetch
			if want == 0 {
				want = bench.DefaultPrefetch(o.Concurrency)
			}
			if r.Prefetch != want {
				t.Errorf("prefetch %d, want %d", r.Prefetch, want)
			}
			if tc.rate > 0 && r.DurationSeconds < 0.14 {
				t.Errorf("300 missions at %g/s took %.3fs, want about 0.15s", tc.rate, r.DurationSeconds)
			}
		})
	}
}

func TestStoreKeepsMissions(t *testing.T) {
	url := "sqlite:" + t.TempDir() + "/bench.db"
	o := options("inproc", 50)
	o.Store = url
	r := run(t, o)
	checkRow(t, r, 50)
	// The row names the store's driver and where it is.
	if want := "sqlite " + strings.TrimPrefix(url, "sqlite:"); r.Store != want {
		t.Errorf("row's store %q, want %q", r.Store, want)
	}
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts, err := st.CountsBy(context.Background(), "type", store.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts[0].Status != "SUCCESS" || counts[0].N != 50 {
		t.Errorf("missions in the store: %+v, want 50 SUCCESS", counts)
	}
}

func TestRedis(t *testing.T) {
	needService(t, "redis", "Redis", testservices.RedisURL())
	checkRow(t, run(t, options("redis", 300)), 300)
}

func TestRabbitMQ(t *testing.T) {
	needService(t, "rabbitmq", "RabbitMQ", testservices.AMQPURL())
	checkRow(t, run(t, options("rabbitmq", 300)), 300)
}

// needService skips (or fails, in CI) when the broker does not answer.
func needService(t *testing.T, backend, service, url string) {
	t.Helper()
	b, err := all.Registry().Resolve(backend)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := b.Open(ctx, backends.Config{URL: url, Queue: "bench-probe"})
	if err != nil {
		testservices.Unavailable(t, service, url, err)
	}
	q.Close()
}

func TestUnreachableBrokerIsARowNotTheEnd(t *testing.T) {
	o := options("redis://127.0.0.1:1/0", 10)
	o.Backends = append(o.Backends, "inproc")
	rs, err := bench.Run(context.Background(), o)
	if !errors.Is(err, backends.ErrUnreachable) {
		t.Errorf("Run error %v, want one wrapping ErrUnreachable", err)
	}
	if len(rs) != 2 {
		t.Fatalf("got %d results, want 2", len(rs))
	}
	if rs[0].Backend != "redis" || rs[0].Error == "" || strings.Contains(rs[0].Error, "\n") {
		t.Errorf("unreachable row %+v, want backend redis and a one-line error", rs[0])
	}
	checkRow(t, rs[1], 10)
}

func TestValidate(t *testing.T) {
	base := options("inproc", 10)
	for _, tc := range []struct {
		name string
		edit func(*bench.Options)
		want string
	}{
		{"unknown backend", func(o *bench.Options) { o.Backends = []string{"kafka"} }, "known: inproc, redis, rabbitmq"},
		{"no missions", func(o *bench.Options) { o.Missions = 0 }, "missions"},
		{"too much concurrency", func(o *bench.Options) { o.Concurrency = 1025 }, "concurrency"},
		{"prefetch below concurrency", func(o *bench.Options) { o.Concurrency, o.Prefetch = 4, 2 }, "prefetch"},
		{"huge payload", func(o *bench.Options) { o.Payload = 1<<20 + 1 }, "payload"},
		{"negative rate", func(o *bench.Options) { o.Rate = -1 }, "rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	if err := base.Validate(); err != nil {
		t.Errorf("Validate(valid) = %v", err)
	}
}

// A queue kept in the store's database cannot run without one: with
// --store none bench says so instead of making a palantir.db of its own
// in the working directory.
func TestStoreNoneRefusesAQueueInTheStore(t *testing.T) {
	t.Chdir(t.TempDir())
	reg := all.Registry()
	for _, b := range reg.Backends() {
		if b.FromStore == nil {
			continue
		}
		o := options(b.Name, 10)
		o.Store = bench.StoreNone
		rs, err := bench.Run(context.Background(), o)
		if err == nil || len(rs) != 1 || !strings.Contains(rs[0].Error, "store") {
			t.Errorf("%s with --store none: %v, %+v; want an error about the store", b.Name, err, rs)
		}
		if entries, _ := os.ReadDir("."); len(entries) != 0 {
			t.Errorf("%s with --store none left %v in the working directory", b.Name, entries)
		}
	}
}

// A queue that lives in a SQLite file runs on a temporary SQLite store
// of its own when the bench store is PostgreSQL, so that one run can
// measure every backend (--store postgres://… --backends …,postgres,sqlite);
// its row says which store it used.
func TestSQLiteQueueGetsItsOwnStoreBesideAPostgreSQLOne(t *testing.T) {
	pg := testservices.PostgresDB(t)
	o := options("sqlite", 50)
	o.Store = pg
	rs, err := bench.Run(context.Background(), o)
	if err != nil || len(rs) != 1 {
		t.Fatalf("bench sqlite with a PostgreSQL store: %v, %+v", err, rs)
	}
	if r := rs[0]; r.Error != "" || r.Lost != 0 || !strings.Contains(r.Store, "sqlite") {
		t.Errorf("row: error %q, lost %d, store %q; want a run on a SQLite store of its own", r.Error, r.Lost, r.Store)
	}
}

// Rows of one backend on two brokers (a single Redis and a Redis Cluster)
// are told apart by their broker, password hidden; a backend that
// appears once keeps its name (a new user's review found six rows named
// redis, redis, rabbitmq, rabbitmq, nats, nats).
func TestLabelsTellRowsOfOneBackendApart(t *testing.T) {
	rs := []bench.Result{
		{Backend: "redis", Broker: "redis://127.0.0.1:6379/0"},
		{Backend: "redis", Broker: "redis://:xxxxx@127.0.0.1:7001?addr=127.0.0.1:7002"},
		{Backend: "inproc"},
	}
	want := []string{"redis://127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:7001?addr=127.0.0.1:7002", "inproc"}
	for i, r := range rs {
		if got := bench.Label(r, rs); got != want[i] {
			t.Errorf("row %d labelled %q, want %q", i, got, want[i])
		}
	}
}
