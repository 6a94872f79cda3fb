package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/palantir-lab/palantir/ops"
)

// complete asks palantir what the shell would offer after args (the last
// one being the word typed so far), as the completion scripts do.
func complete(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	r := cli(t, dir, append([]string{"__complete"}, args...)...)
	if r.code != 0 {
		t.Fatalf("__complete %v: exit %d: %s", args, r.code, r.err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
		if line == "" || strings.HasPrefix(line, ":") {
			continue // the directive
		}
		out = append(out, strings.SplitN(line, "\t", 2)[0])
	}
	return out
}

// Completion offers flag values and mission ids, not only command names
// and mission types.
func TestCompletionOffersValuesAndIDs(t *testing.T) {
	dir := t.TempDir()
	ms := decode[[]ops.Mission](t, cli(t, dir, "launch", "raven", "--speed", "50", "--fail-rate", "0", "-o", "json"))
	cfg := filepath.Join(dir, "palantir.yaml")
	if err := os.WriteFile(cfg, []byte("missions:\n  heist:\n    stages: [{name: a, duration: 1s}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PALANTIR_CONFIG", cfg)
	tests := []struct {
		args []string
		want []string // each must be offered
		not  []string // none of these may be
	}{
		{[]string{"history", "--status", ""}, []string{"SUCCESS", "FAILURE", "QUEUED"}, nil},
		{[]string{"history", "--type", ""}, []string{"recon", "consult", "raven"}, []string{"fellowship"}},
		{[]string{"history", "--hero", "fr"}, []string{"frodo"}, []string{"sam"}},
		{[]string{"status", "--backend", ""}, []string{"inproc", "redis", "rabbitmq", "nats", "postgres", "sqlite"}, nil},
		{[]string{"history", "-o", ""}, []string{"table", "json"}, nil},
		{[]string{"trace", ""}, []string{ms[0].ID}, nil},
		{[]string{"status", ms[0].ID[:3]}, []string{ms[0].ID}, nil},
		{[]string{"launch", "fel"}, []string{"fellowship"}, nil},
		{[]string{"launch", "raven", "--plan", ""}, []string{"yaml", "yml"}, nil}, // the extensions the shell filters files by
		{[]string{"launch", "he"}, []string{"heist"}, []string{"raven"}},          // the config's own types
		{[]string{"history", "--type", ""}, []string{"raven", "heist"}, nil},
	}
	for _, tt := range tests {
		got := complete(t, dir, tt.args...)
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("completing %q offers %v, want %s among them", tt.args, got, w)
			}
		}
		for _, w := range tt.not {
			if slices.Contains(got, w) {
				t.Errorf("completing %q offers %s", tt.args, w)
			}
		}
	}
}
