//go:build unix

package store_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
)

// The SQLite file holds every mission's order and error text: it is the
// user's own, like ~/.ssh's files, whatever a permissive umask says; a
// stricter umask is kept.
func TestSQLiteFilesAreCreatedPrivate(t *testing.T) {
	tests := []struct {
		name  string
		umask int
		want  os.FileMode
	}{
		{"permissive umask", 0o022, 0o600},
		{"no umask at all", 0o000, 0o600},
		{"stricter umask", 0o077, 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.db")
			// The umask is the process's: this test is not parallel, so
			// no other test creates files meanwhile.
			old := syscall.Umask(tt.umask)
			defer syscall.Umask(old)
			s, err := store.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// A write makes SQLite create the -wal and -shm files.
			m := store.MissionFromOrder(mission.Order{ID: "filemode1", Type: mission.Raven, Hero: "frodo", MaxAttempts: 1,
				Speed: 1, CreatedAt: time.Now()}, "inproc", "missions")
			if err := s.CreateMissions(context.Background(), []store.Mission{m}); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != tt.want {
					t.Errorf("%s: mode %v, want %v", filepath.Base(name), got, tt.want)
				}
			}
		})
	}
}

// An existing file keeps the mode its owner gave it.
func TestSQLiteExistingFileKeepsItsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o640)
	openT(t, path)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("existing file: mode %v (%v), want 0640 kept", fi.Mode().Perm(), err)
	}
}
