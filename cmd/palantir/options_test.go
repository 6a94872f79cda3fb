package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/chaos"
	"github.com/palantir-lab/palantir/store"
)

// optionsCase is one command line of a command's flag table: either
// rejected with exit code and the exact line palantir prints on stderr,
// or accepted (code 0) with the options its run function gets.
type optionsCase struct {
	name    string
	backend string // the global --backend (default redis)
	env     map[string]string
	args    []string
	code    int
	msg     string // the stderr line without "palantir: "
	want    any    // the options, when code is 0 (nil: not compared)
}

// errLine is what reportError prints for err, without the prefix.
func errLine(err error) string {
	var b bytes.Buffer
	reportError(&b, err)
	return strings.TrimSuffix(strings.TrimPrefix(b.String(), "palantir: "), "\n")
}

// testOptions runs each case through newCmd's parsing and validate(),
// with a run function that only records the options.
func testOptions[O any](t *testing.T, newCmd func(*app, func(context.Context, *app, O) error) *cobra.Command, tests []optionsCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			backend := tt.backend
			if backend == "" {
				backend = "redis"
			}
			var got O
			ran := false
			err := parseOn(t, backend, func(a *app) *cobra.Command {
				return newCmd(a, func(_ context.Context, _ *app, o O) error { got, ran = o, true; return nil })
			}, tt.args...)
			if code := exitCode(err); code != tt.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.code)
			}
			if tt.code != 0 {
				if line := errLine(err); line != tt.msg {
					t.Errorf("stderr line\n got: %s\nwant: %s", line, tt.msg)
				}
				if ran {
					t.Error("the run function ran after a rejected command line")
				}
				return
			}
			if !ran {
				t.Fatal("the run function did not run")
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("options (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestWorkerValidate(t *testing.T) {
	testOptions(t, newWorkerCmd, []optionsCase{
		{name: "prefetch defaults to concurrency", args: []string{"--name", "x", "-c", "3"},
			want: workerOptions{Name: "x", Concurrency: 3, Prefetch: 3}},
		{name: "metrics on loopback", env: map[string]string{"PALANTIR_TOKEN": ""}, args: []string{"--name", "x", "--metrics-addr", "127.0.0.1:9101"},
			want: workerOptions{Name: "x", Concurrency: 1, Prefetch: 1, MetricsAddr: "127.0.0.1:9101"}},
		{name: "metrics beyond loopback with a token", env: map[string]string{"PALANTIR_TOKEN": "t"}, args: []string{"--name", "x", "--metrics-addr", "0.0.0.0:9101"},
			want: workerOptions{Name: "x", Concurrency: 1, Prefetch: 1, MetricsAddr: "0.0.0.0:9101", Token: "t"}},
		{name: "inproc", backend: "inproc", code: exitUsage,
			msg: "worker: the inproc backend lives inside one process, so a separate worker cannot share it; use --backend redis or --backend rabbitmq or --backend nats or --backend postgres or --backend sqlite, or 'palantir launch', which runs embedded workers"},
		{name: "zero concurrency", args: []string{"-c", "0"}, code: exitUsage, msg: "--concurrency must be between 1 and 1024, got 0"},
		{name: "too much concurrency", args: []string{"-c", "1025"}, code: exitUsage, msg: "--concurrency must be between 1 and 1024, got 1025"},
		{name: "prefetch below concurrency", args: []string{"-c", "4", "--prefetch", "2"}, code: exitUsage,
			msg: "--prefetch must be between --concurrency (4) and 65535, got 2"},
		{name: "prefetch too high", args: []string{"--prefetch", "65536"}, code: exitUsage,
			msg: "--prefetch must be between --concurrency (1) and 65535, got 65536"},
		{name: "negative max missions", args: []string{"--max-missions", "-1"}, code: exitUsage, msg: "--max-missions must not be negative, got -1"},
		{name: "metrics addr without a port", args: []string{"--metrics-addr", "9101"}, code: exitUsage,
			msg: `--metrics-addr "9101": address 9101: missing port in address (use HOST:PORT, e.g. 127.0.0.1:8080)`},
		{name: "metrics beyond loopback without a token", env: map[string]string{"PALANTIR_TOKEN": ""}, args: []string{"--metrics-addr", "0.0.0.0:9101"}, code: exitUsage,
			msg: "--metrics-addr 0.0.0.0:9101 listens beyond this machine: set a token (PALANTIR_TOKEN, or serve's --token) so that only you can use it, or bind 127.0.0.1"},
	})
}

func TestEventsValidate(t *testing.T) {
	testOptions(t, newEventsCmd, []optionsCase{
		{name: "defaults", want: eventsOptions{Limit: 100}},
		{name: "everything", args: []string{"-m", "bhqj", "-f", "--limit", "0"}, want: eventsOptions{Mission: "bhqj", Follow: true}},
		{name: "negative limit", args: []string{"--limit", "-1"}, code: exitUsage, msg: "--limit must not be negative, got -1"},
		{name: "stray argument", args: []string{"bhqj"}, code: exitUsage, msg: "events: unknown command \"bhqj\" for \"events\" (see 'events --help')"},
	})
}

func TestDLQListValidate(t *testing.T) {
	testOptions(t, newDLQListCmd, []optionsCase{
		{name: "defaults", want: dlqListOptions{}},
		{name: "limit", args: []string{"--limit", "5"}, want: dlqListOptions{Limit: 5}},
		{name: "negative limit", args: []string{"--limit", "-1"}, code: exitUsage, msg: "--limit must not be negative, got -1"},
	})
}

func ptr[T any](v T) *T { return &v }

func TestDLQReplayValidate(t *testing.T) {
	testOptions(t, newDLQReplayCmd, []optionsCase{
		{name: "all", want: replayOptions{IDs: []string{}, Workers: 2}},
		{name: "ids and wait", args: []string{"bhqj51", "r54n", "-w", "--workers", "64"}, want: replayOptions{IDs: []string{"bhqj51", "r54n"}, Wait: true, Workers: 64}},
		{name: "no workers", args: []string{"--workers", "0"}, code: exitUsage, msg: "--workers must be between 1 and 64, got 0"},
		{name: "too many workers", args: []string{"--workers", "65"}, code: exitUsage, msg: "--workers must be between 1 and 64, got 65"},
		{name: "fail rate", args: []string{"--fail-rate", "0"}, want: replayOptions{IDs: []string{}, Workers: 2, Overrides: store.Overrides{FailRate: ptr(0.0)}}},
		{name: "every override", args: []string{"--fail-rate", "0.5", "--max-attempts", "5", "--speed", "10"},
			want: replayOptions{IDs: []string{}, Workers: 2, Overrides: store.Overrides{FailRate: ptr(0.5), MaxAttempts: ptr(5), Speed: ptr(10.0)}}},
		{name: "bad fail rate", args: []string{"--fail-rate", "1.5"}, code: exitUsage, msg: "--fail-rate must be between 0 and 1, got 1.5"},
		{name: "bad max attempts", args: []string{"--max-attempts", "0"}, code: exitUsage, msg: "--max-attempts must be between 1 and 100, got 0"},
		{name: "bad speed", args: []string{"--speed", "0"}, code: exitUsage, msg: "--speed must be between 0.001 and 100000, got 0"},
	})
}

func TestDLQDeleteValidate(t *testing.T) {
	testOptions(t, newDLQDeleteCmd, []optionsCase{
		{name: "ids", args: []string{"bhqj51"}, want: dlqDeleteOptions{IDs: []string{"bhqj51"}}},
		{name: "all", args: []string{"--all"}, want: dlqDeleteOptions{IDs: []string{}, All: true}},
		{name: "nothing", code: exitUsage, msg: "dlq delete needs ids of dead letters, or --all"},
		{name: "both", args: []string{"x1234", "--all"}, code: exitUsage, msg: "dlq delete takes ids or --all, not both"},
	})
}

func TestPurgeValidate(t *testing.T) {
	testOptions(t, newPurgeCmd, []optionsCase{
		{name: "yes", args: []string{"--yes"}, want: purgeOptions{Yes: true}},
		{name: "all", args: []string{"--all", "-y"}, want: purgeOptions{Yes: true, All: true}},
		{name: "plain purge on inproc", backend: "inproc", args: []string{"-y"}, want: purgeOptions{Yes: true}},
		{name: "all on inproc", backend: "inproc", args: []string{"--all", "--yes"}, code: exitUsage,
			msg: "purge --all: the inproc backend keeps nothing outside its process; plain purge empties it"},
		{name: "no terminal and no --yes", code: exitUsage, msg: `purge: refusing to empty redis queue "missions" without --yes`},
		{name: "stray argument", args: []string{"missions", "--yes"}, code: exitUsage,
			msg: `purge: unknown command "missions" for "purge" (see 'purge --help')`},
	})
}

func TestChaosKillValidate(t *testing.T) {
	neither := "chaos kill: name a worker (--worker NAME) or pick a busy one (--busy), one of the two"
	testOptions(t, newChaosKillCmd, []optionsCase{
		{name: "by name", args: []string{"--worker", "eagle1"}, want: chaosKillOptions{Worker: "eagle1"}},
		{name: "busy", args: []string{"--busy"}, want: chaosKillOptions{Busy: true}},
		{name: "neither", code: exitUsage, msg: neither},
		{name: "both", args: []string{"--worker", "eagle1", "--busy"}, code: exitUsage, msg: neither},
	})
}

func TestChaosPublishValidate(t *testing.T) {
	testOptions(t, newChaosPublishCmd, []optionsCase{
		{name: "malformed", args: []string{"malformed"}, want: chaosPublishOptions{Kind: chaos.BadKind("malformed"), Count: 1}},
		{name: "kind in capitals", args: []string{"OVERSIZED", "-n", "3"}, want: chaosPublishOptions{Kind: chaos.BadKind("oversized"), Count: 3}},
		{name: "unknown kind", args: []string{"poisoned"}, code: exitUsage,
			msg: `chaos publish: unknown kind of bad message "poisoned" (known: malformed, oversized, rejected)`},
		{name: "count zero", args: []string{"rejected", "-n", "0"}, code: exitUsage, msg: fmt.Sprintf("--count must be between 1 and %d, got 0", chaos.MaxBadCount)},
		{name: "count too high", args: []string{"rejected", "-n", fmt.Sprint(chaos.MaxBadCount + 1)}, code: exitUsage,
			msg: fmt.Sprintf("--count must be between 1 and %d, got %d", chaos.MaxBadCount, chaos.MaxBadCount+1)},
		{name: "inproc", backend: "inproc", args: []string{"malformed"}, code: exitUsage,
			msg: "chaos publish: the inproc backend lives inside one process, so there is no queue to publish to; use a broker (--backend redis or rabbitmq or nats or postgres or sqlite)"},
		{name: "no kind", code: exitUsage, msg: "publish: accepts 1 arg(s), received 0 (see 'publish --help')"},
	})
}

func TestChaosProxyValidate(t *testing.T) {
	required := "chaos proxy: --listen, --to and --control are required (e.g. --listen 127.0.0.1:16379 --to 127.0.0.1:6379 --control 127.0.0.1:16380)"
	testOptions(t, newChaosProxyCmd, []optionsCase{
		{name: "all three", env: map[string]string{controlEnv: ""}, args: []string{"--listen", "127.0.0.1:0", "--to", "127.0.0.1:6379", "--control", "127.0.0.1:0"},
			want: chaosProxyOptions{Listen: "127.0.0.1:0", To: "127.0.0.1:6379", Control: "127.0.0.1:0"}},
		{name: "control from the environment", env: map[string]string{controlEnv: "127.0.0.1:16380"}, args: []string{"--listen", "127.0.0.1:0", "--to", "127.0.0.1:6379"},
			want: chaosProxyOptions{Listen: "127.0.0.1:0", To: "127.0.0.1:6379", Control: "127.0.0.1:16380"}},
		{name: "none", env: map[string]string{controlEnv: ""}, code: exitUsage, msg: required},
		{name: "no target", env: map[string]string{controlEnv: ""}, args: []string{"--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"}, code: exitUsage, msg: required},
	})
}

func TestChaosProxyModeValidate(t *testing.T) {
	// A mode's --control is its proxy command's persistent flag.
	modes := func(a *app, runF func(context.Context, *app, chaosModeOptions) error) *cobra.Command {
		var p chaosProxyOptions
		proxy := &cobra.Command{Use: "proxy"}
		proxy.PersistentFlags().StringVar(&p.Control, "control", "", "")
		proxy.AddCommand(newChaosModeCmd(a, &p, "delay DURATION", "delay", chaos.ModeDelay, runF),
			newChaosModeCmd(a, &p, "cut", "cut", chaos.ModeCut, runF),
			newChaosModeCmd(a, &p, "state", "state", "", runF))
		return proxy
	}
	testOptions(t, modes, []optionsCase{
		{name: "delay", args: []string{"delay", "250ms", "--control", "127.0.0.1:1"},
			want: chaosModeOptions{Name: "delay", Mode: chaos.ModeDelay, Control: "127.0.0.1:1", Arg: "250ms", Delay: 250 * time.Millisecond}},
		{name: "control before the mode", args: []string{"--control", "127.0.0.1:1", "cut"},
			want: chaosModeOptions{Name: "cut", Mode: chaos.ModeCut, Control: "127.0.0.1:1"}},
		{name: "state", args: []string{"state", "--control", "127.0.0.1:1"}, want: chaosModeOptions{Name: "state", Control: "127.0.0.1:1"}},
		{name: "cut without control", args: []string{"cut"}, code: exitUsage,
			msg: "chaos proxy cut: --control is required (or $PALANTIR_CHAOS_CONTROL): the address the proxy was started with"},
		{name: "delay not a duration", args: []string{"delay", "soon", "--control", "127.0.0.1:1"}, code: exitUsage,
			msg: `chaos proxy delay: "soon" is not a positive duration (e.g. 250ms, 2s)`},
		{name: "delay zero", args: []string{"delay", "0s", "--control", "127.0.0.1:1"}, code: exitUsage,
			msg: `chaos proxy delay: "0s" is not a positive duration (e.g. 250ms, 2s)`},
		{name: "delay without a duration", args: []string{"delay", "--control", "127.0.0.1:1"}, code: exitUsage,
			msg: "delay: accepts 1 arg(s), received 0 (see 'proxy delay --help')"},
	})
}

// The commands whose flags have nothing to refuse still take an options
// struct through validate(); their arguments are checked by cobra.
func TestOptionsOfCommandsWithNothingToRefuse(t *testing.T) {
	t.Run("doctor", func(t *testing.T) {
		testOptions(t, newDoctorCmd, []optionsCase{
			{name: "no flags", want: doctorOptions{}},
			{name: "stray argument", args: []string{"redis"}, code: exitUsage, msg: `doctor: unknown command "redis" for "doctor" (see 'doctor --help')`},
		})
	})
	t.Run("leaderboard", func(t *testing.T) {
		testOptions(t, newLeaderboardCmd, []optionsCase{
			{name: "no flags", want: leaderboardOptions{}},
			{name: "stray argument", args: []string{"frodo"}, code: exitUsage, msg: `leaderboard: unknown command "frodo" for "leaderboard" (see 'leaderboard --help')`},
		})
	})
	t.Run("status", func(t *testing.T) {
		testOptions(t, newStatusCmd, []optionsCase{
			{name: "summary", want: statusOptions{IDs: []string{}}},
			{name: "ids and watch", args: []string{"bhqj51", "r54n", "-w"}, want: statusOptions{IDs: []string{"bhqj51", "r54n"}, Watch: true}},
		})
	})
	t.Run("trace", func(t *testing.T) {
		testOptions(t, newTraceCmd, []optionsCase{
			{name: "explain", args: []string{"bhqj51", "--explain"}, want: traceOptions{ID: "bhqj51", Explain: true}},
			{name: "no id", code: exitUsage, msg: "trace: accepts 1 arg(s), received 0 (see 'trace --help')"},
			{name: "two ids", args: []string{"bhqj", "r54n"}, code: exitUsage, msg: "trace: accepts 1 arg(s), received 2 (see 'trace --help')"},
		})
	})
	t.Run("gen-docs", func(t *testing.T) {
		testOptions(t, newGenDocsCmd, []optionsCase{
			{name: "everything", args: []string{"--man", "m", "--completions", "c", "--backends", "docs/backends.md"},
				want: genDocsOptions{Man: "m", Completions: "c", Backends: "docs/backends.md"}},
			{name: "stray argument", args: []string{"man"}, code: exitUsage, msg: `gen-docs: unknown command "man" for "gen-docs" (see 'gen-docs --help')`},
		})
	})
}
