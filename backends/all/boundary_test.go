package all_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/palantir-lab/palantir/backends/all"
)

// brokerClients are the import paths of the brokers' client libraries:
// only the backend package of each broker may import them.
var brokerClients = []string{
	"github.com/redis/go-redis/",
	"github.com/rabbitmq/amqp091-go",
	"github.com/nats-io/",
}

// goFiles parses every Go file of the module (tests included) outside
// backends/<x>, the backends' own packages.
func goFiles(t *testing.T, mode parser.Mode) map[string]*ast.File {
	t.Helper()
	files := map[string]*ast.File{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../..", path)
		if d.IsDir() {
			parts := strings.Split(filepath.ToSlash(rel), "/")
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" ||
				len(parts) == 2 && parts[0] == "backends" && parts[1] != "all" && parts[1] != "backendtest" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && rel != "." {
				return filepath.SkipDir // another module (bench/peers measures the peers with their clients)
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, mode)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found %d Go files: the walk is not covering the module", len(files))
	}
	return files
}

// A backend is one package: nothing outside backends/<x> talks to a
// broker with its client library. Test files may, as an independent
// observer of what reached the broker.
func TestOnlyBackendPackagesImportBrokerClients(t *testing.T) {
	for path, f := range goFiles(t, parser.ImportsOnly) {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, c := range brokerClients {
				if strings.HasPrefix(p, c) {
					t.Errorf("%s imports %s: only the broker's own package under backends/ may", path, p)
				}
			}
		}
	}
}

// Nothing outside backends/ decides by a backend's name: what differs
// between backends is a field of their descriptor. (Tests may check that
// a value is a given backend's name.)
func TestNoSwitchOnABackendName(t *testing.T) {
	names := all.Registry().Names()
	for path, f := range goFiles(t, 0) {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var lits []ast.Expr
			switch n := n.(type) {
			case *ast.CaseClause:
				lits = n.List
			case *ast.BinaryExpr:
				if (n.Op == token.EQL || n.Op == token.NEQ) && !isDriver(n.X) && !isDriver(n.Y) {
					lits = []ast.Expr{n.X, n.Y}
				}
			}
			for _, e := range lits {
				if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
					if s, _ := strconv.Unquote(b.Value); slices.Contains(names, s) {
						t.Errorf("%s: compares with the backend name %q; give the backend a descriptor field instead", path, s)
					}
				}
			}
			return true
		})
	}
}

// isDriver reports whether e is a variable or field named driver: the
// store's SQL driver, "sqlite" or "postgres", which two backends are
// named after (their queues live in those databases) without the store
// deciding anything by backend.
func isDriver(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name == "driver"
	case *ast.SelectorExpr:
		return e.Sel.Name == "driver"
	}
	return false
}
