package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/sqlqueue"
)

// Name is the registered backend name.
const Name = "postgres"

// Channel is the LISTEN/NOTIFY channel of every palantir queue; the
// payload is the queue name.
const Channel = "palantir_queue"

// connectTimeout bounds connecting, unless the URL's connect_timeout says
// otherwise, so that Open fails within a few seconds when PostgreSQL does
// not answer.
const connectTimeout = 3 * time.Second

// schemaLockKey is the advisory lock that lines up processes creating
// the queue tables at once (the store's migrations use 7253010).
const schemaLockKey = 7253011

// Dialect is PostgreSQL's part of the shared queue SQL. Concurrent
// claimers pass over each other's rows with FOR UPDATE SKIP LOCKED; the
// picked ids are collected with ARRAY(…), an InitPlan that runs once,
// where an IN (…) subquery may be run again by the planner and claim
// more rows than asked. A publish NOTIFYs the channel palantir_queue in
// its transaction, and each Queue with consumers LISTENs on a connection
// of its own; a poll every second covers a listener that is
// reconnecting.
var Dialect = sqlqueue.Dialect{
	Name:   Name,
	Serial: "BIGSERIAL PRIMARY KEY",
	Blob:   "BYTEA",
	// The server's clock, so that workers of several machines agree on
	// leases. now() is the transaction's start: one value per statement
	// here, and an index condition where clock_timestamp() is not.
	Now:        "(EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT",
	Claimable:  "id = ANY(ARRAY(%s))",
	Lock:       "FOR UPDATE SKIP LOCKED",
	Numbered:   true,
	Notify:     "SELECT pg_notify('" + Channel + "', ?)",
	SchemaLock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", schemaLockKey),
	Exists:     "SELECT to_regclass(?) IS NOT NULL",
	// The server (its start time and port, readable by any user, unlike
	// its data directory or system identifier), the database, and the
	// queue table as this connection's search_path resolves it: the same
	// database with another search_path reaches other tables.
	Identity: "SELECT current_database() || ' ' || current_setting('port') || ' ' || pg_postmaster_start_time()::text || ' ' || " +
		"COALESCE(to_regclass('" + sqlqueue.Table + "')::oid::text, 'no table')",
	Transient: transient,
	PollMin:   time.Second,
	PollMax:   time.Second,
}

// Open connects to the database at cfg.URL (postgres://…), checking
// within a few seconds that it answers, creates the queue tables if they
// are absent and opens the queue cfg.Queue. An unanswered connection is
// an error wrapping backends.ErrUnreachable; a malformed URL one wrapping
// backends.ErrBadURL. Errors show the URL with its password redacted.
func Open(ctx context.Context, cfg backends.Config) (*sqlqueue.Queue, error) {
	pcfg, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	where := backends.Redact(cfg.URL)
	db := stdlib.OpenDB(*pcfg)
	// A worker holds a connection per statement in flight: its claims,
	// extensions and settlements. A few suffice, and many workers must
	// fit in max_connections (100 by default).
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(time.Minute)
	pctx, cancel := context.WithTimeout(ctx, pcfg.ConnectTimeout+time.Second)
	err = db.PingContext(pctx)
	cancel()
	if err != nil {
		db.Close()
		return nil, openError(ctx, where, err)
	}
	u, _ := url.Parse(cfg.URL)
	key := Name + "://" + u.Host + u.Path // the database, whoever logs in
	log := cfg.Logger
	return sqlqueue.Open(ctx, sqlqueue.Options{
		DB: db, Dialect: Dialect, Where: where, WakeKey: key, Config: cfg,
		Listen: func(ctx context.Context, queue string, wake func()) {
			listen(ctx, pcfg, queue, wake, logger(log, cfg.Queue))
		},
	})
}

// openError classifies a failed first connection.
func openError(ctx context.Context, where string, err error) error {
	msg := backends.RedactText(strings.Join(strings.Fields(err.Error()), " "))
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("postgres open %s: %w", where, ctx.Err())
	case transient(err) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("postgres open %s: %w: %s", where, backends.ErrUnreachable, msg)
	default:
		return fmt.Errorf("postgres open %s: %s", where, msg)
	}
}

// ParseURL reads a postgres:// or postgresql:// URL with pgx's own
// parser (every parameter pgx knows; any other is sent to the server as
// a run-time setting, as psql does), with a connect timeout of three
// seconds unless connect_timeout sets one. Anything else is an error
// wrapping backends.ErrBadURL, its text redacted.
func ParseURL(raw string) (*pgx.ConnConfig, error) {
	raw = strings.TrimSpace(raw)
	lower := strings.ToLower(raw)
	if !strings.HasPrefix(lower, "postgres://") && !strings.HasPrefix(lower, "postgresql://") {
		return nil, fmt.Errorf("%w: %s: not a PostgreSQL URL (postgres://user@host:5432/db)", backends.ErrBadURL, backends.Redact(raw))
	}
	if _, err := url.Parse(raw); err != nil {
		return nil, fmt.Errorf("%w: %s: the URL does not parse", backends.ErrBadURL, backends.Redact(raw))
	}
	pcfg, err := pgx.ParseConfig(raw)
	if err != nil {
		// pgx quotes the URL (redacted its way); redact ours too.
		return nil, fmt.Errorf("%w: %s: %s", backends.ErrBadURL, backends.Redact(raw), backends.RedactText(err.Error()))
	}
	if pcfg.ConnectTimeout == 0 {
		pcfg.ConnectTimeout = connectTimeout
	}
	return pcfg, nil
}

// FromStore is the queue's database for the store URL storeURL: the
// store's own, when it is PostgreSQL. A SQLite store is an error wrapping
// backends.ErrBadURL that names the fix.
func FromStore(storeURL string) (string, error) {
	s := strings.TrimSpace(storeURL)
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return s, nil
	}
	return "", fmt.Errorf("%w: the postgres backend keeps its queue in a PostgreSQL database, and the store is a SQLite file: "+
		"name the database with --backend postgres://user@host:5432/db (or make the store PostgreSQL with --store postgres://…)", backends.ErrBadURL)
}

// transient reports whether err means PostgreSQL cannot be reached right
// now: no connection, a connection lost, a server shutting down,
// starting up or out of connections. An error of the server about the
// request itself (a login refused, a missing database, bad SQL) is not.
func transient(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient resources (too many connections, disk full)
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // shutdown, crash, starting up
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset", "broken pipe", "i/o timeout", "no such host", "conn closed", "unexpected EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
