// Package store persists missions, scores, telemetry events, worker
// heartbeats and (for inproc) dead letters, with sqlx over SQLite (the
// embedded default, pure Go, no cgo) or PostgreSQL (pgx).
//
// # URLs
//
//	""  or  palantir.db  or  sqlite:path/to/file.db   SQLite file
//	postgres://user@host:5432/db  (or postgresql://)  PostgreSQL
//
// A PostgreSQL URL takes libpq's parameters as pgx reads them, among them
// sslmode, sslrootcert, sslcert, sslkey and sslpassword. TLS settings that
// cannot work, or that do not match the server's (a CA that did not sign
// its certificate, TLS to a server without it), are ErrTLS, an ErrBadURL:
// a configuration error that names what to set, not an unreachable store.
//
// # Concurrency
//
// SQLite runs in WAL mode with a busy timeout and immediate write
// transactions, so a launching process and several worker processes can
// share one file on one machine. Workers on other machines need PostgreSQL.
//
// # Effects happen once
//
// Completing a mission is a conditional update (only a mission that is not
// final yet) plus an insert keyed by mission id into scores, in one
// transaction: a mission delivered twice is recorded once and scores its
// hero once.
//
// SQL is written once for both databases: `?` placeholders go through
// Rebind, times are BIGINT microseconds, and the few type names that differ
// are filled into the embedded migrations.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/palantir-lab/palantir/backends"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrClosed: the store was closed before the write.
var ErrClosed = errors.New("store closed")

// ErrUnreachable: the database could not be opened or reached.
var ErrUnreachable = errors.New("store unreachable")

// ErrBadURL: the store URL is not understood.
var ErrBadURL = errors.New("bad store URL")

// ErrNotFound: no mission matches an id or prefix.
var ErrNotFound = errors.New("no such mission")

// ErrAmbiguous: an id prefix matches several missions.
var ErrAmbiguous = errors.New("ambiguous mission id prefix")

// Store is a handle on the database. Safe for concurrent use.
type Store struct {
	db     *sqlx.DB
	driver string // "sqlite" or "postgres"
	where  string // redacted location, for messages

	// Group commit (group.go).
	ops        []chan groupOp // one per committer (group.go)
	nextOps    atomic.Uint32
	committers sync.WaitGroup
	// closeMu guards closed: writers hold it shared while they hand an op
	// to a committer, Close exclusively while it closes the queues.
	closeMu sync.RWMutex
	closed  bool
	// committed has a token after a group commit; stopCheckpointer ends
	// the SQLite checkpointer (checkpoint.go).
	committed        chan struct{}
	stopCheckpointer func()
	pending          sync.WaitGroup // asynchronous writes not yet committed
	closeOnce        sync.Once

	// Prepared statements (prepared.go).
	stmtMu sync.Mutex
	stmts  map[string]*sqlx.Stmt
}

// Driver is "sqlite" or "postgres".
func (s *Store) Driver() string { return s.driver }

// Location is the redacted file path or URL.
func (s *Store) Location() string { return s.where }

// Local reports whether the store is a file on this machine.
func (s *Store) Local() bool { return s.driver == "sqlite" }

// Close waits for queued writes, then closes the database. Idempotent.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stopCommitters()
		if s.stopCheckpointer != nil {
			s.stopCheckpointer()
		}
		s.closeStatements()
		err = s.db.Close()
	})
	return err
}

// DefaultPath is the SQLite file used when no store is configured.
const DefaultPath = "palantir.db"

// Open connects to the store at rawURL and applies pending migrations.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	driver, dsn, where, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if driver == "sqlite" {
		if err := createPrivate(sqlitePath(dsn)); err != nil {
			return nil, fmt.Errorf("open %s store %s: %w: %v", driver, where, ErrUnreachable, firstLine(err))
		}
	}
	sqlDriver := map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[driver]
	db, err := sqlx.Open(sqlDriver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s store %s: %w: %v", driver, where, ErrUnreachable, err)
	}
	conns := 16
	if driver == "sqlite" {
		// One writer at a time is SQLite's rule; a small pool keeps readers
		// concurrent without piling up writers waiting on the lock.
		conns = 4
	}
	db.SetMaxOpenConns(conns)
	// database/sql keeps 2 idle by default and closes the rest after each
	// burst of reads (a worker's slots all starting at once): on
	// PostgreSQL every reopened one is a new server process, which cut
	// the store's speed by two thirds at -c 32 (pool_internal_test.go).
	db.SetMaxIdleConns(conns)
	if err := ping(ctx, db); err != nil {
		db.Close()
		if why := tlsMismatch(err); why != "" {
			return nil, fmt.Errorf("open %s store %s: %w: %s", driver, where, ErrTLS, why)
		}
		return nil, fmt.Errorf("open %s store %s: %w: %v", driver, where, ErrUnreachable, firstLine(err))
	}
	s := &Store{db: db, driver: driver, where: where, committed: make(chan struct{}, 1)}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s store %s: %w", driver, where, err)
	}
	// One committer. SQLite has one writer at a time. PostgreSQL commits
	// in parallel, but a pipelined group is one round trip (pipeline.go),
	// and several committers only made their groups smaller and their
	// transactions contend: `bench --backends redis --missions 3000 -c 4
	// --store postgres://…`, alternating, did about 1,000 missions/s with
	// one, 930 with two and 620 with four.
	s.startCommitters(1)
	if driver == "sqlite" {
		s.stopCheckpointer = s.startCheckpointer()
	}
	return s, nil
}

// ping checks the database answers. A SQLite file that another process is
// just switching to WAL mode reports "locked" without waiting on the busy
// timeout, so that answer is retried for a while.
func ping(ctx context.Context, db *sqlx.DB) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		err := db.PingContext(pctx)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || pctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// firstLine folds a multi-line driver error into one line.
func firstLine(err error) string {
	// A driver's error may quote the location it was given.
	return backends.RedactText(strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " "))
}

func parseURL(raw string) (driver, dsn, where string, err error) {
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		raw = DefaultPath
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, perr := url.Parse(raw); perr != nil {
			return "", "", "", fmt.Errorf("%w: postgres URL does not parse", ErrBadURL)
		}
		// The driver reads the parameters only when it dials; a value it
		// cannot use (sslmode=bogus) is a mistake in the URL, not an
		// unreachable store. Its message may quote the URL: not shown.
		if _, perr := pgx.ParseConfig(raw); perr != nil {
			if cause := tlsParseError(perr); cause != nil {
				return "", "", "", fmt.Errorf("%w: postgres URL %s: %s", ErrTLS, backends.Redact(raw), backends.RedactText(firstLine(cause)))
			}
			return "", "", "", fmt.Errorf("%w: postgres URL %s: %s", ErrBadURL, backends.Redact(raw), backends.RedactText(firstLine(perr)))
		}
		return "postgres", raw, backends.Redact(raw), nil
	case strings.HasPrefix(raw, "sqlite://"):
		raw = strings.TrimPrefix(raw, "sqlite://")
	case strings.HasPrefix(raw, "sqlite:"):
		raw = strings.TrimPrefix(raw, "sqlite:")
	case strings.Contains(raw, "://"):
		return "", "", "", fmt.Errorf("%w: %s: unknown scheme (known: a SQLite file path, sqlite:PATH, postgres://)", ErrBadURL, backends.Redact(raw))
	case mistypedPostgres.MatchString(raw):
		// Taken as a file name, it would be printed in every banner, password included.
		return "", "", "", fmt.Errorf("%w: %s: a PostgreSQL URL starts with postgres:// (a SQLite file name cannot start with postgres:)", ErrBadURL, backends.Redact(raw))
	case keywordDSN.MatchString(raw):
		return "", "", "", fmt.Errorf("%w: %s: a PostgreSQL key=value connection string is not accepted; write it as a URL, postgres://user@host:5432/db?sslmode=disable (the password after user: or in PGPASSWORD)", ErrBadURL, backends.Redact(raw))
	}
	if raw == "" {
		return "", "", "", fmt.Errorf("%w: empty SQLite path", ErrBadURL)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(15000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	// Immediate transactions take the write lock up front, so two processes
	// never deadlock upgrading read locks; the busy timeout makes them wait.
	q.Add("_txlock", "immediate")
	return "sqlite", "file:" + raw + "?" + q.Encode(), backends.Redact(raw), nil
}

// mistypedPostgres is a postgres URL without its "://" (postgres:/…,
// postgres//…, postgresql:…).
var mistypedPostgres = regexp.MustCompile(`(?i)^postgres(ql)?(:|//)`)

// keywordDSN is a PostgreSQL key=value connection string ("host=h
// user=u password=p dbname=d").
var keywordDSN = regexp.MustCompile(`(?i)(^|\s)(host|hostaddr|port|dbname|user|password|passfile|sslmode|sslpassword|sslkey|sslcert|sslrootcert|connect_timeout|application_name)\s*=`)

// createPrivate creates the SQLite file, if it does not exist yet, readable
// and writable by its owner only (0600, less if the umask says so): it
// holds every mission's order and error text. SQLite gives its -wal and
// -shm files the mode of the database file. An existing file keeps the
// mode its owner gave it.
func createPrivate(path string) error {
	if path == "" || path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// FilePath is the file of a SQLite store URL (a path, sqlite:PATH), and
// false for any other store or a URL that does not parse.
func FilePath(rawURL string) (string, bool) {
	driver, dsn, _, err := parseURL(rawURL)
	if err != nil || driver != "sqlite" {
		return "", false
	}
	return sqlitePath(dsn), true
}

// sqlitePath is the file of a "file:PATH?…" DSN.
func sqlitePath(dsn string) string {
	p := strings.TrimPrefix(dsn, "file:")
	if i := strings.LastIndex(p, "?"); i >= 0 {
		p = p[:i]
	}
	return p
}

// rebind turns ? placeholders into the driver's.
func (s *Store) rebind(q string) string { return s.db.Rebind(q) }

// migrate applies the migrations the database lacks. It reads first: a
// store that has them all is opened without a write, so a reader (history,
// status, serve) opens a SQLite file whose write lock another process holds
// (a worker frozen mid-commit) instead of waiting out the busy timeout.
func (s *Store) migrate(ctx context.Context) error {
	pending, err := s.pendingMigrations(ctx)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	if s.driver == "postgres" {
		// Processes starting together (a launcher and its workers) would
		// race on CREATE TABLE; a session advisory lock lines them up.
		conn, err := s.db.Connx(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7253010)`); err != nil {
			return err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7253010)`)
	}
	create := `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_us BIGINT NOT NULL)`
	if _, err := s.db.ExecContext(ctx, create); err != nil {
		return err
	}
	for _, m := range pending {
		if err := s.applyMigration(ctx, m.name, m.version); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

type migration struct {
	name    string
	version int
}

// pendingMigrations lists the embedded migrations, in order, that the
// database has not recorded as applied (all of them when it has no
// schema_migrations table yet). Another process may apply them meanwhile:
// applyMigration checks again under the lock.
func (s *Store) pendingMigrations(ctx context.Context) ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var all []migration
	for _, name := range names {
		var version int
		if _, err := fmt.Sscanf(path.Base(name), "%d_", &version); err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", name)
		}
		all = append(all, migration{name, version})
	}
	var applied []int
	if err := s.db.SelectContext(ctx, &applied, `SELECT version FROM schema_migrations`); err != nil {
		return all, nil // no table yet, or unreadable: the locked path decides
	}
	return slices.DeleteFunc(all, func(m migration) bool { return slices.Contains(applied, m.version) }), nil
}

// applyMigration runs one migration in a transaction, unless another
// process already did (the insert into schema_migrations is the lock).
func (s *Store) applyMigration(ctx context.Context, name string, version int) error {
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, s.rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), version); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		for _, stmt := range strings.Split(s.dialect(string(body)), ";") {
			if strings.TrimSpace(stripComments(stmt)) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO schema_migrations (version, applied_us) VALUES (?, ?)`), version, micros(time.Now()))
		return err
	})
}

func stripComments(stmt string) string {
	var b strings.Builder
	for _, line := range strings.Split(stmt, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// dialect fills the type names that differ between the two databases.
func (s *Store) dialect(sqlText string) string {
	r := strings.NewReplacer("{{serial}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{blob}}", "BLOB")
	if s.driver == "postgres" {
		r = strings.NewReplacer("{{serial}}", "BIGSERIAL PRIMARY KEY", "{{blob}}", "BYTEA")
	}
	return r.Replace(sqlText)
}

// tx runs fn in a transaction, committing if it returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// lazyTx is tx for writes that need not be on disk when it returns
// (launch rows, QUEUED, STARTED, progress, events, heartbeats). On SQLite
// it commits with synchronous=NORMAL: the log is written but not fsynced,
// which saves the fsync that is most of a commit's time (330 of 450 µs
// per group, measured). A process crash loses nothing (the log is in the
// page cache); a power cut loses only what no later durable commit's
// fsync of the same log, nor a checkpoint, has synced yet, and none of it
// is an outcome. A worker recreates a mission row it finds missing.
// PostgreSQL commits as tx does.
func (s *Store) lazyTx(ctx context.Context, fn func(*sqlx.Tx) error) error {
	if s.driver != "sqlite" {
		return s.tx(ctx, fn)
	}
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		discard(conn)
		return err
	}
	err = connTx(ctx, conn, fn)
	if _, rerr := conn.ExecContext(ctx, `PRAGMA synchronous = FULL`); rerr != nil {
		// Durable commits take connections from the same pool: one left
		// at NORMAL must not go back to it.
		discard(conn)
		return errors.Join(err, rerr)
	}
	conn.Close()
	return err
}

// connTx is tx on conn.
func connTx(ctx context.Context, conn *sqlx.Conn, fn func(*sqlx.Tx) error) error {
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// discard closes conn's connection instead of returning it to the pool.
func discard(conn *sqlx.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, firstLine(err))
	}
	return nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// Describe is rawURL as "driver location", the location redacted (bench's
// header and rows): "sqlite palantir.db", "postgres postgres://…". A URL
// that does not parse is given redacted as it is.
func Describe(rawURL string) string {
	driver, _, where, err := parseURL(rawURL)
	if err != nil {
		return backends.Redact(rawURL)
	}
	return driver + " " + where
}
