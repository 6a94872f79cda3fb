package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/chaos"
)

func newChaosCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Inject faults: kill a worker, publish bad messages, disturb a connection",
		Long: `Faults on purpose, to watch what palantir guarantees when things go wrong:

  kill      SIGKILL a live worker of this machine (by name, or a busy one)
  publish   put malformed, oversized or store-rejected messages on the queue
  proxy     a TCP proxy between palantir and a broker or the store whose
            connections can be delayed, black-holed or cut on command

See docs/chaos.md for a lab built from them.`,
		Example: `  palantir chaos kill --backend redis --busy
  palantir chaos publish malformed --backend redis --count 3
  palantir chaos proxy --listen 127.0.0.1:16379 --to 127.0.0.1:6379 --control 127.0.0.1:16380`,
		Args: argsUsage(cobra.NoArgs),
	}
	cmd.AddCommand(newChaosKillCmd(a, nil), newChaosPublishCmd(a, nil), newChaosProxyCmd(a, nil))
	return cmd
}

// --- kill

type chaosKillOptions struct {
	Worker string
	Busy   bool
}

func newChaosKillCmd(a *app, runF func(context.Context, *app, chaosKillOptions) error) *cobra.Command {
	var o chaosKillOptions
	cmd := &cobra.Command{
		Use:   "kill (--worker NAME | --busy)",
		Short: "SIGKILL a live worker of this machine",
		Long: `Send SIGKILL to a live worker process of this machine, as a crash or the
OOM killer would: no graceful shutdown, no release of its missions. Its
unacknowledged deliveries go back to the queue (at once or after --lease,
depending on the broker) and another worker finishes them.

--worker NAME picks a worker by name; --busy picks one at random among the
live workers of --backend's --queue that are executing a mission. A worker
is live when it has beaten within the last 10 s and has not stopped (as in
'palantir status'). Only workers whose heartbeat names this machine are
killed, and only after checking in /proc that the recorded PID is still
that palantir process (a PID reused by another process is refused). A
killed worker stays in status for up to 10 s, until its heartbeat is stale.

Embedded workers (launch, serve) live in the process that runs them:
killing one kills that process. Linux only (it reads /proc).

EXIT STATUS
  0  killed
  1  nothing killed: no such live worker here, none busy, or its PID is not its process
  2  bad arguments or configuration
  3  store unreachable`,
		Example: `  palantir chaos kill --backend redis --worker eagle1
  palantir chaos kill --backend redis --busy          # whoever is working
  palantir chaos kill --backend rabbitmq --busy -o json`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runChaosKill(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Worker, "worker", "", "the live worker of this machine to kill, by name")
	f.BoolVar(&o.Busy, "busy", false, "kill a live worker that is executing a mission, chosen at random")
	return cmd
}

func (o chaosKillOptions) validate() error {
	if (o.Worker == "") == !o.Busy {
		return usageErr("chaos kill: name a worker (--worker NAME) or pick a busy one (--busy), one of the two")
	}
	return nil
}

// killedJSON is a killed worker in -o json.
type killedJSON struct {
	Worker      string    `json:"worker"`
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	Signal      string    `json:"signal"`
	Backend     string    `json:"backend"`
	Queue       string    `json:"queue"`
	Command     string    `json:"command"`
	Current     []string  `json:"current"`
	Dead        bool      `json:"dead"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
}

func runChaosKill(ctx context.Context, a *app, o chaosKillOptions) error {
	st, err := a.Store(ctx)
	if err != nil {
		return err
	}
	k, err := chaos.Kill(ctx, st, chaos.KillRequest{Worker: o.Worker, Busy: o.Busy, Backend: a.be.Name, Queue: a.cfg.Queue})
	if err != nil {
		return fmt.Errorf("chaos kill: %w", err)
	}
	if a.json() {
		return a.writeJSON([]killedJSON{{Worker: k.Worker, Host: k.Host, PID: k.PID, Signal: "SIGKILL", Backend: k.Backend,
			Queue: k.Queue, Command: k.Command, Current: k.Current, Dead: k.Dead, StartedAt: k.StartedAt.UTC(), HeartbeatAt: k.HeartbeatAt.UTC()}})
	}
	held := "it held no mission"
	if len(k.Current) > 0 {
		held = fmt.Sprintf("it held %d mission(s): %s (they go back to the queue)", len(k.Current), strings.Join(k.Current, ", "))
	}
	fmt.Fprintf(a.Out, "killed worker %s (pid %d: %s) with SIGKILL; %s\n", k.Worker, k.PID, truncate(k.Command, 80), held)
	if !k.Dead {
		fmt.Fprintf(a.Err, "warning: pid %d was still there 5 s after SIGKILL (stuck in the kernel?)\n", k.PID)
	}
	return nil
}

// --- publish

type chaosPublishOptions struct {
	Kind  chaos.BadKind
	Count int
}

func newChaosPublishCmd(a *app, runF func(context.Context, *app, chaosPublishOptions) error) *cobra.Command {
	var o chaosPublishOptions
	cmd := &cobra.Command{
		Use:   "publish malformed|oversized|rejected [--count N]",
		Short: "Put bad messages on the queue",
		Long: `Publish messages a worker must survive onto --backend's --queue, straight
to the broker (the store knows nothing of them), and print their ids:

  malformed  in rotation: plain text, truncated JSON, bytes that are not
             UTF-8, an order of a newer wire version than this palantir's:
             a worker dead-letters each once and carries on
  oversized  a valid-looking order padded to 1 KiB over the default message
             size limit (256 KiB): a worker must dead-letter it without
             executing it ('palantir launch' could never publish one)
  rejected   a valid JSON order whose id the store refuses: a NUL byte in
             it, or about 3 KB of it (alternately): a worker must
             dead-letter it rather than retry it forever

Watch the result with 'palantir dlq list' and the worker's log. The inproc
backend lives inside one process, so there is no queue to publish to.

EXIT STATUS
  0  published
  2  bad arguments or configuration (including --backend inproc)
  3  broker unreachable`,
		Example: `  palantir chaos publish malformed --backend redis
  palantir chaos publish oversized --backend rabbitmq --count 2
  palantir chaos publish rejected --backend redis --queue lab5 -o json`,
		Args:      argsUsage(cobra.ExactArgs(1)),
		ValidArgs: []string{"malformed", "oversized", "rejected"},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Kind = chaos.BadKind(args[0])
			if err := o.validate(a); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runChaosPublish(cmd.Context(), a, o)
		},
	}
	cmd.Flags().IntVarP(&o.Count, "count", "n", 1, "how many messages")
	return cmd
}

// validate checks the kind (and spells it as chaos does), the count,
// and that the backend has a queue outside this process.
func (o *chaosPublishOptions) validate(a *app) error {
	kind, err := chaos.ParseBadKind(string(o.Kind))
	if err != nil {
		return usageErr("chaos publish: %v", err)
	}
	o.Kind = kind
	if o.Count < 1 || o.Count > chaos.MaxBadCount {
		return usageErr("--count must be between 1 and %d, got %d", chaos.MaxBadCount, o.Count)
	}
	if a.be.Embedded {
		return usageErr("chaos publish: the %s backend lives inside one process, so there is no queue to publish to; use a broker (--backend %s)",
			a.be.Name, strings.Join(sharedBackends(a), " or "))
	}
	return nil
}

// sharedBackends names the registered backends that other processes can
// share.
func sharedBackends(a *app) []string {
	var names []string
	for _, b := range a.registry.Backends() {
		if !b.Embedded {
			names = append(names, b.Name)
		}
	}
	return names
}

// badJSON is a published bad message in -o json.
type badJSON struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Bytes   int    `json:"bytes"`
	Detail  string `json:"detail"`
	Backend string `json:"backend"`
	Queue   string `json:"queue"`
}

func runChaosPublish(ctx context.Context, a *app, o chaosPublishOptions) error {
	cfg, err := a.backendConfig()
	if err != nil {
		return redactErr(err)
	}
	bad, err := chaos.BadMessages(o.Kind, o.Count, cfg.MaxBytes())
	if err != nil {
		return usageErr("chaos publish: %v", err)
	}
	// A queue of its own whose limit lets the oversized ones through: the
	// point is to see what the consuming side does with them.
	cfg.MaxMessageBytes = max(chaos.MaxBody(bad), cfg.MaxBytes())
	q, err := a.be.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	if err := chaos.PublishBad(ctx, q, bad); err != nil {
		return fmt.Errorf("chaos publish to %s queue %q: %w", a.be.Name, a.cfg.Queue, err)
	}
	rows := make([]badJSON, len(bad))
	for i, b := range bad {
		rows[i] = badJSON{ID: b.Message.ID, Kind: string(b.Kind), Bytes: len(b.Message.Body), Detail: b.Detail,
			Backend: a.be.Name, Queue: a.cfg.Queue}
	}
	if a.json() {
		return a.writeJSON(rows)
	}
	fmt.Fprintf(a.Err, "published %d %s message(s) to %s queue %q\n", len(rows), o.Kind, a.be.Name, a.cfg.Queue)
	t := newTable(a.Out, "ID", "KIND", "BYTES", "WHAT")
	for _, r := range rows {
		t.row(r.ID, r.Kind, r.Bytes, truncate(r.Detail, 90))
	}
	return t.flush()
}

// --- proxy

type chaosProxyOptions struct {
	Listen, To, Control string
}

// controlEnv names the control address for the proxy's subcommands when
// --control is not given.
const controlEnv = "PALANTIR_CHAOS_CONTROL"

func newChaosProxyCmd(a *app, runF func(context.Context, *app, chaosProxyOptions) error) *cobra.Command {
	var o chaosProxyOptions
	cmd := &cobra.Command{
		Use:   "proxy --listen ADDR --to HOST:PORT --control ADDR",
		Short: "A TCP proxy to a broker or the store that can delay, black-hole or cut connections",
		Long: `Run a TCP proxy from --listen (on this machine) to --to (a broker or the
store) until interrupted, and point palantir at it instead of the service:
for example --redis-url redis://127.0.0.1:16379/0. Its mode changes on
command, from another terminal, through the control address:

  palantir chaos proxy delay DURATION   every chunk of bytes waits DURATION in
                                        each direction (a round trip: twice)
  palantir chaos proxy blackhole        connections stay open and nothing is
                                        forwarded: no RST, no FIN, reads hang
                                        (a half-open connection, as behind a
                                        dead router); what was held is
                                        forwarded on heal, as TCP would
  palantir chaos proxy cut              every connection is reset (ECONNRESET
                                        or EOF) and new ones are reset at once,
                                        until heal
  palantir chaos proxy heal             back to forwarding every byte
  palantir chaos proxy state            the mode and connection counts

Each takes --control ADDR (or $PALANTIR_CHAOS_CONTROL). The proxy prints its
addresses on stdout and each change of mode on stderr. --listen and
--control bind loopback addresses only; port 0 picks a free port (printed).
The control channel is plain HTTP, for curl too: GET /state, POST /mode
with {"mode":"delay","delay":"250ms"} and Content-Type: application/json.

EXIT STATUS
  0  stopped by a signal; or the mode was changed
  2  bad arguments (an address that is not loopback, a busy port, no proxy at --control)`,
		Example: `  # terminal 1: a proxy in front of Redis
  palantir chaos proxy --listen 127.0.0.1:16379 --to 127.0.0.1:6379 --control 127.0.0.1:16380
  # terminal 2: a worker through it
  palantir worker --backend redis --redis-url redis://127.0.0.1:16379/0 --name eagle1
  # terminal 3: the faults
  palantir chaos proxy blackhole --control 127.0.0.1:16380
  palantir chaos proxy heal --control 127.0.0.1:16380`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runChaosProxy(cmd.Context(), a, o)
		},
	}
	cmd.PersistentFlags().StringVar(&o.Control, "control", os.Getenv(controlEnv), "the proxy's control address, loopback (default $"+controlEnv+")")
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "", "address the proxy listens on, loopback (e.g. 127.0.0.1:16379)")
	f.StringVar(&o.To, "to", "", "address the proxy forwards to: the broker's or the store's HOST:PORT")
	cmd.AddCommand(
		newChaosModeCmd(a, &o, "cut", "Reset every connection and refuse new ones until heal", chaos.ModeCut, nil),
		newChaosModeCmd(a, &o, "delay DURATION", "Delay every chunk by DURATION in each direction", chaos.ModeDelay, nil),
		newChaosModeCmd(a, &o, "blackhole", "Hold connections open and forward nothing (half-open)", chaos.ModeBlackhole, nil),
		newChaosModeCmd(a, &o, "heal", "Forward every byte again", chaos.ModeNormal, nil),
		newChaosModeCmd(a, &o, "state", "Print the proxy's mode and connection counts", "", nil),
	)
	return cmd
}

func (o chaosProxyOptions) validate() error {
	if o.Listen == "" || o.To == "" || o.Control == "" {
		return usageErr("chaos proxy: --listen, --to and --control are required (e.g. --listen 127.0.0.1:16379 --to 127.0.0.1:6379 --control 127.0.0.1:16380)")
	}
	return nil
}

// proxyJSON is a running proxy's addresses in -o json.
type proxyJSON struct {
	Listen  string `json:"listen"`
	To      string `json:"to"`
	Control string `json:"control"`
}

func runChaosProxy(ctx context.Context, a *app, o chaosProxyOptions) error {
	p, err := chaos.Listen(o.Listen, o.To)
	if err != nil {
		return usageErr("chaos proxy: %v", err)
	}
	defer p.Close()
	cs, err := chaos.ListenControl(o.Control, p, func(st chaos.State) {
		fmt.Fprintf(a.Err, "%s proxy %s -> %s: %s\n", a.now().Format("15:04:05.000"), st.Listen, st.Target, describeState(st))
	})
	if err != nil {
		return usageErr("chaos proxy: --control: %v", err)
	}
	defer cs.Close()
	if a.json() {
		a.compactJSON = true // one line, readable by a script while the proxy runs
		if err := a.writeJSON([]proxyJSON{{Listen: p.Addr(), To: p.Target(), Control: cs.Addr()}}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.Out, "proxy %s -> %s control %s\n", p.Addr(), p.Target(), cs.Addr())
	}
	fmt.Fprintf(a.Err, "chaos proxy: forwarding %s to %s; change its mode with 'palantir chaos proxy cut|delay DURATION|blackhole|heal --control %s'. Ctrl-C to stop.\n",
		p.Addr(), p.Target(), cs.Addr())
	<-ctx.Done()
	st := p.State()
	fmt.Fprintf(a.Err, "chaos proxy: stopped after %d connection(s)\n", st.Accepted)
	return nil
}

// chaosModeOptions are the flags and argument of one of the proxy's
// subcommands (cut, delay, blackhole, heal, state).
type chaosModeOptions struct {
	Name    string     // the subcommand
	Mode    chaos.Mode // "": read the state
	Control string     // the proxy's --control, inherited
	Arg     string     // delay's DURATION, as typed
	Delay   time.Duration
}

func newChaosModeCmd(a *app, proxy *chaosProxyOptions, use, short string, mode chaos.Mode, runF func(context.Context, *app, chaosModeOptions) error) *cobra.Command {
	name, _, _ := strings.Cut(use, " ")
	args := cobra.NoArgs
	if mode == chaos.ModeDelay {
		args = cobra.ExactArgs(1)
	}
	return &cobra.Command{
		Use:     use + " --control ADDR",
		Short:   short,
		Long:    short + ".\n\nSee 'palantir chaos proxy --help' for what each mode does.\n\nEXIT STATUS\n  0  done\n  2  bad arguments, or no chaos proxy answers at --control",
		Example: fmt.Sprintf("  palantir chaos proxy %s --control 127.0.0.1:16380", strings.Replace(use, "DURATION", "250ms", 1)),
		Args:    argsUsage(args),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := chaosModeOptions{Name: name, Mode: mode, Control: proxy.Control}
			if len(args) > 0 {
				o.Arg = args[0]
			}
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runChaosMode(cmd.Context(), a, o)
		},
	}
}

// validate checks --control and parses delay's DURATION.
func (o *chaosModeOptions) validate() error {
	if o.Control == "" {
		return usageErr("chaos proxy %s: --control is required (or $%s): the address the proxy was started with", o.Name, controlEnv)
	}
	if o.Mode == chaos.ModeDelay {
		d, err := time.ParseDuration(o.Arg)
		if err != nil || d <= 0 {
			return usageErr("chaos proxy delay: %q is not a positive duration (e.g. 250ms, 2s)", o.Arg)
		}
		o.Delay = d
	}
	return nil
}

func runChaosMode(ctx context.Context, a *app, o chaosModeOptions) error {
	ctl := chaos.Control{Addr: o.Control}
	var st chaos.State
	var err error
	if o.Mode == "" {
		st, err = ctl.State(ctx)
	} else {
		st, err = ctl.Set(ctx, o.Mode, o.Delay)
	}
	if errors.Is(err, chaos.ErrNoProxy) || errors.Is(err, chaos.ErrNotLoopback) || errors.Is(err, chaos.ErrBadAddress) {
		return usageErr("chaos proxy %s: %v", o.Name, err)
	}
	if err != nil {
		return fmt.Errorf("chaos proxy %s: %w", o.Name, err)
	}
	if a.json() {
		return a.writeJSON([]chaos.State{st})
	}
	fmt.Fprintf(a.Out, "proxy %s -> %s: %s\n", st.Listen, st.Target, describeState(st))
	return nil
}

func describeState(st chaos.State) string {
	mode := string(st.Mode)
	if st.Mode == chaos.ModeDelay {
		mode += " " + st.Delay.String()
	}
	return fmt.Sprintf("%s (%d open connection(s), %d accepted)", mode, st.Open, st.Accepted)
}
