package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/palantir-lab/palantir/backends"
)

// The generated part of docs/backends.md sits between these lines; `palantir
// gen-docs --backends docs/backends.md` rewrites it from the registry, and
// a test fails when the file and the registry disagree.
const (
	docsBegin = "<!-- generated from the backend registry by `palantir gen-docs --backends docs/backends.md`: do not edit -->"
	docsEnd   = "<!-- end of generated part -->"
)

// backendDocs is the generated part: for each backend, what holds its
// queue, how it is selected and reached, and what it guarantees and
// does not, beyond the delivery semantics every backend keeps.
func backendDocs(reg *backends.Registry) string {
	var b strings.Builder
	fmt.Fprintln(&b, "| backend | what holds the queue | selected by | URL (flag / env / default) | workers in other processes |")
	fmt.Fprintln(&b, "| --- | --- | --- | --- | --- |")
	for _, be := range reg.Backends() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", be.Name, be.Holds, selectedBy(be), urlCell(be), sharing(be))
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| backend | guarantees | does not guarantee |")
	fmt.Fprintln(&b, "| --- | --- | --- |")
	for _, be := range reg.Backends() {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", be.Name, strings.Join(be.Guarantees.Holds, "; "), strings.Join(be.Guarantees.DoesNot, "; "))
	}
	return b.String()
}

func selectedBy(be backends.Backend) string {
	s := "`--backend " + be.Name + "`"
	for _, sc := range be.Schemes {
		s += ", `" + sc + "://…`"
	}
	return s
}

func urlCell(be backends.Backend) string {
	switch {
	case be.URL != nil:
		return fmt.Sprintf("`--%s` / `%s` / `%s`", be.URL.Flag(), be.URL.Env(), be.URL.Default)
	case be.FromStore != nil:
		return "the store's (`--store`), or a URL in `--backend`"
	}
	return "none"
}

func sharing(be backends.Backend) string {
	switch {
	case be.Embedded:
		return "no: embedded workers of the launching process"
	case be.Networked:
		return "yes, on any machine"
	}
	return "yes, on this machine"
}

// writeBackendDocs replaces the generated part of the file at path.
func writeBackendDocs(path string, reg *backends.Registry) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := spliceGenerated(string(raw), backendDocs(reg))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// spliceGenerated puts gen between the markers of doc.
func spliceGenerated(doc, gen string) (string, error) {
	i, j := strings.Index(doc, docsBegin), strings.Index(doc, docsEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("no generated part (the lines %q … %q)", docsBegin, docsEnd)
	}
	return doc[:i+len(docsBegin)] + "\n\n" + gen + "\n" + doc[j:], nil
}
