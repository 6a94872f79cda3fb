package nats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/palantir-lab/palantir/backends"
)

// Name is the registered backend name.
const Name = "nats"

// Timeouts. dialTimeout bounds the TCP connect and the protocol
// handshake, openTimeout everything Open does, so that Open fails within
// the few seconds the Opener contract allows. publishWait bounds the wait
// for a publish ack (as RabbitMQ's confirmWait does).
const (
	dialTimeout = 3 * time.Second
	openTimeout = 5 * time.Second
	publishWait = 30 * time.Second
	// apiTimeout bounds a JetStream API request or an ack made with a
	// context that has no deadline.
	apiTimeout = 5 * time.Second
)

// publishWindow is how many publishes of one batch wait for their acks
// at once; maxPending bounds them over every Publish of a Queue.
const (
	publishWindow = 512
	maxPending    = 4096
)

// Queue is a connection to one queue on a NATS server with JetStream. It
// is safe for concurrent use.
type Queue struct {
	cfg   backends.Config
	set   settings
	names Names
	log   *slog.Logger
	nc    *natsgo.Conn
	js    jetstream.JetStream

	once sync.Once
	done chan struct{}
	// destroyed is set by Destroy: nothing makes the streams again.
	destroyed atomic.Bool

	mu        sync.Mutex // guards the fields below
	consumers map[*consumer]struct{}
	closing   bool // no new consumers
	// background is true once the mover and the MaxDeliver watch run
	// (started by the first Subscribe; see mover.go).
	background bool
	advisory   *natsgo.Subscription
	stopMover  context.CancelFunc // cancels the mover's pull request
	bg         sync.WaitGroup
}

var (
	_ backends.Queue     = (*Queue)(nil)
	_ backends.Destroyer = (*Queue)(nil)
)

// Open connects to cfg.URL and makes sure the queue's streams and its
// work consumer exist. It fails within a few seconds, wrapping
// backends.ErrUnreachable, when no server answers or it has no
// JetStream, and wrapping backends.ErrBadURL for a URL it cannot use.
// Errors show the URL redacted.
func Open(ctx context.Context, cfg backends.Config) (*Queue, error) {
	set, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.Queue) == "" {
		return nil, fmt.Errorf("nats open %s: empty queue name", set.redacted)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = backends.DefaultLease
	}
	q := &Queue{
		cfg:       cfg,
		set:       set,
		names:     NamesFor(cfg.Queue),
		log:       logger(cfg),
		done:      make(chan struct{}),
		consumers: map[*consumer]struct{}{},
	}
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	q.nc, err = connect(octx, set, "palantir "+cfg.Queue, q.log)
	if err != nil {
		return nil, err
	}
	q.js, err = jetstream.New(q.nc, jetstream.WithPublishAsyncMaxPending(maxPending), jetstream.WithPublishAsyncTimeout(publishWait))
	if err != nil {
		q.nc.Close()
		return nil, fmt.Errorf("nats open %s: %w", set.redacted, err)
	}
	if err := q.prepare(octx); err != nil {
		q.nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("nats open %s: %w", set.redacted, ctx.Err())
		}
		if octx.Err() != nil && !errors.Is(err, backends.ErrUnreachable) {
			// The server answers but JetStream does not (a cluster without
			// a majority, a stream whose leader is being elected): as
			// unreachable as no server, and as transient.
			return nil, fmt.Errorf("nats open %s: %w: JetStream did not answer within %v: %w", set.redacted, backends.ErrUnreachable, openTimeout, err)
		}
		return nil, fmt.Errorf("nats open %s: %w", set.redacted, err)
	}
	return q, nil
}

// connect dials the server of set within ctx. The first connection is
// tried once (RetryOnFailedConnect is off): a server that does not answer
// is an error at once, wrapping ErrUnreachable. Once connected, the
// client reconnects for ever, backing off from 100 ms to 5 s, and keeps
// nothing to send while disconnected (ReconnectBufSize -1): a publish, an
// ack or a pull request then fails at once and says so, instead of
// returning nil for bytes that may never leave the process.
func connect(ctx context.Context, set settings, name string, log *slog.Logger) (*natsgo.Conn, error) {
	opts := []natsgo.Option{
		natsgo.Name(name),
		natsgo.Timeout(dialTimeout),
		natsgo.MaxReconnects(-1),
		natsgo.CustomReconnectDelay(reconnectDelay),
		natsgo.ReconnectBufSize(-1),
		natsgo.NoCallbacksAfterClientClose(),
	}
	if log != nil {
		opts = append(opts,
			natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
				if err != nil {
					log.Warn("nats: connection lost; reconnecting", "url", set.redacted, "err", err)
				}
			}),
			natsgo.ReconnectHandler(func(*natsgo.Conn) {
				log.Info("nats: reconnected", "url", set.redacted)
			}),
			natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
				log.Warn("nats: asynchronous error", "err", err)
			}),
		)
	}
	if set.caFile != "" {
		opts = append(opts, natsgo.RootCAs(set.caFile))
	}
	if set.certFile != "" {
		opts = append(opts, natsgo.ClientCert(set.certFile, set.keyFile))
	}
	type result struct {
		nc  *natsgo.Conn
		err error
	}
	res := make(chan result, 1)
	go func() {
		nc, err := natsgo.Connect(set.server, opts...)
		res <- result{nc, err}
	}()
	select {
	case r := <-res:
		if r.err != nil {
			why := backends.RedactText(r.err.Error())
			if errors.Is(r.err, natsgo.ErrNoServers) {
				// nats.go says this when the connection is refused.
				why += " (nothing accepts connections there)"
			}
			return nil, fmt.Errorf("nats open %s: %w: %s", set.redacted, backends.ErrUnreachable, why)
		}
		return r.nc, nil
	case <-ctx.Done():
		go func() {
			if r := <-res; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("nats open %s: %w: %w", set.redacted, backends.ErrUnreachable, ctx.Err())
	}
}

// reconnectDelay backs off exponentially from 100 ms to 5 s.
func reconnectDelay(attempts int) time.Duration {
	return backoff(attempts, 100*time.Millisecond, 5*time.Second)
}

// backoff is base doubled for each failure after the first, capped.
func backoff(failures int, base, cap time.Duration) time.Duration {
	d := base
	for i := 1; i < failures && d < cap; i++ {
		d *= 2
	}
	return min(d, cap)
}

// logger is cfg.Logger, else slog's default.
func logger(cfg backends.Config) *slog.Logger {
	l := cfg.Logger
	if l == nil {
		l = slog.Default()
	}
	return l.With("backend", Name, "queue", cfg.Queue)
}

// prepare makes the queue's streams, or, for a Queue opened to inspect,
// only checks that JetStream answers: looking at a mistyped --queue must
// create nothing.
func (q *Queue) prepare(ctx context.Context) error {
	if q.cfg.Inspect {
		_, err := q.js.AccountInfo(ctx)
		return err
	}
	return q.ensure(ctx)
}

// ensure creates or updates the three streams (with the URL's replicas,
// else those a stream has), and creates the work consumer if it is
// missing (Subscribe sets its lease; a process that
// only publishes or reads stats must not change it). Idempotent; several
// processes may run it at once.
func (q *Queue) ensure(ctx context.Context) error {
	for _, sc := range q.streamConfigs() {
		s, err := q.js.Stream(ctx, sc.Name)
		switch {
		case err == nil:
			have := s.CachedInfo().Config
			if sc.Replicas == 0 {
				// A URL without replicas keeps what the stream has: an
				// update with none would scale an R3 stream down to one
				// server.
				sc.Replicas = have.Replicas
			}
			if sameStream(have, sc) {
				// No update: on a cluster that lost a server, an update
				// waits for the stream's group to answer, for ~10 s on
				// nats-server 2.9, while the stream serves.
				continue
			}
			_, err = q.js.UpdateStream(ctx, sc)
		case errors.Is(err, jetstream.ErrStreamNotFound):
			// Create, never create-or-update: processes opening a new
			// queue together all get here, and the losers' updates of a
			// stream still being created crashed nats-server 2.9.10
			// (concurrent_open_test.go). The winner made it from the
			// same configuration.
			_, err = q.js.CreateStream(ctx, sc)
			if err != nil {
				// Another process's create may have won ("already in use",
				// or, while it is still being made, "subjects overlap"):
				// what counts is that the stream is there now.
				if _, gerr := q.js.Stream(ctx, sc.Name); gerr == nil {
					err = nil
				}
			}
		}
		if err != nil {
			return q.fail(ctx, "create stream", sc.Name, err)
		}
	}
	_, err := q.js.Consumer(ctx, q.names.Work, q.names.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		// Create only, for the same reason as the streams.
		_, err = q.js.CreateConsumer(ctx, q.names.Work, q.workConsumerConfig())
		if err != nil {
			if _, gerr := q.js.Consumer(ctx, q.names.Work, q.names.Consumer); gerr == nil {
				err = nil // another process made it meanwhile
			}
		}
	}
	if err != nil {
		return q.fail(ctx, "create consumer", q.names.Work+" "+q.names.Consumer, err)
	}
	return nil
}

// durable returns the durable consumer want of stream, creating it or
// updating its configuration only if it differs (see ensure for why).
// A missing one is created, never created-or-updated (see ensure).
func (q *Queue) durable(ctx context.Context, stream string, want jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	cons, err := q.js.Consumer(ctx, stream, want.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = q.js.CreateConsumer(ctx, stream, want)
		if !errors.Is(err, jetstream.ErrConsumerExists) {
			return cons, err
		}
		// Another process made it meanwhile, otherwise.
		cons, err = q.js.Consumer(ctx, stream, want.Durable)
	}
	if err != nil {
		return nil, err
	}
	if sameConsumer(cons.CachedInfo().Config, want) {
		return cons, nil
	}
	return q.js.UpdateConsumer(ctx, stream, want)
}

// sameConsumer reports whether have already is want in every field
// palantir sets.
func sameConsumer(have, want jetstream.ConsumerConfig) bool {
	return have.Description == want.Description && have.DeliverPolicy == want.DeliverPolicy &&
		have.AckPolicy == want.AckPolicy && have.AckWait == want.AckWait &&
		have.MaxDeliver == want.MaxDeliver && have.MaxAckPending == want.MaxAckPending
}

// sameStream reports whether have already is want in every field
// palantir sets.
func sameStream(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.Description == want.Description &&
		have.Retention == want.Retention && have.Storage == want.Storage &&
		have.Duplicates == want.Duplicates && have.Replicas == want.Replicas
}

// dedupWindow is how long JetStream remembers a Nats-Msg-Id. Only copies
// that palantir may publish twice (a retry moved when due, a dead letter
// replayed, one dead-lettered by the MaxDeliver watch) carry one.
const dedupWindow = 2 * time.Minute

func (q *Queue) streamConfigs() []jetstream.StreamConfig {
	n := q.names
	return []jetstream.StreamConfig{
		{
			Name: n.Work, Subjects: []string{n.WorkSubject},
			Description: fmt.Sprintf("palantir queue %q: missions waiting for a worker", q.cfg.Queue),
			Retention:   jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Duplicates: dedupWindow,
			Replicas: q.set.replicas,
		},
		{
			Name: n.Delayed, Subjects: []string{n.DelayedSubject},
			Description: fmt.Sprintf("palantir queue %q: retries waiting for their delay", q.cfg.Queue),
			Retention:   jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Duplicates: dedupWindow,
			Replicas: q.set.replicas,
		},
		{
			Name: n.Dead, Subjects: []string{n.DeadSubject},
			Description: fmt.Sprintf("palantir queue %q: dead letters", q.cfg.Queue),
			Retention:   jetstream.LimitsPolicy, Storage: jetstream.FileStorage, Duplicates: dedupWindow,
			Replicas: q.set.replicas,
		},
	}
}

// MaxDeliver is the work consumer's delivery limit for a worker that
// dead-letters after workerLimit deliveries without an outcome: twice
// that (20 by default), and at least two more, so that the worker always
// receives the delivery on which it gives up with its own reason. The
// server's limit is the backstop for a message no worker settles (the
// MaxDeliver watch in mover.go dead-letters it).
func MaxDeliver(workerLimit int) int {
	return max(2*workerLimit, workerLimit+2)
}

// workConsumerConfig: every worker of the queue shares this one durable
// pull consumer, so JetStream hands each message to one of them. Its
// AckWait is the lease; MaxAckPending is unbounded because each worker
// bounds its own unsettled messages (ConsumerOptions.Prefetch).
func (q *Queue) workConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       q.names.Consumer,
		Description:   fmt.Sprintf("palantir workers of queue %q", q.cfg.Queue),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.cfg.Lease,
		MaxDeliver:    MaxDeliver(q.cfg.DeliveryLimit()),
		MaxAckPending: -1,
	}
}

// Backend returns "nats".
func (q *Queue) Backend() string { return Name }

// Names returns the JetStream names of this queue.
func (q *Queue) Names() Names { return q.names }

// Close closes the queue's consumers (see consumer Close), stops the
// mover, then closes the connection. Deliveries handed out and not
// settled come back after the lease, as if this process had died.
// Idempotent and safe for concurrent use.
func (q *Queue) Close() error {
	q.once.Do(func() {
		q.mu.Lock()
		q.closing = true
		cs := make([]*consumer, 0, len(q.consumers))
		for c := range q.consumers {
			cs = append(cs, c)
		}
		q.mu.Unlock()
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Add(1)
			go func() { defer wg.Done(); c.Close() }()
		}
		wg.Wait()
		close(q.done)
		q.stopBackground()
		q.bg.Wait()
		q.nc.Close()
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

// A pull request waits on the server up to pullWait for messages, with
// an idle heartbeat every pullHeartbeat, so that a request the server
// lost (it restarted) is noticed within two heartbeats and made again.
//
// Why long requests rather than short ones: nats-server before 2.10.14
// mishandles a redelivery that finds no pull request waiting but an
// expired one not yet answered (nats-server#5305): it drops the request
// without its 408, skips the message until its AckWait runs out again
// (counting one more delivery), and may hand out an earlier message a
// second time. The fewer requests expire, the rarer that is; the wait is
// jittered so that requests do not expire in step with a lease that is
// a multiple of it. A consumer that closes cancels its request rather
// than waiting for it to expire.
const (
	pullWait      = 5 * time.Second
	pullHeartbeat = time.Second
)

// pullContext is the context of one pull request: it ends between 80%
// and 100% of pullWait from now.
func pullContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), pullWait-time.Duration(rand.Int64N(int64(pullWait/5))))
}

// pull makes one pull request for up to n messages on cons, ending when
// ctx (from pullContext) ends.
func pull(ctx context.Context, cons jetstream.Consumer, n int) (jetstream.MessageBatch, error) {
	return cons.Fetch(n, jetstream.FetchContext(ctx), jetstream.FetchHeartbeat(pullHeartbeat))
}

// Publish sends msgs to the work subject with asynchronous publishes, at
// most publishWindow at a time, and returns once JetStream has stored
// every one of them (its publish ack) or with an error; on error some may
// have been stored. A message over the size limit fails the whole batch
// before anything is sent (ErrTooLarge). If the stream is gone (deleted
// behind the queue's back), it is created again and what failed is sent
// once more. Safe for concurrent use; cancelling ctx abandons the wait.
func (q *Queue) Publish(ctx context.Context, msgs ...backends.Message) error {
	if q.closed() {
		return fmt.Errorf("nats publish %s: %w", q.names.WorkSubject, backends.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := q.cfg.CheckSizes(msgs); err != nil {
		return fmt.Errorf("nats publish %s: %w", q.names.WorkSubject, err)
	}
	pending := msgs
	for try := 0; ; try++ {
		failed, err := q.publishBatch(ctx, pending)
		if err == nil {
			return nil
		}
		if try == 0 && noStream(err) && ctx.Err() == nil && !q.destroyed.Load() && !q.cfg.Inspect && q.ensure(ctx) == nil {
			pending = failed
			continue
		}
		return q.fail(ctx, "publish", q.names.WorkSubject, err)
	}
}

// publishBatch publishes msgs in windows and returns those that failed
// with the first error.
func (q *Queue) publishBatch(ctx context.Context, msgs []backends.Message) ([]backends.Message, error) {
	var failed []backends.Message
	var first error
	note := func(m backends.Message, err error) {
		failed = append(failed, m)
		if first == nil {
			first = err
		}
	}
	for start := 0; start < len(msgs); start += publishWindow {
		window := msgs[start:min(start+publishWindow, len(msgs))]
		futures := make([]jetstream.PubAckFuture, len(window))
		for i, m := range window {
			f, err := q.js.PublishMsgAsync(outgoing{subject: q.names.WorkSubject, msg: m}.natsMsg(), jetstream.WithStallWait(publishWait))
			if err != nil {
				note(m, err)
				continue
			}
			futures[i] = f
		}
		for i, f := range futures {
			if f == nil {
				continue
			}
			select {
			case <-f.Ok():
			case err := <-f.Err():
				note(window[i], err)
			case <-ctx.Done():
				return append(failed, msgs[start+i:]...), ctx.Err()
			}
		}
		if first != nil {
			return append(failed, msgs[start+len(window):]...), first
		}
	}
	return nil, nil
}

// publishOne publishes o and waits for its publish ack.
func (q *Queue) publishOne(ctx context.Context, o outgoing) (*jetstream.PubAck, error) {
	ctx, cancel := withTimeout(ctx, apiTimeout)
	defer cancel()
	return q.js.PublishMsg(ctx, o.natsMsg())
}

// withTimeout gives ctx a deadline d away unless it has one.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// noStream reports whether err says no stream took a publish (the
// stream is gone, or JetStream is not answering).
func noStream(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, natsgo.ErrNoResponders)
}

// fail wraps err from operation op on target, classifying it: closed,
// cancelled, or unreachable (transient) where it is one of those.
func (q *Queue) fail(ctx context.Context, op, target string, err error) error {
	switch {
	case q.closed() || errors.Is(err, natsgo.ErrConnectionClosed) || errors.Is(err, jetstream.ErrConnectionClosed):
		return fmt.Errorf("nats %s %s: %w", op, target, backends.ErrClosed)
	case ctx.Err() != nil:
		return fmt.Errorf("nats %s %s: %w", op, target, ctx.Err())
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return fmt.Errorf("nats %s %s at %s: %w: %s", op, target, q.set.redacted, backends.ErrUnreachable, noJetStream)
	case errors.Is(err, natsgo.ErrReconnectBufExceeded) || errors.Is(err, natsgo.ErrConnectionReconnecting):
		// With no reconnect buffer, nats.go says "outbound buffer limit
		// exceeded" for anything sent while the connection is down.
		return fmt.Errorf("nats %s %s at %s: %w: the connection is down; reconnecting", op, target, q.set.redacted, backends.ErrUnreachable)
	case transient(err):
		return fmt.Errorf("nats %s %s at %s: %w: %w", op, target, q.set.redacted, backends.ErrUnreachable, err)
	default:
		return fmt.Errorf("nats %s %s: %w", op, target, err)
	}
}

const noJetStream = "the server has no JetStream (start it with nats-server -js)"

// transient reports whether err means the server could not be reached or
// is not serving right now: waiting may help.
func transient(err error) bool {
	for _, e := range []error{
		natsgo.ErrConnectionReconnecting, natsgo.ErrReconnectBufExceeded, natsgo.ErrTimeout,
		natsgo.ErrNoResponders, natsgo.ErrNoServers, natsgo.ErrDisconnected, natsgo.ErrStaleConnection,
		jetstream.ErrNoStreamResponse, jetstream.ErrAsyncPublishTimeout, jetstream.ErrTooManyStalledMsgs,
		jetstream.ErrServerShutdown, jetstream.ErrConsumerLeadershipChanged, jetstream.ErrNoHeartbeat,
		context.DeadlineExceeded, io.EOF, io.ErrUnexpectedEOF,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// 503: JetStream is there but not serving (no stream leader yet,
	// still recovering after a restart).
	var api *jetstream.APIError
	return errors.As(err, &api) && api.Code == 503
}
