package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
)

// KillRequest says which worker Kill kills: the live one named Worker, or
// (Busy) one chosen at random among the live workers that hold a mission.
// Live is ops.LiveWorkers' rule: a worker of Backend's queue Queue that
// beat within ops.LiveWindow and did not say it stopped.
type KillRequest struct {
	Worker string
	Busy   bool

	Backend string // registered backend name
	Queue   string

	// Host is this machine's name as workers record it; "" means
	// os.Hostname(). Workers of other hosts are never killed.
	Host string
	// Rand picks among busy workers (rand.IntN when nil).
	Rand func(n int) int
}

// Killed is the worker Kill killed and what it held.
type Killed struct {
	Worker  string
	Host    string
	PID     int
	Backend string
	Queue   string
	// Command is the killed process's command line.
	Command string
	// Current is the missions it was executing (their deliveries go back
	// to the queue after the lease).
	Current     []string
	StartedAt   time.Time
	HeartbeatAt time.Time
	// Dead is true when the process was seen gone (or a zombie) within
	// a few seconds of the signal.
	Dead bool
}

// Errors of Kill, wrapped with the worker and the reason.
var (
	// ErrNoVictim: no live worker of this machine matches the request.
	ErrNoVictim = errors.New("no worker to kill")
	// ErrNotThatProcess: the PID the worker recorded is not (or no longer)
	// that worker's process; nothing was signalled.
	ErrNotThatProcess = errors.New("pid is not the worker's process")
)

// startSlack is how much later than the worker's recorded start its
// process may seem to have started: /proc gives the start in clock ticks
// since a boot time known to the second, and the wall clock may have been
// slewed since. A PID reused later than this is recognised as reused.
const startSlack = 2 * time.Second

// Kill finds the worker req names, checks that its PID on this machine is
// really that palantir process, and sends it SIGKILL. Nothing is
// signalled unless every check passes.
func Kill(ctx context.Context, st *store.Store, req KillRequest) (Killed, error) {
	if (req.Worker == "") == !req.Busy {
		return Killed{}, errors.New("kill: name a worker or ask for a busy one, not both")
	}
	host := req.Host
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return Killed{}, fmt.Errorf("kill: this machine's name: %w", err)
		}
		host = h
	}
	live, err := ops.LiveWorkers(ctx, st, time.Now(), req.Backend, req.Queue)
	if err != nil {
		return Killed{}, err
	}
	where := fmt.Sprintf("%s queue %q", req.Backend, req.Queue)
	var candidates []store.Worker
	if req.Worker != "" {
		i := slices.IndexFunc(live, func(w store.Worker) bool { return w.Name == req.Worker })
		if i < 0 {
			return Killed{}, fmt.Errorf("%w: no live worker named %q on %s%s", ErrNoVictim, req.Worker, where, elsewhere(ctx, st, req.Worker))
		}
		if live[i].Host != host {
			return Killed{}, fmt.Errorf("%w: worker %q runs on host %q, not on this machine (%s): chaos kills local workers only",
				ErrNoVictim, req.Worker, live[i].Host, host)
		}
		candidates = live[i : i+1]
	} else {
		for _, w := range live {
			if w.Host == host && w.Current != "" {
				candidates = append(candidates, w)
			}
		}
		if len(candidates) == 0 {
			return Killed{}, fmt.Errorf("%w: no live worker of this machine (%s) is executing a mission on %s (%d live in all)",
				ErrNoVictim, host, where, len(live))
		}
		pick := req.Rand
		if pick == nil {
			pick = rand.IntN
		}
		// Try them in a random order: one whose process is already gone
		// (killed a moment ago, its heartbeat not yet stale) is skipped.
		for i := len(candidates) - 1; i > 0; i-- {
			j := pick(i + 1)
			candidates[i], candidates[j] = candidates[j], candidates[i]
		}
	}
	var refusals []string
	for _, w := range candidates {
		proc, err := checkProcess(w)
		if err != nil {
			if len(candidates) == 1 {
				return Killed{}, err
			}
			refusals = append(refusals, err.Error())
			continue
		}
		if err := sigkill(w.PID); err != nil {
			return Killed{}, fmt.Errorf("kill worker %q (pid %d): %w", w.Name, w.PID, err)
		}
		k := Killed{Worker: w.Name, Host: w.Host, PID: w.PID, Backend: w.Backend, Queue: w.Queue,
			Command: strings.Join(proc.args, " "), StartedAt: w.StartedAt, HeartbeatAt: w.HeartbeatAt,
			Current: []string{}, Dead: waitGone(ctx, w.PID, proc.start, 5*time.Second)}
		if w.Current != "" {
			k.Current = strings.Split(w.Current, ",")
		}
		return k, nil
	}
	return Killed{}, fmt.Errorf("%w: no busy worker could be killed: %s", ErrNotThatProcess, strings.Join(refusals, "; "))
}

// elsewhere hints at the queue a named worker serves when it is not the
// one asked about.
func elsewhere(ctx context.Context, st *store.Store, name string) string {
	all, err := st.Workers(ctx, time.Now().Add(-ops.LiveWindow))
	if err != nil {
		return ""
	}
	for _, w := range all {
		if w.Name == name && w.StoppedAt.IsZero() {
			return fmt.Sprintf(" (a worker %q is live on %s queue %q: pass --backend and --queue)", name, w.Backend, w.Queue)
		}
	}
	return ""
}

// process is what /proc says of a PID.
type process struct {
	args   []string
	start  time.Time
	zombie bool
}

// checkProcess makes sure w.PID is w's palantir process: it runs, its
// program is palantir, it was not started after the worker recorded its
// own start (a PID reused since would be), and it was not given another
// --name.
func checkProcess(w store.Worker) (process, error) {
	refuse := func(format string, a ...any) (process, error) {
		return process{}, fmt.Errorf("%w: worker %q, pid %d: %s; not killed", ErrNotThatProcess, w.Name, w.PID, fmt.Sprintf(format, a...))
	}
	if w.PID <= 1 || w.PID == os.Getpid() {
		return refuse("not a worker's pid")
	}
	p, err := readProcess(w.PID)
	if errors.Is(err, os.ErrNotExist) {
		return refuse("no such process: it has exited, and its last heartbeat stays live for up to %v", ops.LiveWindow)
	}
	if err != nil {
		return process{}, fmt.Errorf("kill worker %q: %w", w.Name, err)
	}
	if p.zombie {
		return refuse("the process has already exited")
	}
	if len(p.args) == 0 || !strings.Contains(filepath.Base(p.args[0]), "palantir") {
		return refuse("the process is %q, not palantir (the PID was reused)", strings.Join(p.args, " "))
	}
	if !runsWorkers(p.args) {
		return refuse("the process is %q, which runs no worker", strings.Join(p.args, " "))
	}
	if p.start.After(w.StartedAt.Add(startSlack)) {
		return refuse("the process started at %s, after the worker did (%s): the PID was reused",
			p.start.Format(time.RFC3339), w.StartedAt.Format(time.RFC3339))
	}
	if name, ok := nameFlag(p.args); ok && name != w.Name {
		return refuse("the process is palantir worker %q", name)
	}
	return p, nil
}

// runsWorkers reports whether a palantir command line is one of the
// commands that run workers: worker itself, and launch, serve and dlq
// replay, which run embedded ones on inproc.
func runsWorkers(args []string) bool {
	for _, a := range args[1:] {
		switch a {
		case "worker", "launch", "serve", "replay":
			return true
		}
	}
	return false
}

// nameFlag finds --name's value on a command line.
func nameFlag(args []string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--name="); ok {
			return v, true
		}
		if a == "--name" && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// waitGone waits until pid has exited (gone, a zombie, or another
// process), for up to d.
func waitGone(ctx context.Context, pid int, start time.Time, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		p, err := readProcess(pid)
		if err != nil || p.zombie || !p.start.Equal(start) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}
