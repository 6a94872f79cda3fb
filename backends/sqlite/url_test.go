package sqlite_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/sqlite"
)

// The queue's file is the store's: --backend sqlite follows --store, and
// a PostgreSQL store is a usage error that names the fix.
func TestURLFromStore(t *testing.T) {
	tests := []struct {
		name, backend, store string
		want                 string // "" when it must fail
		wantIn               string // in the error
	}{
		{name: "default store", backend: "sqlite", store: "", want: "palantir.db"},
		{name: "store file", backend: "sqlite", store: "/tmp/lab/palantir.db", want: "/tmp/lab/palantir.db"},
		{name: "store sqlite: URL", backend: "sqlite", store: "sqlite:lab.db", want: "lab.db"},
		{name: "store sqlite:// URL", backend: "sqlite", store: "sqlite:///tmp/lab.db", want: "/tmp/lab.db"},
		{name: "another file named by --backend", backend: "sqlite:///tmp/q.db", store: "postgres://u:secret@h/db", want: "sqlite:///tmp/q.db"},
		{name: "PostgreSQL store", backend: "sqlite", store: "postgres://u:secret@h:5432/db", wantIn: "with a PostgreSQL store use --backend postgres"},
		{name: "postgresql:// store", backend: "sqlite", store: "postgresql://u:secret@h/db", wantIn: "with a PostgreSQL store use --backend postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sqlite.Backend().URLFor(tt.backend, nil, tt.store)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("URLFor(%q, store %q) = %q, %v; want %q", tt.backend, tt.store, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, backends.ErrBadURL) || !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("URLFor(%q, store %q) = %q, %v; want ErrBadURL saying %q", tt.backend, tt.store, got, err, tt.wantIn)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		raw, want string
		bad       bool
	}{
		{raw: "", want: "palantir.db"},
		{raw: " lab.db ", want: "lab.db"},
		{raw: "sqlite:lab.db", want: "lab.db"},
		{raw: "sqlite:///var/lab.db", want: "/var/lab.db"},
		{raw: "sqlite:", bad: true},
		{raw: ":memory:", bad: true},
		{raw: "lab.db?mode=ro", bad: true},
		{raw: "postgres:/u:secret@h/db", bad: true},
		{raw: "amqp://u:secret@h/", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := sqlite.ParsePath(tt.raw)
			if tt.bad {
				if !errors.Is(err, backends.ErrBadURL) || strings.Contains(err.Error(), "secret") {
					t.Fatalf("ParsePath(%q) = %q, %v; want ErrBadURL without the password", tt.raw, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParsePath(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
			}
		})
	}
}
