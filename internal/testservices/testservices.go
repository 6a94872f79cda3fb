// Package testservices finds the real services tests run against: URLs
// come from PALANTIR_TEST_* variables and default to loopback. A service
// that does not answer skips the test loudly on a laptop, and fails it when
// PALANTIR_REQUIRE_SERVICES=1 (as in CI), so that a green CI run never
// hides a skipped suite.
package testservices

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/palantir-lab/palantir/backends"
)

// Required reports whether missing services must fail tests.
func Required() bool { return os.Getenv("PALANTIR_REQUIRE_SERVICES") == "1" }

// Unavailable skips or fails t because service at url cannot be used.
func Unavailable(t testing.TB, service, rawURL string, cause error) {
	t.Helper()
	where := rawURL
	if u, err := url.Parse(rawURL); err == nil {
		where = u.Redacted()
	}
	if Required() {
		t.Fatalf("%s at %s is required (PALANTIR_REQUIRE_SERVICES=1) but unusable: %v", service, where, cause)
	}
	t.Skipf("SKIPPING: %s at %s is unusable: %v (start it, or set PALANTIR_TEST_* to reach it)", service, where, cause)
}

// Env returns the variable's value or def.
func Env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// RedisURL is the Redis tests use.
func RedisURL() string { return Env("PALANTIR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0") }

// AMQPURL is the RabbitMQ tests use.
func AMQPURL() string { return Env("PALANTIR_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/") }

// PostgresAdminURL is a PostgreSQL database where tests may create others.
func PostgresAdminURL() string {
	return Env("PALANTIR_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
}

// PostgresDB creates a fresh database for t, drops it when t ends, and
// returns its URL.
func PostgresDB(t testing.TB) string {
	t.Helper()
	admin := PostgresAdminURL()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		Unavailable(t, "PostgreSQL", admin, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		Unavailable(t, "PostgreSQL", admin, err)
	}
	name := fmt.Sprintf("palantir_test_%d_%x", os.Getpid(), rand.Uint32())
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		Unavailable(t, "PostgreSQL", admin, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		db.Close()
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}

// BackendURL is the URL tests reach a backend's service at: the
// variable PALANTIR_TEST_<KEY> (PALANTIR_TEST_REDIS_URL for redis_url),
// or the setting's default.
func BackendURL(s backends.URLSetting) string {
	return Env("PALANTIR_TEST_"+strings.ToUpper(s.Key), s.Default)
}

// BackendURLs are the URL settings of every backend of reg that has one,
// as tests reach them (BackendURL), by key.
func BackendURLs(reg *backends.Registry) map[string]string {
	urls := map[string]string{}
	for _, s := range reg.Settings() {
		urls[s.Key] = BackendURL(s)
	}
	return urls
}

// Reachable opens a probe queue of b at url to inspect it, which leaves
// nothing behind (backends.Config.Inspect), or skips t loudly (fails it
// under PALANTIR_REQUIRE_SERVICES=1) when b does not answer.
func Reachable(t testing.TB, b backends.Backend, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := b.Open(ctx, backends.Config{URL: url, Queue: fmt.Sprintf("probe-%d-%x", os.Getpid(), rand.Uint32()), Inspect: true})
	if err == nil {
		_, err = q.Stats(ctx)
		q.Close()
	}
	if err != nil && !errors.Is(err, backends.ErrNoQueue) {
		Unavailable(t, b.Holds, url, err)
	}
}
