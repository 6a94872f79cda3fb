package sqlqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// Options open a Queue.
type Options struct {
	// DB is the database; the Queue owns it and closes it on Close.
	DB      *sql.DB
	Dialect Dialect
	// Where is the database's location with its password redacted, for
	// errors and logs.
	Where string
	// WakeKey identifies the database within this process (a file's
	// absolute path, a server and database): Queues with the same key and
	// queue name wake each other's consumers when they publish.
	WakeKey string
	// Listen, if not nil, runs (in its own goroutine, from the first
	// Subscribe until Close cancels ctx) a listener that calls wake when
	// another process has made messages of queue receivable: PostgreSQL's
	// LISTEN. It must retry by itself, with backoff, when the database
	// does not answer; consumers poll meanwhile.
	Listen func(ctx context.Context, queue string, wake func())
	Config backends.Config
}

// opTimeout bounds a claim or an unread, which run without the caller's
// cancellation (see consumer.fetch), so that a database that stopped
// answering mid-query cannot hold a consumer forever.
const opTimeout = 15 * time.Second

// Queue is one named queue in a database. Safe for concurrent use.
type Queue struct {
	db    *sql.DB
	d     Dialect
	st    statements
	cfg   backends.Config
	where string
	log   *slog.Logger
	sig   *signal

	listen       func(ctx context.Context, queue string, wake func())
	listenOnce   sync.Once
	stopListen   context.CancelFunc
	listenerDone chan struct{}

	acks      chan *ackReq // to ackLoop (acker.go), started by the first ack
	ackerOnce sync.Once
	ackerDone chan struct{}

	once sync.Once
	done chan struct{}

	mu        sync.Mutex // guards consumers and closing
	consumers map[*consumer]struct{}
	closing   bool
}

var (
	_ backends.Queue     = (*Queue)(nil)
	_ backends.Destroyer = (*Queue)(nil)
)

// Open creates the tables if they are absent and returns the queue
// opts.Config.Queue. On error it closes opts.DB.
func Open(ctx context.Context, opts Options) (*Queue, error) {
	cfg := opts.Config
	d := opts.Dialect
	if cfg.Queue == "" {
		opts.DB.Close()
		return nil, fmt.Errorf("%s open %s: empty queue name", d.Name, opts.Where)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = backends.DefaultLease
	}
	// A queue opened to inspect makes no table: it only checks that the
	// database answers.
	prepare := func() error { return ensureSchema(ctx, opts.DB, d) }
	if cfg.Inspect {
		prepare = func() error { return opts.DB.PingContext(ctx) }
	}
	if err := prepare(); err != nil {
		opts.DB.Close()
		return nil, classify(ctx, d, fmt.Sprintf("%s open %s", d.Name, opts.Where), opts.Where, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Queue{
		db:           opts.DB,
		d:            d,
		st:           d.statements(),
		cfg:          cfg,
		where:        opts.Where,
		log:          log.With("backend", d.Name, "queue", cfg.Queue),
		sig:          acquireSignal(opts.WakeKey + "\x00" + cfg.Queue),
		listen:       opts.Listen,
		listenerDone: make(chan struct{}),
		acks:         make(chan *ackReq, maxAcks),
		ackerDone:    make(chan struct{}),
		done:         make(chan struct{}),
		consumers:    map[*consumer]struct{}{},
	}, nil
}

// Backend returns the dialect's name.
func (q *Queue) Backend() string { return q.d.Name }

// DB returns the database handle, for tests and tools that look at the
// tables directly.
func (q *Queue) DB() *sql.DB { return q.db }

func (q *Queue) closed() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

// Close closes the queue's consumers (what they claimed and never handed
// out is given back at once), stops the listener and closes the database.
// Deliveries handed out and not settled come back when their lease ends,
// as if this process had died. Idempotent and safe for concurrent use; it
// may block for a few seconds giving claimed rows back.
func (q *Queue) Close() error {
	q.once.Do(func() {
		q.mu.Lock()
		q.closing = true
		cs := make([]*consumer, 0, len(q.consumers))
		for c := range q.consumers {
			cs = append(cs, c)
		}
		q.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		for _, c := range cs {
			c.shutdown(ctx)
		}
		cancel()
		close(q.done)
		q.listenOnce.Do(func() { close(q.listenerDone) }) // never started
		if q.stopListen != nil {
			q.stopListen()
		}
		<-q.listenerDone
		q.ackerOnce.Do(func() { close(q.ackerDone) }) // never started
		<-q.ackerDone                                 // a batch in flight commits first
		releaseSignal(q.sig)
		q.db.Close()
	})
	return nil
}

// startListener starts opts.Listen at the first Subscribe: a process that
// only publishes (launch) needs no listening connection.
func (q *Queue) startListener() {
	q.listenOnce.Do(func() {
		if q.listen == nil {
			close(q.listenerDone)
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		q.stopListen = cancel
		go func() {
			defer close(q.listenerDone)
			q.listen(ctx, q.cfg.Queue, q.sig.notify)
		}()
	})
}

// Publish inserts msgs in one transaction, which also notifies the
// consumers of other processes (Dialect.Notify), and returns once it is
// committed: durable as the database makes commits. A batch is all or
// nothing; ErrTooLarge refuses it before anything is sent. Safe for
// concurrent use; cancelling ctx rolls the transaction back, unless it
// was committing.
func (q *Queue) Publish(ctx context.Context, msgs ...backends.Message) error {
	if q.closed() {
		return fmt.Errorf("%s publish %s: %w", q.d.Name, q.cfg.Queue, backends.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := q.cfg.CheckSizes(msgs); err != nil {
		return fmt.Errorf("%s publish %s: %w", q.d.Name, q.cfg.Queue, err)
	}
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		if err := q.insert(ctx, tx, msgs, 0); err != nil {
			return err
		}
		return q.notifyIn(ctx, tx)
	})
	if err != nil {
		return q.fail(ctx, "publish", q.cfg.Queue, err)
	}
	q.sig.notify()
	return nil
}

// insertBatch bounds the rows, and insertBytes the bytes of bodies, of
// one INSERT statement (PostgreSQL takes at most 65535 parameters).
const (
	insertBatch = 200
	insertBytes = 4 << 20
)

// insert adds msgs to the queue in tx, visible after delay.
func (q *Queue) insert(ctx context.Context, tx *sql.Tx, msgs []backends.Message, delay time.Duration) error {
	for len(msgs) > 0 {
		n, size := 0, 0
		for n < len(msgs) && n < insertBatch && (n == 0 || size+len(msgs[n].Body) <= insertBytes) {
			size += len(msgs[n].Body)
			n++
		}
		args := make([]any, 0, 6*n)
		for _, m := range msgs[:n] {
			body := m.Body
			if body == nil {
				body = []byte{} // NOT NULL
			}
			args = append(args, q.cfg.Queue, m.ID, body, max(m.Attempt, 1), delay.Microseconds(), delay.Microseconds())
		}
		if _, err := tx.ExecContext(ctx, q.d.insertRows(n), args...); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// notifyIn runs the dialect's Notify in tx.
func (q *Queue) notifyIn(ctx context.Context, tx *sql.Tx) error {
	if q.st.notify == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, q.st.notify, q.cfg.Queue)
	return err
}

// inTx runs fn in a transaction and commits it if fn returns nil.
func (q *Queue) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// errNotOwned rolls back a settlement whose row was claimed again.
var errNotOwned = errors.New("not owned")

// fail wraps err from operation op on target: closed, cancelled, or
// unreachable (transient) where it is one of those. Driver messages are
// redacted: they may quote the URL.
// inspected says, for a Queue opened to inspect, ErrNoQueue when table
// does not exist (no palantir queue was ever used in this database).
func (q *Queue) inspected(ctx context.Context, op, table string) error {
	if !q.cfg.Inspect {
		return nil
	}
	var ok bool
	if err := q.db.QueryRowContext(ctx, q.d.sql(q.d.Exists), table).Scan(&ok); err != nil {
		return q.fail(ctx, op, q.cfg.Queue, err)
	}
	if !ok {
		return fmt.Errorf("%s %s %s: %w", q.d.Name, op, q.cfg.Queue, backends.ErrNoQueue)
	}
	return nil
}

func (q *Queue) fail(ctx context.Context, op, target string, err error) error {
	if q.closed() {
		return fmt.Errorf("%s %s %s: %w", q.d.Name, op, target, backends.ErrClosed)
	}
	return classify(ctx, q.d, fmt.Sprintf("%s %s %s", q.d.Name, op, target), q.where, err)
}

func classify(ctx context.Context, d Dialect, what, where string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", what, ctx.Err())
	case d.Transient != nil && d.Transient(err):
		return fmt.Errorf("%s at %s: %w: %s", what, where, backends.ErrUnreachable, backends.RedactText(oneLine(err)))
	default:
		return fmt.Errorf("%s: %s", what, backends.RedactText(oneLine(err)))
	}
}

func oneLine(err error) string {
	s := []rune(err.Error())
	for i, r := range s {
		if r == '\n' || r == '\r' {
			s[i] = ' '
		}
	}
	return string(s)
}
