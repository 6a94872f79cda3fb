package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/internal/config"
	"github.com/palantir-lab/palantir/ops"
)

// parse runs a command's flag parsing and validation with runF capturing
// the options instead of doing the work.
func parse(t *testing.T, build func(a *app) *cobra.Command, args ...string) error {
	t.Helper()
	return parseOn(t, "redis", build, args...)
}

// parseOn is parse with the global --backend set to backend.
func parseOn(t *testing.T, backend string, build func(a *app) *cobra.Command, args ...string) error {
	t.Helper()
	a := newApp(streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	cfg := config.Config{Backend: backend, Queue: "missions", Output: "table", LogLevel: "warn", Lease: 30e9, Store: "x.db"}
	if err := a.configure(cfg, "launch"); err != nil {
		t.Fatal(err)
	}
	cmd := build(a)
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })
	return cmd.ExecuteContext(context.Background())
}

func TestLaunchFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want launchOptions
		code int // exit status of a parse error
	}{
		{name: "defaults", args: []string{"raven"},
			want: launchOptions{LaunchRequest: ops.LaunchRequest{Types: []string{"raven"}, Count: 1, FailRate: 0.2, MaxAttempts: 3, Speed: 1}, Workers: 2}},
		{name: "everything", args: []string{"recon", "consult", "-n", "3", "--hero", "gandalf", "--fail-rate", "0", "--max-attempts", "5", "--speed", "10", "--seed", "42", "-w", "--workers", "4"},
			want: launchOptions{LaunchRequest: ops.LaunchRequest{Types: []string{"recon", "consult"}, Count: 3, Hero: "gandalf", MaxAttempts: 5, Speed: 10, Seed: 42, SeedSet: true}, Wait: true, Workers: 4}},
		{name: "seed zero is still a seed", args: []string{"raven", "--seed", "0"},
			want: launchOptions{LaunchRequest: ops.LaunchRequest{Types: []string{"raven"}, Count: 1, FailRate: 0.2, MaxAttempts: 3, Speed: 1, SeedSet: true}, Workers: 2}},
		{name: "count zero", args: []string{"raven", "-n", "0"}, code: exitUsage},
		{name: "negative fail rate", args: []string{"raven", "--fail-rate", "-0.1"}, code: exitUsage},
		{name: "too many workers", args: []string{"raven", "--workers", "65"}, code: exitUsage},
		{name: "max attempts zero", args: []string{"raven", "--max-attempts", "0"}, code: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got launchOptions
			err := parse(t, func(a *app) *cobra.Command {
				return newLaunchCmd(a, func(_ context.Context, _ *app, o launchOptions) error { got = o; return nil })
			}, tt.args...)
			if code := exitCode(err); code != tt.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.code)
			}
			if tt.code == 0 {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("options (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestWorkerFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want workerOptions
		code int
	}{
		{name: "named", args: []string{"--name", "eagle1", "-c", "4", "--max-missions", "10", "-q"},
			want: workerOptions{Name: "eagle1", Concurrency: 4, Prefetch: 4, MaxMissions: 10, Quiet: true}},
		{name: "prefetch above concurrency", args: []string{"--name", "x", "-c", "2", "--prefetch", "64"},
			want: workerOptions{Name: "x", Concurrency: 2, Prefetch: 64}},
		{name: "prefetch below concurrency", args: []string{"--name", "x", "-c", "4", "--prefetch", "2"}, code: exitUsage},
		{name: "zero concurrency", args: []string{"--name", "x", "-c", "0"}, code: exitUsage},
		{name: "negative max", args: []string{"--name", "x", "--max-missions", "-1"}, code: exitUsage},
		{name: "stray argument", args: []string{"eagle1"}, code: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got workerOptions
			err := parse(t, func(a *app) *cobra.Command {
				return newWorkerCmd(a, func(_ context.Context, _ *app, o workerOptions) error { got = o; return nil })
			}, tt.args...)
			if code := exitCode(err); code != tt.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.code)
			}
			if tt.code == 0 {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("options (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestHistoryFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		code  int
		check func(t *testing.T, o historyOptions)
	}{
		{name: "filters", args: []string{"--type", "recon", "--status", "failure", "--hero", "frodo", "--worker", "eagle1", "--backend", "redis", "--limit", "5"},
			check: func(t *testing.T, o historyOptions) {
				f := o.Filter
				if f.Type != "recon" || f.Status != "failure" || f.Hero != "frodo" || f.Worker != "eagle1" || f.Backend != "redis" || f.Limit != 5 {
					t.Errorf("filter %+v", f)
				}
			}},
		{name: "since in days", args: []string{"--since", "2d"},
			check: func(t *testing.T, o historyOptions) {
				if o.Filter.Since.IsZero() {
					t.Error("--since 2d not turned into a time")
				}
			}},
		{name: "a typo of a known type", args: []string{"--type", "ravn"}, code: exitUsage},
		{name: "not a type name", args: []string{"--type", "Dragon!"}, code: exitUsage},
		{name: "a type only a plan knows", args: []string{"--type", "dragon"}, code: 0},
		{name: "negative limit", args: []string{"--limit", "-1"}, code: exitUsage},
		{name: "bad since", args: []string{"--since", "-5m"}, code: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got historyOptions
			err := parse(t, func(a *app) *cobra.Command {
				return newHistoryCmd(a, func(_ context.Context, _ *app, o historyOptions) error { got = o; return nil })
			}, tt.args...)
			if code := exitCode(err); code != tt.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.code)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

// TestLaunchValidateDoesNotExpandCount guards the launch's flat memory:
// validating --count 1000000 once expanded a million types, which put
// launch's peak RSS at 85 MB for 1M missions against 36 MB for 200k.
func TestLaunchValidateDoesNotExpandCount(t *testing.T) {
	o := launchOptions{LaunchRequest: ops.LaunchRequest{Types: []string{"raven", "fellowship"}, Count: 1_000_000, FailRate: 0.2, MaxAttempts: 3, Speed: 1}, Workers: 2}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := o.validate(256 << 10); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("validate of --count 1000000 allocated %d bytes, want under 1 MiB", n)
	}
}
