package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palantir-lab/palantir/backends/all"
	"github.com/palantir-lab/palantir/bench"
)

// benchCLI runs palantir in dir without cli's --store (which bench would
// take as its own): bench must not need one.
func benchCLI(t *testing.T, dir string, args ...string) result {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code := run(context.Background(), args, streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return result{code: code, out: out.String(), err: errb.String()}
}

// holdable are the registered backends that bench's store can hold: all
// but those that keep their queue in a database of another kind.
func holdable(store string) []string {
	if store == "" {
		store = "bench.db"
	}
	var names []string
	for _, b := range all.Registry().Backends() {
		if b.FromStore != nil {
			_, onStore := b.FromStore(store)
			_, onFile := b.FromStore("bench.db") // bench gives such a row a SQLite store of its own
			if onStore != nil && onFile != nil {
				continue
			}
		}
		names = append(names, b.Name)
	}
	return names
}

func TestBenchFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want benchOptions
	}{
		{"defaults", nil, benchOptions{Backends: holdable(""), Missions: 10000,
			Concurrency: 4, Payload: 256}},
		{"defaults with a PostgreSQL store", []string{"--store", "postgres://h/db"}, benchOptions{Backends: holdable("postgres://h/db"),
			Missions: 10000, Concurrency: 4, Payload: 256, Store: "postgres://h/db"}},
		{"everything", []string{"--backends", "inproc,redis://h:1/0", "-n", "5", "-c", "8", "--payload", "0",
			"--rate", "2000", "--store", "none", "--report", "r.html", "--cpuprofile", "cpu.out"},
			benchOptions{Backends: []string{"inproc", "redis://h:1/0"}, Missions: 5, Concurrency: 8, Payload: 0,
				Rate: 2000, Store: "none", Report: "r.html", CPUProfile: "cpu.out"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got benchOptions
			cmd := newBenchCmd(newApp(streams{}), func(_ context.Context, _ *app, o benchOptions) error {
				got = o
				return nil
			})
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBenchInprocJSONAndReport(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "bench.html")
	r := benchCLI(t, dir, "bench", "--backends", "inproc", "--missions", "200", "-o", "json", "--report", report)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr: %s", r.code, r.err)
	}
	rows := decode[[]bench.Result](t, r)
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1: %s", len(rows), r.out)
	}
	row := rows[0]
	if row.Backend != "inproc" || row.Missions != 200 || row.Lost != 0 || row.MissionsPerSec <= 0 || row.Error != "" {
		t.Errorf("row %+v: want inproc, 200 missions, none lost, a rate, no error", row)
	}
	for _, key := range []string{`"missions_per_sec"`, `"ceiling_msgs_per_sec"`, `"ratio_to_ceiling"`, `"end_to_end_ms"`,
		`"p99"`, `"queue_wait_ms"`, `"publish_ms"`, `"peak_memory_mb"`, `"cpu_seconds"`, `"duration_seconds"`, `"error"`} {
		if !strings.Contains(r.out, key) {
			t.Errorf("JSON has no %s", key)
		}
	}
	html, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	if !strings.Contains(page, "<svg") || !strings.Contains(page, "<polyline") {
		t.Errorf("report has no inline SVG charts")
	}
	for _, external := range []string{"<script", `src="http`, `href="http`, "@import"} {
		if strings.Contains(page, external) {
			t.Errorf("report loads something from outside (%s)", external)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "palantir.db")); err == nil {
		t.Errorf("bench wrote palantir.db in the working directory")
	}
	// A report read later, elsewhere, says where and how it was made.
	host, _ := os.Hostname()
	for _, want := range []string{"host " + host, "palantir " + buildVersion().Version,
		"palantir bench --backends inproc --missions 200 -o json --report " + report, fmt.Sprintf("%d cores", runtime.NumCPU())} {
		if !strings.Contains(page, want) {
			t.Errorf("report does not say %q", want)
		}
	}
}

func TestBenchMarkdown(t *testing.T) {
	r := benchCLI(t, t.TempDir(), "bench", "--backends", "inproc", "--missions", "50", "--store", "none", "-o", "markdown")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr: %s", r.code, r.err)
	}
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[2], "| BACKEND |") || !strings.HasPrefix(lines[4], "| inproc |") {
		t.Errorf("markdown output:\n%s\nwant a caption, a blank line, a header, a rule and one row", r.out)
	}
}

func TestBenchUnreachableBrokerExitsThree(t *testing.T) {
	r := benchCLI(t, t.TempDir(), "bench", "--backends", "inproc,redis://127.0.0.1:1/0", "--missions", "20", "-o", "json")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3; stderr: %s", r.code, r.err)
	}
	rows := decode[[]bench.Result](t, r)
	if len(rows) != 2 || rows[0].Error != "" || rows[1].Error == "" || rows[1].Backend != "redis" {
		t.Errorf("rows %+v: want inproc measured and redis with its error", rows)
	}
	if !strings.Contains(r.err, "unreachable") || !strings.Contains(r.err, "127.0.0.1:1") {
		t.Errorf("stderr %q does not say which broker was unreachable", r.err)
	}
}

func TestBenchUsageErrorsExitTwo(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown backend", []string{"bench", "--backends", "inproc,kafka"}, "known: inproc, redis, rabbitmq"},
		{"unknown scheme", []string{"bench", "--backends", "kafka://x"}, "kafka"},
		{"no missions", []string{"bench", "--missions", "0"}, "--missions"},
		{"no concurrency", []string{"bench", "--concurrency", "0"}, "--concurrency"},
		{"too much concurrency", []string{"bench", "--concurrency", "1025"}, "--concurrency"},
		{"prefetch below concurrency", []string{"bench", "-c", "4", "--prefetch", "2"}, "--prefetch"},
		{"negative payload", []string{"bench", "--payload", "-1"}, "--payload"},
		{"huge payload", []string{"bench", "--payload", "1048577"}, "--payload"},
		{"too much memory", []string{"bench", "--missions", "100000", "--payload", "1048576"}, "1 GiB"},
		{"negative rate", []string{"bench", "--rate", "-5"}, "--rate"},
		{"an argument", []string{"bench", "redis"}, "bench"},
		{"markdown elsewhere", []string{"history", "-o", "markdown"}, "markdown is for 'palantir bench'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := benchCLI(t, t.TempDir(), tt.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", r.code, r.err)
			}
			if lines := strings.Count(strings.TrimSpace(r.err), "\n") + 1; lines != 1 || !strings.Contains(r.err, tt.want) {
				t.Errorf("stderr %q: want one line containing %q", r.err, tt.want)
			}
			if r.out != "" {
				t.Errorf("stdout not empty on error: %q", r.out)
			}
		})
	}
}

// A ratio under 0.005 printed as 0.00 read like a failure (inproc against
// its channel's ceiling of millions a second): it says how small it is.
func TestBenchRatioCell(t *testing.T) {
	for ratio, want := range map[float64]string{0.42: "0.42", 0.004: "<0.01", 0: "0.00", 1.3: "1.30"} {
		r := bench.Result{Backend: "inproc", MissionsPerSec: 1, CeilingMsgsPerSec: 1, RatioToCeiling: ratio}
		if got := benchCells(r, []bench.Result{r})[3]; got != want {
			t.Errorf("ratio %g shown as %q, want %q", ratio, got, want)
		}
	}
}
