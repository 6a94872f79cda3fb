package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
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

func TestDLQReplayValidate(t *testing.T) {
	testOptions(t, newDLQReplayCmd, []optionsCase{
		{name: "all", want: replayOptions{IDs: []string{}, Workers: 2}},
		{name: "ids and wait", args: []string{"bhqj51", "r54n", "-w", "--workers", "64"}, want: replayOptions{IDs: []string{"bhqj51", "r54n"}, Wait: true, Workers: 64}},
		{name: "no workers", args: []string{"--workers", "0"}, code: exitUsage, msg: "--workers must be between 1 and 64, got 0"},
		{name: "too many workers", args: []string{"--workers", "65"}, code: exitUsage, msg: "--workers must be between 1 and 64, got 65"},
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
