package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/ops"
)

// TestCancelCommand: cancel ends a queued mission (here on the sqlite
// queue, with no worker), says so, leaves an ended one as it is, and
// refuses an unknown id with exit 2.
func TestCancelCommand(t *testing.T) {
	dir := t.TempDir()
	launched := cli(t, dir, "launch", "recon", "raven", "--backend", "sqlite")
	ids := strings.Fields(launched.out)
	if launched.code != 0 || len(ids) != 2 {
		t.Fatalf("launch: exit %d, %q %s", launched.code, launched.out, launched.err)
	}
	r := cli(t, dir, "cancel", ids[0][:6], ids[0], "--backend", "sqlite", "-o", "json") // the same mission twice
	ms := decode[[]ops.Mission](t, r)
	if r.code != 0 || len(ms) != 1 || ms[0].ID != ids[0] || ms[0].Status != "FAILURE" || ms[0].Error != "cancelled" {
		t.Fatalf("cancel %s: exit %d, %+v, %s", ids[0][:6], r.code, ms, r.err)
	}
	r = cli(t, dir, "cancel", ids[0], ids[1], "--backend", "sqlite")
	if r.code != 0 || !strings.Contains(r.err, ids[0]+" had already ended (FAILURE)") || !strings.Contains(r.out, ids[1]) || strings.Count(r.out, "\n") != 2 {
		t.Errorf("cancel of an ended and a queued mission: exit %d\nstdout %s\nstderr %s", r.code, r.out, r.err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cancel"}, "cancel needs a mission ID"},
		{[]string{"cancel", "zzzzzz"}, "no such mission"},
	} {
		if r := cli(t, dir, tc.args...); r.code != 2 || !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, r.code, r.err, tc.want)
		}
	}
	if hist := cli(t, dir, "history", "--status", "QUEUED", "-o", "json"); len(decode[[]ops.Mission](t, hist)) != 0 {
		t.Errorf("missions still QUEUED after cancel: %s", hist.out)
	}
}

// TestLaunchUniqueFor: within the window a second launch of the same type
// and hero publishes nothing and names the mission that holds its place.
func TestLaunchUniqueFor(t *testing.T) {
	dir := t.TempDir()
	first := cli(t, dir, "launch", "raven", "--hero", "frodo", "--unique-for", "1m", "--backend", "sqlite")
	ids := strings.Fields(first.out)
	if first.code != 0 || len(ids) != 1 {
		t.Fatalf("first launch: exit %d %q %s", first.code, first.out, first.err)
	}
	second := cli(t, dir, "launch", "raven", "--hero", "frodo", "--unique-for", "1m", "--backend", "sqlite", "-o", "json")
	if plain := cli(t, dir, "launch", "raven", "--hero", "frodo", "--unique-for", "1m", "--backend", "sqlite"); !strings.Contains(plain.err, "nothing launched") || strings.Contains(plain.err, "launched 0") {
		t.Errorf("a launch that skipped everything says: %q", plain.err)
	}
	if waited := cli(t, dir, "launch", "raven", "--hero", "frodo", "--unique-for", "1m", "--backend", "sqlite", "--wait"); waited.code != 0 || waited.out != "" {
		t.Errorf("--wait with everything skipped: exit %d, stdout %q; want 0 and nothing", waited.code, waited.out)
	}
	if second.code != 0 || len(decode[[]ops.Mission](t, second)) != 0 || !strings.Contains(second.err, "mission "+ids[0]+" holds its place") {
		t.Errorf("second launch: exit %d\nstdout %s\nstderr %s\nwant 0, [], and the holder named", second.code, second.out, second.err)
	}
	if r := cli(t, dir, "launch", "raven", "--unique-for", "-1s"); r.code != 2 || !strings.Contains(r.err, "--unique-for") {
		t.Errorf("--unique-for -1s: exit %d %q", r.code, r.err)
	}
}

// TestHistoryByATypeOnlyTheStoreKnows: a type launched from a plan file
// is a type history filters by without the plan; a near miss of a known
// type is still a typo.
func TestHistoryByATypeOnlyTheStoreKnows(t *testing.T) {
	dir := t.TempDir()
	plan := dir + "/plan.yaml"
	writeFile(t, plan, "missions:\n  heist:\n    stages: [{name: a, duration: 1s}]\n")
	if r := cli(t, dir, "launch", "heist", "--plan", plan, "--backend", "sqlite"); r.code != 0 {
		t.Fatalf("launch: exit %d %s", r.code, r.err)
	}
	r := cli(t, dir, "history", "--type", "heist", "-o", "json")
	if ms := decode[[]ops.Mission](t, r); r.code != 0 || len(ms) != 1 || ms[0].Type != "heist" {
		t.Errorf("history --type heist without the plan: exit %d, %s %s", r.code, r.out, r.err)
	}
	if r := cli(t, dir, "history", "--type", "ravn"); r.code != 2 || !strings.Contains(r.err, "did you mean raven") {
		t.Errorf("history --type ravn: exit %d %q, want 2 suggesting raven", r.code, r.err)
	}
	if r := cli(t, dir, "launch", "heist"); r.code != 2 || !strings.Contains(r.err, "--plan") {
		t.Errorf("launch heist without its plan: exit %d %q, want 2 pointing at --plan", r.code, r.err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLaunchLater: --in keeps the missions PENDING with nothing published;
// on inproc, where launch runs the workers, they run once due.
func TestLaunchLater(t *testing.T) {
	dir := t.TempDir()
	r := cli(t, dir, "launch", "raven", "--in", "1h", "--backend", "sqlite")
	ids := strings.Fields(r.out)
	if r.code != 0 || len(ids) != 1 || !strings.Contains(r.err, "due") {
		t.Fatalf("launch --in 1h: exit %d %q %s", r.code, r.out, r.err)
	}
	if ms := decode[[]ops.Mission](t, cli(t, dir, "status", ids[0], "-o", "json")); ms[0].Status != "PENDING" {
		t.Errorf("a mission due in an hour is %s, want PENDING", ms[0].Status)
	}
	start := time.Now()
	r = cli(t, dir, "launch", "raven", "--in", "1500ms", "--speed", "50", "--fail-rate", "0", "-o", "json")
	ms := decode[[]ops.Mission](t, r)
	if took := time.Since(start); r.code != 0 || len(ms) != 1 || ms[0].Status != "SUCCESS" || took < 1500*time.Millisecond {
		t.Errorf("inproc launch --in 1500ms: exit %d, %+v after %v; want SUCCESS after 1.5 s or more", r.code, ms, took)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"launch", "raven", "--in", "-1s"}, "--in"},
		{[]string{"launch", "raven", "--in", "1000h"}, "--in"},
		{[]string{"launch", "raven", "--at", "yesterday"}, "--at"},
		{[]string{"launch", "raven", "--at", "2001-01-01T00:00:00Z"}, "past"},
		{[]string{"launch", "raven", "--in", "1m", "--at", "23:59"}, "not both"},
		{[]string{"launch", "raven", "--in", "0s"}, "above 0"},
		{[]string{"launch", "raven", "--at", ""}, "--at needs a TIME"},
	} {
		if r := cli(t, dir, tc.args...); r.code != 2 || !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: exit %d %q, want 2 and %q", tc.args, r.code, r.err, tc.want)
		}
	}
}
