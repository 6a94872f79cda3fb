package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/backends"
)

// Name is the registered backend name.
const Name = "redis"

// Group is the consumer group every palantir worker joins.
const Group = "palantir"

// pingTimeout bounds Open's first round trip.
const pingTimeout = 3 * time.Second

// Backend registers redis for the names and schemes redis and rediss.
func Backend() backends.Backend {
	return backends.Backend{
		Name:      Name,
		Schemes:   []string{"redis", "rediss"},
		Holds:     "Redis Streams",
		Networked: true,
		URL: &backends.URLSetting{Key: "redis_url", Default: "redis://127.0.0.1:6379/0",
			Help: "Redis URL for --backend redis (rediss:// for TLS; Sentinel and Cluster URLs too)"},
		Open: func(ctx context.Context, cfg backends.Config) (backends.Queue, error) {
			q, err := Open(ctx, cfg)
			if err != nil {
				return nil, err // not a typed nil inside the interface
			}
			return q, nil
		},
		Hint: func(error) string {
			return "start Redis (redis-server --daemonize yes) or point --redis-url / PALANTIR_REDIS_URL at it"
		},
		Ceiling: ceiling,
		Primitives: map[string]string{
			"mission_queued":        "MULTI; XADD palantir:{Q} per mission; EXEC (a launch's batch is all or nothing)",
			"mission_started":       "EVALSHA poll: due retries ZRANGEBYSCORE palantir:{Q}:delayed -> XADD; XAUTOCLAIM leases expired; XREADGROUP GROUP palantir >",
			"mission_progress":      "EVALSHA extend: XCLAIM ... JUSTID to this consumer (renews the lease)",
			"mission_retry":         "EVALSHA retry: XACK + XDEL the entry; ZADD palantir:{Q}:delayed scored by its due time",
			"mission_persisted":     "then XACK + XDEL of the entry (pipelined, after the store's commit)",
			"mission_dead_lettered": "EVALSHA dead: XADD palantir:{Q}:dead; XACK + XDEL the entry",
		},
		Guarantees: backends.Guarantees{
			Holds: []string{
				"a dead worker's missions come back after the lease (XAUTOCLAIM)",
				"delayed retries on time to the poll (~100 ms)",
				"nothing lost on a Redis restart with appendfsync always",
			},
			DoesNot: []string{
				"durability with appendfsync everysec (up to ~1 s lost) or without persistence",
				"FIFO across redeliveries and retries",
			},
		},
	}
}

// KeyNames are the Redis keys of one queue. They share the hash tag {Q},
// so that the scripts that touch several of them run on Cluster too.
type KeyNames struct {
	Stream  string // palantir:{Q}: the work stream
	Delayed string // palantir:{Q}:delayed: retries waiting for their delay (ZSET)
	Dead    string // palantir:{Q}:dead: dead letters (stream)
}

// Keys returns the key names of queue.
func Keys(queue string) KeyNames {
	s := "palantir:{" + queue + "}"
	return KeyNames{Stream: s, Delayed: s + ":delayed", Dead: s + ":dead"}
}

// Queue is a connection to one queue on a Redis server, Sentinel-managed
// master or Cluster. It is safe for concurrent use.
type Queue struct {
	client goredis.UniversalClient
	keys   KeyNames
	lease  time.Duration
	where  string // the URL, redacted, for errors
	cfg    backends.Config
	log    *slog.Logger
	budget int // bytes one poll may read (pollBudget)

	once sync.Once
	done chan struct{}

	mu        sync.Mutex // guards consumers and closing
	consumers map[*consumer]struct{}
	closing   bool // no new consumers

	// refusing is true while polls find Redis refusing writes (OOM), so
	// that it is logged once per change of state (noteRefused).
	refusing atomic.Bool

	acks      chan *ackReq // to ackLoop (acker.go)
	ackerDone chan struct{}
}

var _ backends.Queue = (*Queue)(nil)

// Open connects to cfg.URL and checks the connection with a PING of at
// most a few seconds. An unanswered PING is an error wrapping
// backends.ErrUnreachable; a malformed URL one wrapping backends.ErrBadURL.
// Errors show the URL with its password redacted.
func Open(ctx context.Context, cfg backends.Config) (*Queue, error) {
	where := redact(cfg.URL)
	if cfg.Queue == "" {
		return nil, fmt.Errorf("redis open %s: empty queue name", where)
	}
	spec, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Lease <= 0 {
		cfg.Lease = backends.DefaultLease
	}
	routeLogs(cfg.Logger)
	if spec.insecure {
		logger(cfg).Warn("redis: TLS without verifying the server's certificate (skip_verify=true): "+
			"anyone on the path can read and change the traffic; name its CA with cacertfile instead", "url", where)
	}
	client := spec.newClient()

	// The client's own timeouts and retries could add up to more than the
	// Opener contract allows; the wait is bounded here instead.
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- client.Ping(pctx).Err() }()
	select {
	case err = <-errc:
	case <-pctx.Done():
		err = pctx.Err()
	}
	if err != nil {
		client.Close()
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("redis open %s: %w", where, ctx.Err())
		case tlsMismatch(err) != "":
			return nil, fmt.Errorf("redis open %s: %w: %s", where, backends.ErrBadURL, tlsMismatch(err))
		case spec.tls() && answersPlain(spec.addr()):
			// A server without TLS reads the TLS hello as a command that
			// never ends, and the handshake just times out.
			return nil, fmt.Errorf("redis open %s: %w: %s", where, backends.ErrBadURL, noTLS)
		case errors.Is(err, context.DeadlineExceeded) || isConnError(err):
			return nil, fmt.Errorf("redis open %s: %w: %w", where, backends.ErrUnreachable, err)
		default:
			return nil, fmt.Errorf("redis open %s: %w", where, err)
		}
	}
	q := &Queue{
		client:    client,
		keys:      Keys(cfg.Queue),
		lease:     cfg.Lease,
		where:     where,
		cfg:       cfg,
		log:       logger(cfg),
		budget:    pollBudget(cfg.MaxBytes()),
		done:      make(chan struct{}),
		consumers: map[*consumer]struct{}{},
		acks:      make(chan *ackReq, maxAcks),
		ackerDone: make(chan struct{}),
	}
	go q.ackLoop()
	return q, nil
}

// logger is cfg.Logger, else slog's default, for what the backend must
// tell although no caller asked (a message it dead-lettered itself).
func logger(cfg backends.Config) *slog.Logger {
	l := cfg.Logger
	if l == nil {
		l = slog.Default()
	}
	return l.With("backend", Name, "queue", cfg.Queue)
}

// pollBudget is how many bytes of entries one poll may read: a few MiB,
// and room for two messages of the largest size allowed. Reading is
// bounded by bytes, not only by the prefetch, because a stranger may
// have put entries of any size in the stream: the poll script, which
// blocks every client of the server while it runs, and the worker's
// memory stay bounded.
func pollBudget(maxBytes int) int {
	return max(4<<20, 2*maxBytes)
}

// Backend returns "redis".
func (q *Queue) Backend() string { return Name }

// Keys returns the Redis key names of this queue.
func (q *Queue) Keys() KeyNames { return q.keys }

// Close closes the queue's consumers (see consumer Close: what they read
// but never handed out goes back to the stream), then the connection.
// Deliveries handed out and not settled come back after the lease, as if
// this process had died. Close is idempotent and safe for concurrent use;
// it may block for up to two seconds giving buffered entries back.
func (q *Queue) Close() error {
	q.once.Do(func() {
		q.mu.Lock()
		q.closing = true
		cs := make([]*consumer, 0, len(q.consumers))
		for c := range q.consumers {
			cs = append(cs, c)
		}
		q.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		for _, c := range cs {
			c.shutdown(ctx)
		}
		cancel()
		close(q.done)
		q.client.Close() // a batch in flight fails at once, not after timeouts
		<-q.ackerDone
	})
	return nil
}

func (q *Queue) closed() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

// Publish appends msgs to the work stream in one pipelined round trip and
// returns once Redis has accepted all of them (into memory: see the
// package comment on durability). A batch is one transaction: refused
// (maxmemory, ErrTooLarge) it is refused whole; only a connection lost
// during EXEC leaves it unknown. Safe for concurrent use;
// cancelling ctx abandons the wait.
func (q *Queue) Publish(ctx context.Context, msgs ...backends.Message) error {
	if q.closed() {
		return fmt.Errorf("redis publish %s: %w", q.keys.Stream, backends.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := q.cfg.CheckSizes(msgs); err != nil {
		return fmt.Errorf("redis publish %s: %w", q.keys.Stream, err)
	}
	// MULTI/EXEC: Redis at maxmemory refuses the whole transaction, where
	// a pipeline appended the first part of a batch before the refusal,
	// leaving messages whose launch had failed.
	cmds, err := q.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for _, m := range msgs {
			attempt := max(m.Attempt, 1)
			p.XAdd(ctx, &goredis.XAddArgs{
				Stream: q.keys.Stream,
				Values: []any{"id", m.ID, "body", m.Body, "attempt", attempt},
			})
		}
		return nil
	})
	if err != nil {
		// EXECABORT hides why: the refused command's own error says.
		for _, c := range cmds {
			if isOOM(c.Err()) {
				err = c.Err()
				break
			}
		}
		return q.fail(ctx, "publish", q.keys.Stream, err)
	}
	return nil
}

// ensureGroup creates the consumer group (and the stream) if they do not
// exist. The group starts at the beginning of the stream, so messages
// published before the first worker started are delivered.
//
// A Redis at maxmemory refuses XGROUP CREATE even when the group exists
// (the command may allocate, so it is refused before it looks); the
// group is then looked up instead, so that a worker can still join and
// consume, which frees memory.
func (q *Queue) ensureGroup(ctx context.Context) error {
	err := q.client.XGroupCreateMkStream(ctx, q.keys.Stream, Group, "0").Err()
	if err == nil || strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil
	}
	if isOOM(err) {
		gs, ierr := q.client.XInfoGroups(ctx, q.keys.Stream).Result()
		if ierr == nil && slices.ContainsFunc(gs, func(g goredis.XInfoGroup) bool { return g.Name == Group }) {
			return nil
		}
	}
	return q.fail(ctx, "create group", q.keys.Stream, err)
}

// fail wraps err from operation op on target, classifying it: closed,
// cancelled, or unreachable (transient) where it is one of those.
func (q *Queue) fail(ctx context.Context, op, target string, err error) error {
	switch {
	case q.closed() || errors.Is(err, goredis.ErrClosed):
		return fmt.Errorf("redis %s %s: %w", op, target, backends.ErrClosed)
	case ctx.Err() != nil:
		return fmt.Errorf("redis %s %s: %w", op, target, ctx.Err())
	case isConnError(err):
		return fmt.Errorf("redis %s %s at %s: %w: %w", op, target, q.where, backends.ErrUnreachable, err)
	case isOOM(err):
		// Transient: workers that receive and ack free memory, and a
		// worker that waits resumes when they have.
		return fmt.Errorf("redis %s %s at %s: %w: %s", op, target, q.where, backends.ErrUnreachable, oomHelp)
	default:
		return fmt.Errorf("redis %s %s: %w", op, target, err)
	}
}

// logTarget receives go-redis's own log lines; see routeLogs.
var (
	logTarget   atomic.Pointer[slog.Logger]
	logInstalls sync.Once
)

// routeLogs sends go-redis's internal log lines (dial failures, pool
// events), which it would otherwise print to stderr, to the logger of the
// latest Open that had one (else slog's default) at debug level: the
// errors that matter reach the caller as values. go-redis has a single
// logger per process, so this is process-wide.
func routeLogs(l *slog.Logger) {
	if l != nil {
		logTarget.Store(l)
	}
	logInstalls.Do(func() { goredis.SetLogger(logBridge{}) })
}

type logBridge struct{}

func (logBridge) Printf(ctx context.Context, format string, v ...any) {
	l := logTarget.Load()
	if l == nil {
		l = slog.Default()
	}
	l.DebugContext(ctx, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "), "component", "go-redis")
}

// isConnError reports whether err means the server could not be reached
// or is not serving right now (loading, failing over): a transient error.
func isConnError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset", "broken pipe", "i/o timeout", "no such host"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	for _, prefix := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// noteRefused logs when polls start finding Redis refusing the writes
// they would make (refused is its error, "" when none), and when they
// stop: once per change, not once per poll. Safe for concurrent use.
func (q *Queue) noteRefused(refused string) {
	if refused != "" {
		if !q.refusing.Swap(true) {
			q.log.Warn("redis: due retries and oversized messages wait: "+oomHelp, "error", refused)
		}
		return
	}
	if q.refusing.Swap(false) {
		q.log.Info("redis: writes accepted again (below maxmemory): due retries are moving")
	}
}

// tlsMismatch explains a TLS handshake that failed because the two ends
// are not configured alike, or returns "" for other errors. These are
// configuration errors, not outages: waiting does not help.
func tlsMismatch(err error) string {
	var rec tls.RecordHeaderError
	var unknownCA x509.UnknownAuthorityError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	switch {
	case errors.As(err, &rec):
		return noTLS
	case errors.As(err, &unknownCA):
		return "TLS: the server's certificate is signed by an unknown authority (name its CA with cacertfile=/path/ca.pem)"
	case errors.As(err, &host):
		return fmt.Sprintf("TLS: %v (connect by a name the certificate holds, or set server_name_indication)", host)
	case errors.As(err, &verify):
		return fmt.Sprintf("TLS: the server's certificate is not valid: %v", verify.Err)
	case errors.As(err, &alert) || strings.Contains(err.Error(), "remote error: tls:"):
		return fmt.Sprintf("TLS: the server refused the handshake (%v); if it requires client certificates (tls-auth-clients), set certfile and keyfile", err)
	}
	return ""
}

const noTLS = "the server does not speak TLS (use redis://, or the server's tls-port)"

// answersPlain reports whether a plain-text PING to addr is answered
// like Redis answers (+PONG, or an error such as -NOAUTH) within half a
// second.
func answersPlain(addr string) bool {
	if addr == "" {
		return false
	}
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 1)
	n, _ := conn.Read(buf)
	return n == 1 && (buf[0] == '+' || buf[0] == '-')
}

// oomHelp says what a refused write (OOM) means and how to fix it.
const oomHelp = "Redis is at its maxmemory limit and refuses writes (OOM, maxmemory-policy noeviction); " +
	"workers still receive and ack, which frees memory; else raise maxmemory (CONFIG SET maxmemory) or delete keys"

// isOOM reports whether err is Redis refusing a write at maxmemory.
func isOOM(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "OOM ")
}

// isNoGroup reports whether err says the stream or its group is gone
// (someone deleted the key); the group is then created again.
func isNoGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}

// streamTime is when Redis appended the entry with stream id sid.
func streamTime(sid string) time.Time {
	ms, _, _ := strings.Cut(sid, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n)
}
