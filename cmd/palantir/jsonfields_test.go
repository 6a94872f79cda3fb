package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestJSONFields: --json FIELDS prints JSON with only those fields of each
// object, as gh does; an unknown field is a usage error naming the ones
// there are.
func TestJSONFields(t *testing.T) {
	dir := t.TempDir()
	launched := cli(t, dir, "launch", "raven", "--count", "2", "--backend", "sqlite", "--json", "id,status")
	var objs []map[string]any
	if err := json.Unmarshal([]byte(launched.out), &objs); err != nil || len(objs) != 2 {
		t.Fatalf("launch --json id,status: %v %q %s", err, launched.out, launched.err)
	}
	for _, o := range objs {
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"id", "status"}) {
			t.Errorf("launch object keys %v, want id and status", keys)
		}
	}
	r := cli(t, dir, "history", "--json", "id,hero")
	objs = nil
	if err := json.Unmarshal([]byte(r.out), &objs); err != nil || len(objs) != 2 || len(objs[0]) != 2 || objs[0]["hero"] == nil {
		t.Errorf("history --json id,hero: %v %q", err, r.out)
	}
	if r := cli(t, dir, "history", "--json", "id,colour"); r.code != 2 || !strings.Contains(r.err, `"colour"`) || !strings.Contains(r.err, "status") {
		t.Errorf("an unknown field: exit %d %q, want 2 naming it and the fields there are", r.code, r.err)
	}
	before := cli(t, dir, "history", "-o", "json").out
	if r := cli(t, dir, "launch", "raven", "--backend", "sqlite", "--json", "id,colour"); r.code != 2 || r.out != "" {
		t.Errorf("launch with an unknown --json field: exit %d, stdout %q; want 2 and nothing", r.code, r.out)
	}
	if after := cli(t, dir, "history", "-o", "json").out; after != before {
		t.Errorf("a launch refused for its --json field launched missions anyway")
	}
	if r := cli(t, dir, "history", "--json", "id", "-o", "table"); r.code != 2 {
		t.Errorf("--json with -o table: exit %d, want 2", r.code)
	}
}

// TestTemplate: --template formats the JSON document with a Go template,
// as gh's does: JSON field names, tablerow aligned, numbers as written;
// a bad template is a usage error said before a launch publishes.
func TestTemplate(t *testing.T) {
	dir := t.TempDir()
	launched := cli(t, dir, "launch", "raven", "--count", "2", "--backend", "sqlite", "--hero", "frodo",
		"--template", `{{range .}}{{tablerow .id .hero .max_attempts}}{{end}}`)
	lines := strings.Split(strings.TrimSpace(launched.out), "\n")
	if launched.code != 0 || len(lines) != 2 {
		t.Fatalf("launch --template: exit %d %q %s", launched.code, launched.out, launched.err)
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) != 3 || f[1] != "frodo" || f[2] != "3" {
			t.Errorf("row %q, want ID frodo 3", l)
		}
	}
	cli(t, dir, "launch", "consult", "--backend", "sqlite", "--hero", "frodo")
	rows := cli(t, dir, "history", "--template", `{{range .}}{{tablerow .type .id}}{{end}}`).out
	var starts []int
	for _, l := range strings.Split(strings.TrimSpace(rows), "\n") {
		starts = append(starts, len(l)-12) // where the id begins
	}
	if len(starts) != 3 || starts[0] != starts[1] || starts[1] != starts[2] {
		t.Errorf("tablerow did not align the ids after types of two lengths:\n%s", rows)
	}
	r := cli(t, dir, "history", "--json", "id,hero", "--template", `{{len .}} {{range .}}{{.hero}} {{json .}}{{end}}`)
	if r.code != 0 || !strings.HasPrefix(r.out, "3 frodo {") || strings.Contains(r.out, "status") {
		t.Errorf("history --json id,hero --template: exit %d %q %s", r.code, r.out, r.err)
	}
	before := cli(t, dir, "history", "-o", "json").out
	for _, bad := range [][]string{
		{"launch", "raven", "--backend", "sqlite", "--template", "{{.id"},
		{"launch", "raven", "--backend", "sqlite", "--template", "{{.id}}"}, // parses, but a launch prints a list
		{"history", "--json", "id", "--template", "{{range .}}{{.status}}{{end}}"},
		{"history", "--template", "{{.id}}", "-o", "table"},
		{"history", "--template", "{{nosuchfunc .}}"},
	} {
		if r := cli(t, dir, bad...); r.code != 2 || r.out != "" || !strings.Contains(r.err, "--template") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing, and a line naming --template", bad, r.code, r.out, r.err)
		}
	}
	if after := cli(t, dir, "history", "-o", "json").out; after != before {
		t.Error("a launch refused for its --template launched missions anyway")
	}
}

// TestTemplateFunctions: null fields are empty cells, truncate takes any
// width without a panic, and ago says "in" for a time to come.
func TestTemplateFunctions(t *testing.T) {
	dir := t.TempDir()
	cli(t, dir, "launch", "raven", "--backend", "sqlite", "--hero", "frodo")
	r := cli(t, dir, "history", "--template", `{{range .}}{{tablerow .hero .started_at "end"}}{{truncate -1 .id}}|{{truncate 3 .id}}{{end}}`)
	if r.code != 0 || strings.Contains(r.out, "nil") || !strings.Contains(r.out, "frodo") || !strings.Contains(r.out, "end") {
		t.Errorf("tablerow with a null cell, truncate: exit %d %q %s", r.code, r.out, r.err)
	}
	future := time.Now().Add(90 * time.Second).UTC().Format(time.RFC3339)
	if got := templateFuncs(nil, time.Now)["ago"].(func(any) string)(future); !strings.HasPrefix(got, "in ") {
		t.Errorf("ago of a time to come: %q, want in …", got)
	}
}

// TestStreamsTakeTemplatesAndFields: events --follow prints each event
// through --template (or --json FIELDS), and a template that cannot print
// ends a stream at once with exit 2, rather than being retried as if the
// store were away.
func TestStreamsTakeTemplatesAndFields(t *testing.T) {
	dir := t.TempDir()
	cli(t, dir, "launch", "raven", "--backend", "sqlite", "--hero", "frodo")
	stream := func(args ...string) (int, string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"--store", filepath.Join(dir, "palantir.db")}, args...), streams{In: strings.NewReader(""), Out: &out, Err: &errb})
		return code, out.String(), errb.String()
	}
	code, out, errs := stream("events", "--follow", "--limit", "0", "--template", `{{.event}}={{.attempt}}{{"\n"}}`)
	if code != 0 || !strings.Contains(out, "mission_invoked=1\n") || strings.Contains(out, "{") {
		t.Errorf("events --follow --template: exit %d %q %s", code, out, errs)
	}
	code, out, _ = stream("events", "--follow", "--limit", "0", "--json", "event")
	if line := strings.SplitN(out, "\n", 2)[0]; code != 0 || !strings.HasPrefix(line, `{"event":`) || strings.Contains(line, "mission_id") {
		t.Errorf("events --follow --json event: exit %d, first line %q", code, line)
	}
	for _, args := range [][]string{
		{"events", "--follow", "--template", "{{.nope}}"},
		{"status", "--watch", "--template", "{{.nope}}"},
	} {
		start := time.Now()
		if code, _, errs := stream(args...); code != 2 || time.Since(start) > time.Second || !strings.Contains(errs, "--template") {
			t.Errorf("%v: exit %d after %v, %q; want 2 at once naming --template", args, code, time.Since(start), errs)
		}
	}
}
