package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/palantir-lab/palantir/internal/testservices"
)

// A store that fails does not hide the broker: doctor checks both, one
// line each, and says which failed.
func TestDoctorChecksTheBrokerWhenTheStoreFails(t *testing.T) {
	url := reachableRedisURL(t)
	dir := t.TempDir()
	var out, errb strings.Builder
	code := run(t.Context(), []string{"doctor", "--backend", "redis", "--redis-url", url,
		"--store", filepath.Join(dir, "no", "such", "dir", "p.db")}, streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != 3 {
		t.Errorf("exit %d, want 3 (the store is unusable)", code)
	}
	var store, broker string
	for _, line := range strings.Split(out.String(), "\n") {
		switch f := strings.Fields(line); {
		case len(f) > 1 && f[1] == "store":
			store = f[0]
		case len(f) > 1 && f[1] == "broker":
			broker = f[0]
		}
	}
	if store != "FAIL" || broker != "ok" {
		t.Errorf("store %q, broker %q; want FAIL and ok:\n%s", store, broker, out.String())
	}
}

// reachableRedisURL is the tests' Redis, or a loud skip (a failure in CI).
func reachableRedisURL(t *testing.T) string {
	url := testservices.RedisURL()
	var out, errb strings.Builder
	if code := run(t.Context(), []string{"status", "--backend", "redis", "--redis-url", url, "--store", filepath.Join(t.TempDir(), "p.db")},
		streams{In: strings.NewReader(""), Out: &out, Err: &errb}); code != 0 {
		testservices.Unavailable(t, "Redis", url, errString(errb.String()))
	}
	return url
}

type errString string

func (e errString) Error() string { return string(e) }
