package verify_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/all"
	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/verify"
)

// backendsToVerify lists every registered backend with the URL tests reach
// it at, so that a new backend is verified without editing this file.
// Backends whose URL derives from the store (a queue in a database) are
// left to their own tests.
func backendsToVerify(t *testing.T) []struct {
	be  backends.Backend
	url string
} {
	var out []struct {
		be  backends.Backend
		url string
	}
	for _, be := range all.Registry().Backends() {
		switch {
		case be.URL != nil:
			out = append(out, struct {
				be  backends.Backend
				url string
			}{be, testservices.BackendURL(*be.URL)})
		case be.FromStore == nil:
			out = append(out, struct {
				be  backends.Backend
				url string
			}{be, ""})
		}
	}
	return out
}

// expected are what the matrix must say on the backends whose behaviour
// the docs teach; other backends are only checked for sane rows.
var expected = map[string]map[string]verify.Verdict{
	"inproc": {
		"a stalled consumer's message is redelivered after the lease": verify.Holds,
	},
	"redis": {
		"a stalled consumer's message is redelivered after the lease": verify.Holds,
	},
	"rabbitmq": {
		"a stalled consumer's message is redelivered after the lease": verify.DoesNotHold,
	},
}

func TestVerifyEveryBackend(t *testing.T) {
	for _, b := range backendsToVerify(t) {
		t.Run(b.be.Name, func(t *testing.T) {
			if !b.be.Embedded {
				t.Parallel()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cfg := backends.Config{URL: b.url}
			if b.url != "" {
				testservices.Reachable(t, b.be, b.url)
			}
			start := time.Now()
			rows, err := verify.Run(ctx, b.be, cfg, verify.Options{Progress: testWriter{t}})
			if err != nil {
				t.Fatalf("Run: %v (rows %+v)", err, rows)
			}
			t.Logf("%s verified in %v", b.be.Name, time.Since(start).Round(time.Millisecond))
			if len(rows) != 7 {
				t.Fatalf("got %d rows, want 7: %+v", len(rows), rows)
			}
			byName := map[string]verify.Result{}
			for _, r := range rows {
				byName[r.Scenario] = r
				t.Logf("%-62s %-13s %-40s %s", r.Scenario, r.Verdict, r.Figure, r.Note)
				if r.Figure == "" || r.Note == "" || r.DurationMS < 0 {
					t.Errorf("%s: empty figure or note, or negative duration: %+v", r.Scenario, r)
				}
			}
			// Every backend keeps the SPEC's delivery semantics.
			for _, s := range []string{"redelivery after a consumer dies", "lease extension keeps a message",
				"delayed retry accuracy", "dead letters listed and replayed"} {
				if got := byName[s].Verdict; got != verify.Holds {
					t.Errorf("%s: verdict %q, want %q (%+v)", s, got, verify.Holds, byName[s])
				}
			}
			if got := byName["durability across a broker restart"].Verdict; got != verify.NotMeasured {
				t.Errorf("durability without a restart command: %q, want %q", got, verify.NotMeasured)
			}
			for s, want := range expected[b.be.Name] {
				if got := byName[s].Verdict; got != want {
					t.Errorf("%s: verdict %q, want %q (%+v)", s, got, want, byName[s])
				}
			}
			if r := byName["redelivery after a consumer dies"]; r.DurationMS > 15000 {
				t.Errorf("redelivery took %dms, want well under 15s", r.DurationMS)
			}
		})
	}
}

// A broker that does not answer is an error wrapping ErrUnreachable, no
// rows. The address is a closed port on loopback.
func TestVerifyUnreachable(t *testing.T) {
	for _, be := range all.Registry().Backends() {
		if be.URL == nil || !strings.Contains(be.URL.Default, "127.0.0.1:") {
			continue
		}
		t.Run(be.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			i := strings.Index(be.URL.Default, "127.0.0.1:")
			url := be.URL.Default[:i] + "127.0.0.1:1" + strings.TrimLeft(be.URL.Default[i+len("127.0.0.1:"):], "0123456789")
			rows, err := verify.Run(ctx, be, backends.Config{URL: url}, verify.Options{})
			if !errors.Is(err, backends.ErrUnreachable) || len(rows) != 0 {
				t.Fatalf("Run on %s: rows %v, err %v; want no rows and ErrUnreachable", url, rows, err)
			}
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	if os.Getenv("VERIFY_PROGRESS") != "" {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// Durability is measured with a restart command: a private redis-server
// (not the shared one) killed with SIGKILL and started again, once with
// an append-only file (everything survives) and once with no persistence
// at all (nothing does).
func TestVerifyDurabilityAcrossARestart(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		testservices.Unavailable(t, "redis-server binary", "PATH", err)
	}
	be, err := all.Registry().Resolve("redis://")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		appendonly string
		want       verify.Verdict
		figure     string
	}{
		{"append-only file", "yes", verify.Holds, "20 of 20 survived"},
		{"no persistence", "no", verify.DoesNotHold, "0 of 20 survived"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			port := 20000 + rand.IntN(20000)
			start := fmt.Sprintf("redis-server --port %d --dir %s --appendonly %s --save '' --daemonize yes --pidfile %s/pid", port, dir, tt.appendonly, dir)
			if out, err := exec.Command("sh", "-c", start).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", start, err, out)
			}
			t.Cleanup(func() { exec.Command("sh", "-c", "kill $(cat "+dir+"/pid)").Run() })
			restart := fmt.Sprintf("kill -9 $(cat %s/pid); sleep 0.3; %s", dir, start)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
			var rows []verify.Result
			for range 50 { // the daemon takes a moment to listen
				if rows, err = verify.Run(ctx, be, backends.Config{URL: url}, verify.Options{RestartCmd: restart}); !errors.Is(err, backends.ErrUnreachable) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			got := rows[len(rows)-1]
			if got.Scenario != "durability across a broker restart" || got.Verdict != tt.want || got.Figure != tt.figure {
				t.Errorf("got %+v, want verdict %q, figure %q", got, tt.want, tt.figure)
			}
		})
	}
}
