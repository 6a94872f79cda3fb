package rabbitmq

import (
	"context"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/palantir-lab/palantir/backends"
)

// link is one connection of a Queue, replaced by its supervisor when it
// is lost, until the Queue is closed. Safe for concurrent use.
type link struct {
	q        *Queue
	name     string // the client-provided connection name
	declares bool   // redeclare the topology on every new connection

	mu   sync.Mutex
	conn *amqp.Connection // nil while reconnecting or after Close
	up   chan struct{}    // closed while conn is usable; replaced when it is lost

	block blockState // connection.blocked of the current connection
}

// start makes conn the link's connection and supervises it.
func (l *link) start(conn *amqp.Connection) {
	l.conn = conn
	close(l.up)
	l.watchBlocked(conn)
	l.q.wg.Add(1)
	go l.supervise(conn)
}

// close closes the connection without settling anything. The Queue is
// already marked closed, so the supervisor does not replace it.
func (l *link) close() {
	l.mu.Lock()
	conn := l.conn
	l.conn = nil
	l.mu.Unlock()
	if conn != nil {
		// The error only says the connection was already gone.
		_ = conn.CloseDeadline(time.Now().Add(l.q.set.dialTimeout))
	}
}

// supervise watches conn and replaces it when it is lost, until Close.
func (l *link) supervise(conn *amqp.Connection) {
	q := l.q
	defer q.wg.Done()
	for {
		lost := conn.NotifyClose(make(chan *amqp.Error, 1))
		var cause *amqp.Error
		select {
		case <-q.done:
			return
		case cause = <-lost:
		}
		if q.isClosed() {
			return
		}
		l.lost(conn)
		q.log.Warn("rabbitmq connection lost; reconnecting", "connection", l.name, "url", q.set.redacted, "err", cause)
		if conn = l.reconnect(); conn == nil {
			return
		}
		q.log.Info("rabbitmq reconnected", "connection", l.name, "url", q.set.redacted)
	}
}

// lost forgets conn if it is still the current connection.
func (l *link) lost(conn *amqp.Connection) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == conn && conn != nil {
		l.conn = nil
		l.up = make(chan struct{})
	}
}

// reconnect dials with capped exponential backoff until it succeeds (and
// returns the new connection) or the Queue is closed (and returns nil).
func (l *link) reconnect() *amqp.Connection {
	q := l.q
	backoff := minBackoff
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(backoff)
		select {
		case <-q.done:
			t.Stop()
			return nil
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), q.set.dialTimeout)
		conn, err := q.dial(ctx, l.name)
		cancel()
		if err == nil && l.declares {
			if err = q.declareOn(conn); err != nil {
				conn.Close()
			}
		}
		if err == nil {
			l.mu.Lock()
			if q.isClosed() {
				l.mu.Unlock()
				conn.Close()
				return nil
			}
			l.conn = conn
			close(l.up)
			l.mu.Unlock()
			l.watchBlocked(conn)
			return conn
		}
		q.log.Warn("rabbitmq reconnect failed", "connection", l.name, "url", q.set.redacted, "attempt", attempt, "retry_in", min(2*backoff, maxBackoff), "err", err)
		backoff = min(2*backoff, maxBackoff)
	}
}

// connection returns the current connection, waiting up to reconnectWait
// for one that was lost to come back.
func (l *link) connection(ctx context.Context) (*amqp.Connection, error) {
	q := l.q
	wait := time.NewTimer(reconnectWait)
	defer wait.Stop()
	for {
		l.mu.Lock()
		conn, up := l.conn, l.up
		l.mu.Unlock()
		if q.isClosed() {
			return nil, backends.ErrClosed
		}
		if conn != nil && !conn.IsClosed() {
			return conn, nil
		}
		if conn != nil {
			// Closed, and the supervisor has not noticed yet.
			l.lost(conn)
			continue
		}
		select {
		case <-up:
		case <-q.done:
			return nil, backends.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wait.C:
			return nil, fmt.Errorf("%w: still reconnecting to %s after %v", backends.ErrUnreachable, q.set.redacted, reconnectWait)
		}
	}
}

// channel opens a channel on the current connection.
func (l *link) channel(ctx context.Context) (*amqp.Channel, error) {
	for range 2 {
		conn, err := l.connection(ctx)
		if err != nil {
			return nil, err
		}
		ch, err := conn.Channel()
		if err == nil {
			return ch, nil
		}
		if !conn.IsClosed() {
			return nil, classify(err)
		}
		l.lost(conn) // and wait for the next one, once
	}
	return nil, fmt.Errorf("%w: connection to %s lost", backends.ErrUnreachable, l.q.set.redacted)
}
