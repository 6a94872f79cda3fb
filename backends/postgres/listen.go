package postgres

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palantir-lab/palantir/backends"
)

// The listener's reconnect backoff, and how long it waits for a
// notification before checking that the connection is still alive (a
// server that vanished without closing the connection sends nothing).
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 15 * time.Second
	aliveEvery = 30 * time.Second
)

func logger(l *slog.Logger, queue string) *slog.Logger {
	if l == nil {
		l = slog.Default()
	}
	return l.With("backend", Name, "queue", queue)
}

// listen LISTENs on Channel with a connection of its own and calls wake
// for every notification about queue, until ctx ends. When the connection
// cannot be made or is lost, it says so once, tries again with backoff
// (consumers poll every second meanwhile) and, connected again, calls
// wake: notifications sent while it was away are lost.
func listen(ctx context.Context, cfg *pgx.ConnConfig, queue string, wake func(), log *slog.Logger) {
	backoff := time.Duration(0)
	down := false
	for {
		err := listenOnce(ctx, cfg, queue, func() {
			if down {
				log.Info("postgres: listening for notifications again")
				down = false
			}
			backoff = 0
			wake()
		}, wake)
		if ctx.Err() != nil {
			return
		}
		if !down {
			log.Warn("postgres: the LISTEN connection failed; consumers poll every second until it is back",
				"err", backends.RedactText(err.Error()))
			down = true
		}
		backoff = min(max(2*backoff, minBackoff), maxBackoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// listenOnce connects, LISTENs, calls connected, and then wake for each
// notification about queue, until the connection fails or ctx ends.
func listenOnce(ctx context.Context, cfg *pgx.ConnConfig, queue string, connected, wake func()) error {
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	connected()
	for {
		wctx, cancel := context.WithTimeout(ctx, aliveEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if n.Payload == queue {
				wake()
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// A timeout leaves the connection usable (pgx); check that
			// the server is still there.
			pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}
