package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/palantir-lab/palantir/ops"
)

// TestQueueCommands: pause, resume and list, each change said once and
// idempotent; status marks a paused queue.
func TestQueueCommands(t *testing.T) {
	dir := t.TempDir()
	cli(t, dir, "launch", "raven", "--backend", "sqlite", "--queue", "lab")
	steps := []struct {
		args []string
		want string // on stderr
	}{
		{[]string{"queue", "pause"}, "paused queue lab on sqlite"},
		{[]string{"queue", "pause"}, "queue lab on sqlite was paused already"},
		{[]string{"queue", "resume"}, "resumed queue lab on sqlite"},
		{[]string{"queue", "resume"}, "queue lab on sqlite was not paused"},
		{[]string{"queue", "pause"}, "paused queue lab on sqlite"},
	}
	for _, s := range steps {
		r := cli(t, dir, append(s.args, "--backend", "sqlite", "--queue", "lab")...)
		if r.code != 0 || !strings.Contains(r.err, s.want) {
			t.Fatalf("%v: exit %d, stderr %q; want 0 and %q", s.args, r.code, r.err, s.want)
		}
	}
	var sw struct {
		Backend, Queue  string
		Paused, Changed bool
	}
	if r := cli(t, dir, "queue", "resume", "--backend", "sqlite", "--queue", "lab", "-o", "json"); r.code != 0 || json.Unmarshal([]byte(r.out), &sw) != nil ||
		sw.Backend != "sqlite" || sw.Queue != "lab" || sw.Paused || !sw.Changed {
		t.Errorf("queue resume -o json: exit %d %q", r.code, r.out)
	}
	cli(t, dir, "queue", "pause", "--backend", "sqlite", "--queue", "lab")
	r := cli(t, dir, "queue", "list", "-o", "json")
	qs := decode[[]ops.Queue](t, r)
	if len(qs) != 1 || qs[0].Backend != "sqlite" || qs[0].Queue != "lab" || !qs[0].Paused || qs[0].PausedAt == nil || qs[0].Unfinished != 1 || qs[0].Total != 1 {
		t.Errorf("queue list -o json = %+v", qs)
	}
	if out := cli(t, dir, "queue", "list").out; !strings.Contains(out, "paused") || !strings.Contains(out, "lab") {
		t.Errorf("queue list:\n%s", out)
	}
	rows := decode[[]ops.StatusRow](t, cli(t, dir, "status", "--backend", "sqlite", "--queue", "lab", "-o", "json"))
	for _, row := range rows {
		if row.Group == "queue" && !row.Paused {
			t.Errorf("status queue row %+v, want paused", row)
		}
	}
	if out := cli(t, dir, "status", "--backend", "sqlite", "--queue", "lab").out; !strings.Contains(out, "lab (paused)") {
		t.Errorf("status table does not mark the paused queue:\n%s", out)
	}
	if r := cli(t, dir, "queue", "frobnicate"); r.code != 2 {
		t.Errorf("queue frobnicate: exit %d, want 2", r.code)
	}
}
