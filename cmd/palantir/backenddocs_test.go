package main

import (
	"os"
	"strings"
	"testing"

	"github.com/palantir-lab/palantir/backends/all"
)

// docs/backends.md's tables are the registry's: regenerate them when a
// descriptor changes (the failure says how).
func TestBackendDocsMatchTheRegistry(t *testing.T) {
	raw, err := os.ReadFile("../../docs/backends.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := spliceGenerated(string(raw), backendDocs(all.Registry()))
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != want {
		t.Errorf("docs/backends.md is not what the registry says: run go run ./cmd/palantir gen-docs --backends docs/backends.md")
	}
}

// Every descriptor says what the docs, doctor, bench and trace need.
func TestEveryDescriptorIsComplete(t *testing.T) {
	for _, b := range all.Registry().Backends() {
		switch {
		case b.Holds == "", b.Open == nil, b.Hint == nil, b.Ceiling == nil:
			t.Errorf("%s: Holds, Open, Hint and Ceiling are required", b.Name)
		case len(b.Guarantees.Holds) == 0 || len(b.Guarantees.DoesNot) == 0:
			t.Errorf("%s: say what it guarantees and what it does not", b.Name)
		}
		for _, ev := range []string{"mission_queued", "mission_started", "mission_retry", "mission_persisted", "mission_dead_lettered"} {
			if strings.TrimSpace(b.Primitives[ev]) == "" {
				t.Errorf("%s: no primitive for %s (trace --explain)", b.Name, ev)
			}
		}
		if b.URL == nil && b.FromStore == nil && !b.Embedded {
			t.Errorf("%s: a shared backend needs a URL setting or a URL from the store", b.Name)
		}
	}
}
