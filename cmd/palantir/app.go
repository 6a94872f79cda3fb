package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/all"
	"github.com/palantir-lab/palantir/internal/config"
	"github.com/palantir-lab/palantir/store"
)

// streams are a command's standard streams.
type streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// isTTY reports whether w is a terminal.
func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// app holds what every command shares: configuration, streams, and the
// store and queue, opened lazily on first use and closed once.
type app struct {
	streams
	cfg      config.Config
	log      *slog.Logger
	registry *backends.Registry

	stMu sync.Mutex // guards st: the dead-letter book opens it from workers
	st   *store.Store
	// emptyDir holds the empty store ReadStore opened in place of the
	// missing file missing.
	emptyDir, missing string
	// inspect: the queue is opened only to look at it (InspectQueue).
	inspect bool
	// args is the command line, without the program's name.
	args []string
	q    backends.Queue
	be   backends.Backend
	// queues are the worker's queues when --queue lists several; cfg.Queue
	// is then the first. others are the queues opened beside q for them.
	queues []config.QueueWeight
	others []backends.Queue

	// compactJSON: print JSON documents on one line each (streams).
	compactJSON bool
	// jsonFields are the fields --json keeps of each JSON object.
	jsonFields []string
	// template formats the JSON documents (--template).
	template *template.Template
	// now is the clock commands read: what they compute from the time
	// (history --since, heartbeat ages, purge, replay and abandon stamps)
	// and the times and durations they print. Tests may fix it.
	now func() time.Time
	// notes is stderr for what is said while progress bars may be live
	// (log lines, outages): it prints above the bars, not under their
	// next frame.
	notes *notes
}

func newApp(io streams) *app {
	return &app{streams: io, registry: all.Registry(), log: slog.New(slog.DiscardHandler), now: time.Now,
		notes: &notes{raw: io.Err}}
}

func (a *app) configure(cfg config.Config, command string) error {
	be, err := a.registry.Resolve(cfg.Backend)
	if err != nil {
		return fmt.Errorf("%w (set by %s)", err, cfg.Source("backend"))
	}
	if a.queues, err = cfg.Queues(); err != nil {
		return err // Load validated it
	}
	if (len(a.queues) > 1 || a.queues[0].Weight > 0) && command != "worker" {
		return usageErr("--queue %s (%s): only a worker consumes several queues, with weights; %s takes one name", cfg.Queue, cfg.Source("queue"), command)
	}
	cfg.Queue = a.queues[0].Name
	a.cfg, a.be = cfg, be
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	a.log = slog.New(slog.NewTextHandler(a.notes, &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}))
	return nil
}

// redactAttr passes every string and error of a log line through
// backends.RedactText: a driver's error may quote its URL.
func redactAttr(_ []string, attr slog.Attr) slog.Attr {
	switch v := attr.Value; {
	case v.Kind() == slog.KindString:
		attr.Value = slog.StringValue(backends.RedactText(v.String()))
	case v.Kind() == slog.KindAny:
		if err, ok := v.Any().(error); ok {
			attr.Value = slog.StringValue(backends.RedactText(err.Error()))
		}
	}
	return attr
}

func (a *app) json() bool { return a.cfg.Output == "json" }

// brokerURL is the URL the backend connects to: --backend itself when it
// is a URL, otherwise the backend's URL setting, or the one it derives
// from the store's. Its error is a configuration error (exit 2).
func (a *app) brokerURL() (string, error) {
	u, err := a.be.URLFor(a.cfg.Backend, a.cfg.URLs, a.cfg.Store)
	if err != nil {
		return "", fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	return u, nil
}

// Store opens the store once. Safe for concurrent use.
func (a *app) Store(ctx context.Context) (*store.Store, error) {
	a.stMu.Lock()
	defer a.stMu.Unlock()
	if a.st != nil {
		return a.st, nil
	}
	st, err := store.Open(ctx, a.cfg.Store)
	if err != nil {
		return nil, redactErr(err)
	}
	a.st = st
	return st, nil
}

// ReadStore is Store for commands that only read (history, status,
// trace, …). A SQLite store whose file does not exist is not created:
// the command says so and reads an empty store of its own, removed on
// Close, so that its answer is the usual empty one.
func (a *app) ReadStore(ctx context.Context) (*store.Store, error) {
	path, missing := a.missingStoreFile()
	if !missing {
		return a.Store(ctx)
	}
	a.stMu.Lock()
	defer a.stMu.Unlock()
	if a.st != nil {
		return a.st, nil
	}
	dir, err := os.MkdirTemp("", "palantir-empty-")
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, filepath.Join(dir, "empty.db"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	a.st, a.emptyDir, a.missing = st, dir, path
	return st, nil
}

// noStore is what a command that read no store says about it, or "".
func (a *app) noStore() string {
	if a.missing == "" {
		return ""
	}
	return fmt.Sprintf("no store at %s yet: nothing was launched with it (launch creates it; --store or PALANTIR_STORE names another)", a.missing)
}

// missingStoreFile is the store's file when the store is a SQLite file
// that does not exist.
func (a *app) missingStoreFile() (string, bool) {
	path, ok := store.FilePath(a.cfg.Store)
	if !ok {
		return "", false
	}
	_, err := os.Stat(path)
	return path, errors.Is(err, fs.ErrNotExist)
}

// StoreAndQueue opens both, the store first, for the commands that move
// missions.
func (a *app) StoreAndQueue(ctx context.Context) (*store.Store, backends.Queue, error) {
	st, err := a.Store(ctx)
	if err != nil {
		return nil, nil, err
	}
	q, err := a.Queue(ctx)
	if err != nil {
		return nil, nil, err
	}
	return st, q, nil
}

// Queue opens the queue once. A backend that keeps its dead letters in
// the store (inproc) gets a book that opens the store when first used,
// so that opening the queue, as doctor does, does not depend on the
// store.
func (a *app) Queue(ctx context.Context) (backends.Queue, error) {
	if a.q != nil {
		return a.q, nil
	}
	cfg, err := a.backendConfig()
	if err != nil {
		return nil, redactErr(err)
	}
	cfg.DeadLetters = lazyBook{a}
	q, err := a.be.Open(ctx, cfg)
	if err != nil {
		return nil, redactErr(err)
	}
	a.q = q
	return q, nil
}

// QueueNamed opens another queue of the backend, beside Queue's (a
// worker of several queues); Close closes it.
func (a *app) QueueNamed(ctx context.Context, name string) (backends.Queue, error) {
	if name == a.cfg.Queue {
		return a.Queue(ctx)
	}
	cfg, err := a.backendConfig()
	if err != nil {
		return nil, redactErr(err)
	}
	cfg.Queue, cfg.DeadLetters = name, lazyBook{a}
	q, err := a.be.Open(ctx, cfg)
	if err != nil {
		return nil, redactErr(err)
	}
	a.others = append(a.others, q)
	return q, nil
}

// InspectQueue is Queue for commands that only look (status, doctor,
// dlq list): it creates nothing on the broker, and its Stats say
// backends.ErrNoQueue for a queue the broker does not have.
func (a *app) InspectQueue(ctx context.Context) (backends.Queue, error) {
	a.inspect = true
	return a.Queue(ctx)
}

// backendConfig is what the settings say about the queue.
func (a *app) backendConfig() (backends.Config, error) {
	url, err := a.brokerURL()
	return backends.Config{URL: url, Queue: a.cfg.Queue, Lease: a.cfg.Lease, Logger: a.log,
		MaxMessageBytes: a.cfg.MaxMessageBytes(), MaxDeliveries: a.cfg.MaxDeliveries, Inspect: a.inspect}, err
}

// noQueue says, for a queue a looking command did not find, where it is
// or why it is not.
func (a *app) noQueue() string {
	if !a.be.Networked {
		return fmt.Sprintf("the %s queue lives in the memory of the process that uses it (launch --wait, serve); this process cannot see it", a.be.Name)
	}
	return fmt.Sprintf("queue %q does not exist on %s: nothing was launched to it (check --queue)", a.cfg.Queue, a.be.Name)
}

// Close closes what the command opened. It may be called twice (after a
// command that succeeded, and again at exit).
func (a *app) Close() {
	if a.q != nil {
		a.q.Close()
		a.q = nil
	}
	for _, q := range a.others {
		q.Close()
	}
	a.others = nil
	a.stMu.Lock()
	defer a.stMu.Unlock()
	if a.st != nil {
		a.st.Close()
		a.st = nil
	}
	if a.emptyDir != "" {
		os.RemoveAll(a.emptyDir)
		a.emptyDir = ""
	}
}

// lazyBook is the store as a dead-letter book, opened on first use.
type lazyBook struct{ a *app }

func (b lazyBook) AddDeadLetter(ctx context.Context, queue string, dl backends.DeadLetter) error {
	st, err := b.a.Store(ctx)
	if err != nil {
		return err
	}
	return st.AddDeadLetter(ctx, queue, dl)
}

func (b lazyBook) ListDeadLetters(ctx context.Context, queue string, limit int) ([]backends.DeadLetter, error) {
	st, err := b.a.ReadStore(ctx)
	if err != nil {
		return nil, err
	}
	return st.ListDeadLetters(ctx, queue, limit)
}

func (b lazyBook) TakeDeadLetters(ctx context.Context, queue string, ids ...string) ([]backends.DeadLetter, error) {
	st, err := b.a.Store(ctx)
	if err != nil {
		return nil, err
	}
	return st.TakeDeadLetters(ctx, queue, ids...)
}

// commandLine is how this process was invoked, passwords hidden, for a
// report to say how it was made.
func (a *app) commandLine() string {
	return backends.RedactText("palantir " + strings.Join(a.args, " "))
}
