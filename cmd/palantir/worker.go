package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/metrics"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/server"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
	"github.com/palantir-lab/palantir/worker"
)

type workerOptions struct {
	Name        string
	Concurrency int
	Prefetch    int
	MaxMissions int
	Quiet       bool
	MetricsAddr string
	Token       string // for /metrics beyond loopback: $PALANTIR_TOKEN
}

func newWorkerCmd(a *app, runF func(context.Context, *app, workerOptions) error) *cobra.Command {
	var o workerOptions
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Consume and execute missions until stopped",
		Long: `Consume missions from the broker's queue and execute them, stage by stage,
persisting each outcome before acknowledging it (at-least-once delivery).

Each mission it takes, finishes or fails is printed on stderr. SIGINT or
SIGTERM stops taking new missions, lets in-flight ones finish within
--shutdown-timeout, returns the rest to the queue, and exits 0; a second
one returns the running missions at once, and a third ends the process
where it stands. A worker
killed with SIGKILL loses nothing: its unacknowledged missions are delivered
to another worker (RabbitMQ: at once; Redis: after --lease). If the broker
goes away while the worker runs, the worker says so and keeps retrying
until it is back. If the store stops answering, the worker takes no new
missions, holds the ones it has without acknowledging them, says so once,
and resumes by itself when the store is back.

A message it cannot run goes to the dead letters with the reason, and the
worker carries on: not a mission, larger than --max-message-size, refused
by the store, or delivered more than --max-deliveries times without an
outcome (every worker that took it died). See docs/reliability.md.

--concurrency is how many missions execute at once, and by default also
how many the broker hands this worker before it has settled any (its
prefetch): fair dispatch, so a long mission never waits inside one worker
while another worker idles. --prefetch lets a worker hold more: the extra
ones wait for a free slot, or for their outcome to be committed before the
ack, so that one store commit and one broker round trip serve many short
missions (what 'palantir bench' does).

--queue may list several queues of the backend: the worker consumes them
all and shares its --concurrency slots between them. In strict priority
order (--queue high,low) a free slot goes to the first queue in the list
that has a mission waiting, so the second runs only while the first is
empty; with weights (--queue high=3,low=1) the queues that have missions
waiting share the slots in proportion, so none starves. The worker holds
up to --prefetch missions of each queue (at least twice --concurrency and
one, so that a higher queue has one waiting when a slot comes free); those
waiting keep their leases. A slot free while the worker is idle goes to
the first delivery to arrive, whatever its queue: priority decides only
between missions that wait. A queue listed without a weight among
weighted ones weighs 1. Each mission is recorded on its own queue;
schedules launch onto the first.

The inproc backend lives inside one process, so there is nothing for a
separate worker to share: use --backend redis or rabbitmq, or let
'palantir launch' run its embedded workers.

EXIT STATUS
  0  stopped by a signal, or after --max-missions
  2  bad arguments or configuration (including --backend inproc)
  3  broker or store unreachable`,
		Example: `  palantir worker --backend redis --name eagle1
  palantir worker --backend rabbitmq --name eagle2 --concurrency 4
  palantir worker --backend redis --max-missions 10   # stop after ten
  palantir worker --backend redis -c 4 --prefetch 64  # many short missions
  palantir worker --backend redis --queue urgent,missions       # urgent first
  palantir worker --backend redis --queue urgent=3,missions=1   # 3 slots in 4`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Prefetch == 0 {
				o.Prefetch = o.Concurrency
			}
			if len(a.queues) > 1 {
				o.Prefetch = max(o.Prefetch, 2*o.Concurrency+1) // what worker.NewFeeds needs
			}
			if o.MetricsAddr != "" {
				o.Token = os.Getenv("PALANTIR_TOKEN")
			}
			if err := o.validate(a); err != nil {
				return err
			}
			if o.Name == "" {
				host, _ := os.Hostname()
				o.Name = fmt.Sprintf("%s-%d", host, os.Getpid())
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runWorker(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "worker name shown in status and history (default HOST-PID)")
	f.IntVarP(&o.Concurrency, "concurrency", "c", 1, "missions executed at once")
	f.IntVar(&o.Prefetch, "prefetch", 0, "deliveries held unsettled at once, executing or waiting, per queue (0: the same as --concurrency; with several queues at least 2×concurrency+1)")
	f.IntVar(&o.MaxMissions, "max-missions", 0, "exit after this many missions (0: run until stopped)")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "do not print each mission event on stderr")
	f.StringVar(&o.MetricsAddr, "metrics-addr", "", "serve this worker's Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9101; beyond loopback only with $PALANTIR_TOKEN)")
	return cmd
}

// validate checks the flags (with --prefetch and the token already
// defaulted) against the backend before anything is opened.
func (o workerOptions) validate(a *app) error {
	switch {
	case a.be.Embedded:
		return usageErr("worker: the %s backend lives inside one process, so a separate worker cannot share it; use --backend %s, or 'palantir launch', which runs embedded workers",
			a.be.Name, strings.Join(sharedBackends(a), " or --backend "))
	case o.Concurrency < 1 || o.Concurrency > 1024:
		return usageErr("--concurrency must be between 1 and 1024, got %d", o.Concurrency)
	case o.Prefetch < o.Concurrency || o.Prefetch > worker.MaxPrefetch:
		return usageErr("--prefetch must be between --concurrency (%d) and %d, got %d", o.Concurrency, worker.MaxPrefetch, o.Prefetch)
	case o.MaxMissions < 0:
		return usageErr("--max-missions must not be negative, got %d", o.MaxMissions)
	case o.MetricsAddr != "":
		return server.CheckAddr("--metrics-addr", o.MetricsAddr, o.Token)
	}
	return nil
}

func runWorker(ctx context.Context, a *app, o workerOptions) error {
	st, q, err := a.StoreAndQueue(ctx)
	if err != nil {
		return err
	}
	feeds, queues, err := workerFeeds(ctx, a)
	if err != nil {
		return err
	}
	tel := telemetry.NewRecorder(st, a.log)
	if !o.Quiet {
		tel.Echo = func(e telemetry.Event) {
			if e.Name == telemetry.MissionDeadLettered && strings.HasPrefix(e.Detail, "malformed") {
				return // the worker's warning already said so, once
			}
			fmt.Fprintf(a.Err, "%s %-21s %s attempt %d %s\n", e.At.Local().Format("15:04:05.000"), e.Name, e.MissionID, e.Attempt, e.Detail)
		}
	}
	defer tel.Close()
	if o.MetricsAddr != "" {
		stop, err := serveWorkerMetrics(a, o, q, tel)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Fprintf(a.Err, "worker %s: consuming %s %s (concurrency %d, prefetch %d, lease %v); store %s %s. Ctrl-C to stop.\n",
		o.Name, a.be.Name, describeQueues(feeds), o.Concurrency, o.Prefetch, a.cfg.Lease, st.Driver(), st.Location())
	warnDuplicateName(ctx, a, st, o.Name)
	if st.Shares(ctx, q) != nil {
		fmt.Fprintf(a.Err, "worker %s: the queue is in the store's database: each outcome commits with its ack, in one transaction.\n", o.Name)
	}
	if a.be.Networked && st.Local() {
		fmt.Fprintf(a.Err, "warning: the store is a local SQLite file; workers on other machines will not share it (use --store postgres://…)\n")
	}
	w := worker.NewFeeds(worker.Config{Name: o.Name, Concurrency: o.Concurrency, Prefetch: o.Prefetch, MaxMissions: o.MaxMissions,
		Lease: a.cfg.Lease, ShutdownTimeout: a.cfg.ShutdownTimeout, Backend: a.be.Name,
		MaxMessageBytes: a.cfg.MaxMessageBytes(), MaxDeliveries: a.cfg.MaxDeliveries,
		Logger: a.log, OnBrokerError: func(err error, retryIn time.Duration) {
			fmt.Fprintf(a.Err, "%s worker %s: %s; retrying in %v\n", a.now().Format("15:04:05.000"), o.Name, backends.RedactText(err.Error()), retryIn)
		}}, feeds, st, tel)
	stopSchedules, err := startSchedules(ctx, a, "worker "+o.Name, st, q, tel, nil)
	if err != nil {
		return err
	}
	defer stopSchedules()
	for i, f := range feeds {
		defer startDue(ctx, a, st, f.Queue, queues[i], tel)()
	}
	start := a.now()
	defer onSignals(ctx, a, o.Name, w)()
	err = w.Run(ctx)
	fmt.Fprintf(a.Err, "worker %s: stopped after %v: %d mission(s) handled, %d returned unfinished to the queue\n",
		o.Name, a.now().Sub(start).Round(time.Millisecond), w.Processed()-w.Released(), w.Released())
	return err
}

// workerFeeds opens the queues --queue lists, in its order.
func workerFeeds(ctx context.Context, a *app) ([]worker.Feed, []backends.Queue, error) {
	var feeds []worker.Feed
	var queues []backends.Queue
	for _, qw := range a.queues {
		q, err := a.QueueNamed(ctx, qw.Name)
		if err != nil {
			return nil, nil, err
		}
		feeds = append(feeds, worker.Feed{Queue: qw.Name, Sub: q, Weight: qw.Weight})
		queues = append(queues, q)
	}
	return feeds, queues, nil
}

// describeQueues says which queues a worker consumes, and how it chooses
// between them.
func describeQueues(feeds []worker.Feed) string {
	if len(feeds) == 1 {
		return fmt.Sprintf("queue %q", feeds[0].Queue)
	}
	list := worker.QueueList(feeds)
	if strings.Contains(list, "=") {
		return fmt.Sprintf("queues %s (a free slot goes to a waiting mission of each queue in proportion to its weight)", list)
	}
	return fmt.Sprintf("queues %s (strict priority: a free slot goes to the first queue in this order that has a mission waiting)", list)
}

// warnDuplicateName warns when a live worker already uses name: two
// workers of one name would look like one in status and history.
func warnDuplicateName(ctx context.Context, a *app, st *store.Store, name string) {
	host, _ := os.Hostname()
	others, _ := ops.Namesakes(ctx, st, a.now(), name, host, os.Getpid())
	for _, w := range others {
		fmt.Fprintf(a.Err, "warning: a live worker named %q already runs (%s pid %d); status and history will mix them up: pick another --name\n", name, w.Host, w.PID)
	}
}

// serveWorkerMetrics exposes this worker's own metrics: the events it
// emits, and its queue's figures read at scrape time.
func serveWorkerMetrics(a *app, o workerOptions, q backends.Queue, tel *telemetry.Recorder) (stop func(), err error) {
	ln, err := net.Listen("tcp", o.MetricsAddr)
	if err != nil {
		return nil, usageErr("--metrics-addr %s: %v (pick another port)", o.MetricsAddr, errors.Unwrap(err))
	}
	m := metrics.New()
	m.Register(metrics.Gauges(metrics.Source{Backend: a.be.Name, Queue: a.cfg.Queue, Stats: q.Stats}))
	echo := tel.Echo
	tel.Echo = func(e telemetry.Event) {
		m.Observe(e)
		if echo != nil {
			echo(e)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", server.BearerAuth(o.Token, m.Handler()))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	fmt.Fprintf(a.Err, "worker %s: metrics at http://%s/metrics\n", o.Name, ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	}, nil
}

// onSignals says what a stopping worker waits for, and makes a second
// Ctrl-C (or SIGTERM) return the running missions at once; a third ends
// the process as usual. ctx ends at the first signal (main). It returns
// the function that stops listening.
func onSignals(ctx context.Context, a *app, name string, w *worker.Worker) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer signal.Stop(sigs)
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		// The first signal reached main and this channel both.
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintf(a.Err, "worker %s: stopping: no new missions; waiting up to %v for %d running (Ctrl-C again returns them to the queue now)\n",
			name, a.cfg.ShutdownTimeout, w.Running())
		select {
		case <-sigs:
			fmt.Fprintf(a.Err, "worker %s: returning %d running mission(s) to the queue now\n", name, w.Running())
			w.Hurry()
		case <-done:
		}
	}()
	return func() { close(done) }
}
