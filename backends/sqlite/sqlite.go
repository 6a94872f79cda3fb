package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/sqlqueue"
)

// Name is the registered backend name.
const Name = "sqlite"

// DefaultPath is the file the store, and so the queue, use when --store
// is not set (store.DefaultPath).
const DefaultPath = "palantir.db"

// Dialect is SQLite's part of the shared queue SQL. SQLite has one writer
// at a time: a claim runs in a write transaction (BEGIN IMMEDIATE, from
// the DSN's _txlock), which no other claim can interleave with, so it
// needs no row locks (and SQLite has no SKIP LOCKED). Another process's
// publish is seen at the next poll: every 100 ms after finding work,
// backing off to a second when idle.
var Dialect = sqlqueue.Dialect{
	Name:   Name,
	Serial: "INTEGER PRIMARY KEY AUTOINCREMENT",
	Blob:   "BLOB",
	// Milliseconds precision ('subsec'), on this machine's clock: every
	// process sharing the file runs on this machine.
	Now:       "CAST(unixepoch('subsec') * 1000000 AS INTEGER)",
	Claimable: "id IN (%s)",
	Exists:    "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = ?",
	Identity:  "SELECT file FROM pragma_database_list WHERE name = 'main'",
	Transient: transient,
	PollMin:   100 * time.Millisecond,
	PollMax:   time.Second,
}

// Open opens the queue cfg.Queue in the SQLite file cfg.URL (a path,
// sqlite:PATH or sqlite://PATH; "" is palantir.db), creating the file
// (mode 0600) and the tables if they are absent. A path that is not a
// file SQLite can use is an error wrapping backends.ErrBadURL; a file
// that cannot be created or opened one wrapping backends.ErrUnreachable.
func Open(ctx context.Context, cfg backends.Config) (*sqlqueue.Queue, error) {
	path, err := ParsePath(cfg.URL)
	if err != nil {
		return nil, err
	}
	where := backends.Redact(path)
	if cfg.Inspect {
		// Looking must not create the file.
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sqlite open %s: %w: the file does not exist", where, backends.ErrNoQueue)
		}
	} else if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite open %s: %w: %s", where, backends.ErrUnreachable, backends.RedactText(err.Error()))
	}
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite open %s: %w", where, err)
	}
	// One connection: the queue's statements take turns in the pool's
	// queue, in order, instead of in SQLite's busy handler, which sleeps
	// in steps of up to 100 ms. Other processes (and the store's own
	// connections) still meet the busy timeout.
	db.SetMaxOpenConns(1)
	if err := ping(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite open %s: %w: %s", where, backends.ErrUnreachable, backends.RedactText(err.Error()))
	}
	key, err := filepath.Abs(path)
	if err != nil {
		key = path
	}
	if real, err := filepath.EvalSymlinks(key); err == nil {
		key = real
	}
	return sqlqueue.Open(ctx, sqlqueue.Options{DB: db, Dialect: Dialect, Where: where, WakeKey: key, Config: cfg})
}

// DSN is the modernc.org/sqlite data source of the file at path, with
// the store's settings: WAL (readers beside one writer, processes
// sharing the file), synchronous=FULL (a commit is fsynced: a published
// or settled message survives a power cut), a busy timeout (wait for
// another process's write rather than fail), and immediate transactions
// (take the write lock up front, so two processes never deadlock
// upgrading read locks).
func DSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(15000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// ParsePath returns the file of a sqlite backend URL: a path,
// sqlite:PATH or sqlite://PATH, as the store reads its --store; "" is
// DefaultPath. A PostgreSQL URL, another scheme, ":memory:" (not shared
// between connections, let alone processes) or a path with a query string
// is an error wrapping backends.ErrBadURL.
func ParsePath(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return DefaultPath, nil
	case strings.HasPrefix(raw, "sqlite://"):
		raw = strings.TrimPrefix(raw, "sqlite://")
	case strings.HasPrefix(raw, "sqlite:"):
		raw = strings.TrimPrefix(raw, "sqlite:")
	case postgres.MatchString(raw):
		return "", fmt.Errorf("%w: %s: %s", backends.ErrBadURL, backends.Redact(raw), notPostgres)
	case strings.Contains(raw, "://"):
		return "", fmt.Errorf("%w: %s: not a SQLite file (a path, sqlite:PATH or sqlite://PATH)", backends.ErrBadURL, backends.Redact(raw))
	}
	switch {
	case raw == "":
		return "", fmt.Errorf("%w: empty SQLite path", backends.ErrBadURL)
	case raw == ":memory:" || strings.HasPrefix(raw, "file::memory:"):
		return "", fmt.Errorf("%w: %s: an in-memory database cannot be shared by workers; name a file", backends.ErrBadURL, raw)
	case strings.Contains(raw, "?"):
		return "", fmt.Errorf("%w: %s: the sqlite backend takes no parameters (it sets WAL, synchronous=FULL and a busy timeout itself)", backends.ErrBadURL, backends.Redact(raw))
	}
	return raw, nil
}

// postgres is a PostgreSQL URL, or one missing its "//".
var postgres = regexp.MustCompile(`(?i)^postgres(ql)?:`)

const notPostgres = "the sqlite backend keeps its queue in the store's SQLite file; with a PostgreSQL store use --backend postgres"

// FromStore is the queue's file for the store URL storeURL: the store's
// own SQLite file. A PostgreSQL store is an error wrapping
// backends.ErrBadURL that names the fix.
func FromStore(storeURL string) (string, error) {
	s := strings.TrimSpace(storeURL)
	if postgres.MatchString(s) {
		return "", fmt.Errorf("%w: %s", backends.ErrBadURL, notPostgres)
	}
	return ParsePath(s)
}

// ping checks that the file can be used. A file that another process is
// just switching to WAL mode reports SQLITE_BUSY without waiting on the
// busy timeout, so that answer is retried for a while (as the store
// does).
func ping(ctx context.Context, db *sql.DB) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		err := db.PingContext(pctx)
		if err == nil || !busy(err) || pctx.Err() != nil {
			return err
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-pctx.Done():
			t.Stop()
			return err
		}
	}
}

// createPrivate creates the file, if it does not exist yet, readable and
// writable by its owner only (0600, less if the umask says so), as the
// store does: it holds every mission's order. SQLite gives its -wal and
// -shm files the mode of the database file. An existing file keeps its
// mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// busy reports whether err is SQLite's "database is locked" (another
// connection holds the lock past the busy timeout, or is switching the
// journal mode).
func busy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return strings.Contains(err.Error(), "SQLITE_BUSY") || strings.Contains(err.Error(), "database is locked")
}

// transient reports whether err is the file being unusable right now:
// locked for longer than the busy timeout, an I/O error, a full disk, a
// file that cannot be opened. The operation may succeed later.
func transient(err error) bool {
	if busy(err) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_READONLY:
			return true
		}
	}
	return false
}
