package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
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
