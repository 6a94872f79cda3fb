package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/metrics"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/server"
	"github.com/palantir-lab/palantir/telemetry"
)

type serveOptions struct {
	Addr       string
	Workers    int
	WorkersSet bool
	Token      string
}

func newServeCmd(a *app, runF func(context.Context, *app, serveOptions) error) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "The HTTP API and the live dashboard",
		Long: `Serve a JSON API and a live dashboard over the same store and queue as
the other commands. Open the printed address in a browser: the dashboard
draws this deployment (launcher, broker, each worker, store), animates every
telemetry event along the hop it stands for, shows missions in flight with
their progress, queue depth and throughput over time, the leaderboard and the
dead letters, and has launch and replay buttons.

The page reads what workers write to the store, so it shows workers of other
processes and machines (with a broker, start 'palantir worker' processes
against the same --backend, --queue and --store). With the inproc backend
the queue lives in this process, so serve runs --workers embedded workers
(default 2: eagle1, eagle2); with a broker it runs none unless --workers N.

It binds 127.0.0.1 by default. An --addr beyond loopback needs --token (or
PALANTIR_TOKEN): every /api/…, /metrics and /openapi.yaml request must then
carry "Authorization: Bearer TOKEN"; open the page as
http://HOST:PORT/#token=TOKEN to hand it the token. The API is described in
docs/api.md and served at /openapi.yaml; Prometheus metrics are at /metrics.

SIGINT or SIGTERM stops it gracefully: open streams end, embedded workers
finish in-flight missions within --shutdown-timeout.

EXIT STATUS
  0  stopped by a signal
  2  bad arguments or configuration (a non-loopback --addr without a
     token, an address already in use)
  3  broker or store unreachable at start`,
		Example: `  palantir serve                               # inproc, two embedded workers, http://127.0.0.1:8080/
  palantir serve --backend redis               # watch the workers of another terminal
  palantir serve --backend rabbitmq --workers 2
  PALANTIR_TOKEN=s3cret palantir serve --addr 0.0.0.0:8080
  curl -s -X POST -H 'Content-Type: application/json' -d '{"type":"fellowship"}' http://127.0.0.1:8080/api/missions`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.WorkersSet = cmd.Flags().Changed("workers")
			if o.Token == "" {
				o.Token = os.Getenv("PALANTIR_TOKEN")
			}
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runServe(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "address to listen on (beyond loopback only with --token)")
	f.IntVar(&o.Workers, "workers", 0, "embedded workers, eagle1… (default: 2 on inproc, none with a broker)")
	f.StringVar(&o.Token, "token", "", "bearer token the API and /metrics demand (default $PALANTIR_TOKEN)")
	return cmd
}

func (o serveOptions) validate() error {
	if o.Workers < 0 || o.Workers > 64 {
		return usageErr("--workers must be between 0 and 64, got %d", o.Workers)
	}
	return server.CheckAddr("--addr", o.Addr, o.Token)
}

// embeddedWorkers: inproc needs workers in this process (two unless
// told); with a broker, only when asked.
func (o serveOptions) embeddedWorkers(be backends.Backend) (int, error) {
	switch {
	case !be.Embedded:
		return o.Workers, nil
	case !o.WorkersSet:
		return 2, nil
	case o.Workers == 0:
		return 0, usageErr("--workers 0: the %s queue lives in this process, so nothing else could run its missions; give at least 1, or use a broker", be.Name)
	}
	return o.Workers, nil
}

func runServe(ctx context.Context, a *app, o serveOptions) error {
	n, err := o.embeddedWorkers(a.be)
	if err != nil {
		return err
	}
	st, q, err := a.StoreAndQueue(ctx)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return usageErr("--addr %s: %v (is another serve running? pick another port)", o.Addr, errors.Unwrap(err))
	}
	tel := telemetry.NewRecorder(st, a.log)
	defer tel.Close()
	var names []string
	for i := 1; i <= n; i++ {
		names = append(names, fmt.Sprintf("eagle%d", i))
	}
	srv := server.New(server.Config{Store: st, Queue: q, Telemetry: tel, Metrics: metrics.New(), Backend: a.be.Name,
		QueueName: a.cfg.Queue, Token: o.Token, Version: buildVersion().Version, EmbeddedWorkers: names, Log: a.log,
		QueueInProcess: a.be.Embedded, Missions: a.cfg.Missions, Lease: a.cfg.Lease})
	stopWorkers := func() {}
	if n > 0 {
		stopWorkers = startEmbeddedWorkers(ctx, a, q, st, tel, n)
	}
	stopSchedules, err := startSchedules(ctx, a, "palantir serve", st, q, tel, srv.Launched)
	if err != nil {
		stopWorkers()
		return err
	}
	defer stopSchedules()
	stopDue := startDue(ctx, a, st, a.cfg.Queue, q, tel)
	defer stopDue()
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	pollDone := make(chan struct{})
	go func() { _ = srv.Run(runCtx); close(pollDone) }()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintf(a.Err, "palantir serve: dashboard at http://%s/ (%s queue %q, store %s %s, %d embedded worker(s)). Ctrl-C to stop.\n",
		ln.Addr(), a.be.Name, a.cfg.Queue, st.Driver(), st.Location(), n)
	select {
	case <-ctx.Done():
	case err := <-served:
		stopSchedules()
		stopRun()
		stopWorkers()
		return fmt.Errorf("serve %s: %w", o.Addr, err)
	}
	// Schedules stop launching first; streams end (Shutdown does not wait
	// for them), then requests in progress, then the embedded workers
	// finish their missions.
	stopSchedules()
	stopDue()
	stopRun()
	<-pollDone
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	_ = hs.Shutdown(sctx)
	cancel()
	stopWorkers()
	if ids := srv.Unfinished(); len(ids) > 0 {
		if n, err := ops.Abandon(ctx, st, ids, "interrupted: the inproc queue lived in the serve process", a.now()); err == nil && n > 0 {
			fmt.Fprintf(a.Err, "%d unfinished mission(s) marked FAILURE: the inproc queue ends with this process\n", n)
		}
	}
	fmt.Fprintln(a.Err, "palantir serve: stopped")
	return nil
}
