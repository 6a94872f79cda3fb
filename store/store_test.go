package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/store/storetest"
)

func openT(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store {
		return openT(t, filepath.Join(t.TempDir(), "p.db"))
	})
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store {
		return openT(t, testservices.PostgresDB(t))
	})
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, url string
		want      error
	}{
		{"unknown scheme", "mysql://root@localhost/db", store.ErrBadURL},
		{"unreachable postgres", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2", store.ErrUnreachable},
		{"unwritable sqlite", "/proc/nope/palantir.db", store.ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.Open(context.Background(), tt.url)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
