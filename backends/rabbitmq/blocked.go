package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/palantir-lab/palantir/backends"
)

// How long a publish waits. A healthy broker confirms in milliseconds; one
// under a resource alarm (memory or disk) blocks every connection that
// publishes, and stops reading from its socket, until the alarm clears,
// which may be never without an operator. Publishing must not wait for
// that forever: a blocked publish gives up after blockedWait, and any
// publish whose confirms are missing after confirmWait.
const (
	blockedWait = 10 * time.Second
	confirmWait = 30 * time.Second
)

// ErrBlocked is wrapped by the error of a publish that gave up because
// RabbitMQ blocked the connection (connection.blocked: a memory or disk
// alarm). The same error also wraps backends.ErrUnreachable: the broker
// cannot take work, as if it were down.
var ErrBlocked = errors.New("RabbitMQ has blocked publishers")

// blockedError is a publish given up on while the connection was blocked.
type blockedError struct {
	url, reason string
	waited      time.Duration
}

func (e *blockedError) Error() string {
	return fmt.Sprintf("%v: memory/disk alarm on %s (%s); nothing confirmed for %v; free memory or disk on the broker (rabbitmq-diagnostics alarms shows which)",
		ErrBlocked, e.url, e.reason, e.waited.Round(time.Second))
}

// Unwrap makes the error match both ErrBlocked and backends.ErrUnreachable
// (exit status 3) without repeating the latter's text.
func (e *blockedError) Unwrap() []error { return []error{ErrBlocked, backends.ErrUnreachable} }

// blockState is the connection.blocked state of the current connection,
// written by the watcher of that connection (watchBlocked) and read by
// publishes. Safe for concurrent use.
type blockState struct {
	mu      sync.Mutex
	conn    *amqp.Connection // the connection the state is about
	active  bool
	reason  string
	since   time.Time
	changed chan struct{} // closed and replaced at every change
}

// snapshot returns the state and a channel closed at its next change.
func (b *blockState) snapshot() (active bool, reason string, since time.Time, changed <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.active, b.reason, b.since, b.changed
}

// set records conn's state; a stale connection's news is ignored.
func (b *blockState) set(conn *amqp.Connection, active bool, reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if conn != b.conn && b.conn != nil && conn != nil {
		return
	}
	if conn != nil {
		b.conn = conn
	}
	b.active, b.reason = active, reason
	if active {
		b.since = time.Now()
	}
	if b.changed != nil {
		close(b.changed)
	}
	b.changed = make(chan struct{})
}

// watchBlocked follows conn's connection.blocked and connection.unblocked
// notifications until conn closes. A new connection starts unblocked.
func (l *link) watchBlocked(conn *amqp.Connection) {
	q := l.q
	l.block.mu.Lock()
	l.block.conn = conn
	l.block.mu.Unlock()
	l.block.set(conn, false, "")
	blocks := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		for b := range blocks { // closed by amqp091-go when conn closes
			if b.Active {
				q.log.Warn("rabbitmq blocked this connection's publishers (resource alarm)", "connection", l.name, "url", q.set.redacted, "reason", b.Reason)
			} else {
				q.log.Info("rabbitmq unblocked this connection's publishers", "connection", l.name, "url", q.set.redacted)
			}
			l.block.set(conn, b.Active, b.Reason)
		}
	}()
}

// awaitPublish waits until dc is confirmed (dc nil: until the publishing
// connection is not blocked), ctx ends, or a deadline passes: blockedWait after the
// later of start and the block, or the overall timer. It reports whether
// dc was acked.
func (q *Queue) awaitPublish(ctx context.Context, dc *amqp.DeferredConfirmation, start time.Time, overall <-chan time.Time) (bool, error) {
	var done <-chan struct{}
	if dc != nil {
		done = dc.Done()
	}
	for {
		active, reason, since, changed := q.publishing.block.snapshot()
		if dc == nil && !active {
			return true, nil
		}
		var blockedC <-chan time.Time
		var blockedTimer *time.Timer
		if active {
			blockedTimer = time.NewTimer(time.Until(later(start, since).Add(blockedWait)))
			blockedC = blockedTimer.C
		}
		stop := func() {
			if blockedTimer != nil {
				blockedTimer.Stop()
			}
		}
		select {
		case <-done:
			stop()
			return dc.Acked(), nil
		case <-ctx.Done():
			stop()
			return false, ctx.Err()
		case <-changed:
			stop()
			continue
		case <-blockedC:
			return false, &blockedError{url: q.set.redacted, reason: reason, waited: time.Since(start)}
		case <-overall:
			stop()
			if active {
				return false, &blockedError{url: q.set.redacted, reason: reason, waited: time.Since(start)}
			}
			return false, fmt.Errorf("%w: %s confirmed nothing for %v", backends.ErrUnreachable, q.set.redacted, confirmWait)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
