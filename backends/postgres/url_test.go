package postgres_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/postgres"
)

// The queue's database is the store's when the store is PostgreSQL;
// --backend postgres://… names another; a SQLite store is a usage error
// that names the fix.
func TestURLFromStore(t *testing.T) {
	tests := []struct {
		name, backend, store string
		want                 string // "" when it must fail
	}{
		{name: "PostgreSQL store", backend: "postgres", store: "postgres://u:secret@h:5432/lab?sslmode=disable",
			want: "postgres://u:secret@h:5432/lab?sslmode=disable"},
		{name: "postgresql:// store", backend: "postgres", store: "postgresql://u@h/lab", want: "postgresql://u@h/lab"},
		{name: "another database named by --backend", backend: "postgres://u@other/q", store: "palantir.db", want: "postgres://u@other/q"},
		{name: "default SQLite store", backend: "postgres", store: ""},
		{name: "SQLite store file", backend: "postgres", store: "lab.db"},
		{name: "sqlite: store", backend: "postgres", store: "sqlite:lab.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := postgres.Backend().URLFor(tt.backend, nil, tt.store)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("URLFor(%q, store %q) = %q, %v; want %q", tt.backend, tt.store, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, backends.ErrBadURL) || !strings.Contains(err.Error(), "--backend postgres://") {
				t.Fatalf("URLFor(%q, store %q) = %q, %v; want ErrBadURL naming --backend postgres://…", tt.backend, tt.store, got, err)
			}
		})
	}
}

func TestParseURLConnectTimeout(t *testing.T) {
	tests := []struct {
		url  string
		want time.Duration
	}{
		{url: "postgres://u@h/db", want: 3 * time.Second},
		{url: "postgres://u@h/db?connect_timeout=7", want: 7 * time.Second},
	}
	for _, tt := range tests {
		cfg, err := postgres.ParseURL(tt.url)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", tt.url, err)
		}
		if cfg.ConnectTimeout != tt.want {
			t.Errorf("ParseURL(%q): connect timeout %v (%v), want %v", tt.url, cfg.ConnectTimeout, err, tt.want)
		}
	}
}

// trace --explain shows the claim PostgreSQL runs: ANY(ARRAY(…)) locks
// exactly the rows it picks, where IN (… LIMIT … SKIP LOCKED) may lock
// more (a new user's review found the explanation showing the latter).
func TestExplainedClaimIsTheOneRun(t *testing.T) {
	got := postgres.Dialect.Primitives()["mission_started"]
	if !strings.Contains(got, "id = ANY(ARRAY(SELECT id FROM palantir_queue WHERE queue = Q") || !strings.Contains(got, "FOR UPDATE SKIP LOCKED))") {
		t.Errorf("mission_started explained as %q, want the ANY(ARRAY(… FOR UPDATE SKIP LOCKED)) claim", got)
	}
}
