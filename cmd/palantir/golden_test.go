package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/golden")

// shape describes a JSON document by its structure, not its values: the
// keys of every object with the type of each value, and the shape of an
// array's elements. Scripts rely on it (SPEC: "Output contract for
// scripts"); ids, times and counts differ from run to run.
func shape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			out[k] = shape(e)
		}
		return out
	case []any:
		if len(v) == 0 {
			return []any{}
		}
		// Elements of one array share a shape; null where one lacks a
		// value is folded into the union.
		shapes := []string{}
		for _, e := range v {
			b, _ := json.Marshal(shape(e))
			if !slices.Contains(shapes, string(b)) {
				shapes = append(shapes, string(b))
			}
		}
		slices.Sort(shapes)
		var first any
		json.Unmarshal([]byte(shapes[0]), &first)
		if len(shapes) == 1 {
			return []any{first}
		}
		out := []any{}
		for _, s := range shapes {
			var e any
			json.Unmarshal([]byte(s), &e)
			out = append(out, e)
		}
		return out
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// TestJSONOutputShapes holds every list command's -o json to its golden
// shape in testdata/golden (go test -run TestJSONOutputShapes -update
// rewrites them after an intended change: review the diff).
func TestJSONOutputShapes(t *testing.T) {
	dir := t.TempDir()
	launched := cli(t, dir, "launch", "raven", "consult", "--count", "2", "--speed", "100", "--fail-rate", "0", "--seed", "3", "-o", "json")
	if launched.code != 0 {
		t.Fatalf("launch: %d %s", launched.code, launched.err)
	}
	failed := cli(t, dir, "launch", "raven", "--speed", "100", "--fail-rate", "1", "--max-attempts", "1", "--seed", "3", "--wait", "-o", "json")
	if failed.code != 1 {
		t.Fatalf("failing launch: %d %s", failed.code, failed.err)
	}
	var ms []struct{ ID string }
	json.Unmarshal([]byte(launched.out), &ms)
	commands := map[string][]string{
		"launch":      nil, // the run above
		"status":      {"status"},
		"status-ids":  {"status", ms[0].ID},
		"history":     {"history"},
		"events":      {"events", "--mission", ms[0].ID},
		"trace":       {"trace", ms[0].ID, "--explain"},
		"leaderboard": {"leaderboard"},
		"dlq-list":    {"dlq", "list"},
		"doctor":      {"doctor"},
		"verify":      {"verify"},
	}
	for name, args := range commands {
		t.Run(name, func(t *testing.T) {
			r := launched
			if args != nil {
				r = cli(t, dir, append(args, "-o", "json")...)
			}
			if r.code != 0 {
				t.Fatalf("%v: exit %d, %s", args, r.code, r.err)
			}
			var doc any
			if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
				t.Fatalf("%v: stdout is not one JSON document: %v\n%s", args, err, r.out)
			}
			got, _ := json.MarshalIndent(shape(doc), "", "  ")
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./cmd/palantir -run TestJSONOutputShapes -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("palantir %s -o json changed shape (a script contract):\n got: %s\nwant: %s", strings.Join(args, " "), got, want)
			}
		})
	}
}
