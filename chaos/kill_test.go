package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/chaos"
	"github.com/palantir-lab/palantir/store"
)

type killedJSON struct {
	Worker  string
	PID     int
	Signal  string
	Current []string
	Dead    bool
}

func needProc(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("chaos kill reads /proc: Linux only")
	}
}

// assertSIGKILLed waits for c and checks that SIGKILL ended it.
func assertSIGKILLed(t *testing.T, c *exec.Cmd, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s exited with %v, want death by SIGKILL", what, err)
		}
		ws := ee.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("%s ended with %v, want death by SIGKILL", what, ws)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still runs 10 s after chaos kill", what)
	}
}

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// liveWorker waits for name's heartbeat and returns it.
func liveWorker(t *testing.T, st *store.Store, name string, cond func(store.Worker) bool) store.Worker {
	t.Helper()
	var got store.Worker
	waitFor(t, 30*time.Second, "a heartbeat of worker "+name, func() bool {
		ws, err := st.Workers(context.Background(), time.Now().Add(-10*time.Second))
		if err != nil {
			return false
		}
		i := slices.IndexFunc(ws, func(w store.Worker) bool { return w.Name == name && w.StoppedAt.IsZero() })
		if i < 0 || !cond(ws[i]) {
			return false
		}
		got = ws[i]
		return true
	})
	return got
}

func TestChaosKillWorkerByName(t *testing.T) {
	needProc(t)
	l := newRedisLab(t)
	st := openStore(t, l.store)
	w := l.start("victim", "worker", "--name", "victim", "--quiet")
	hb := liveWorker(t, st, "victim", func(store.Worker) bool { return true })
	if hb.PID != w.Process.Pid {
		t.Fatalf("heartbeat pid %d, process %d", hb.PID, w.Process.Pid)
	}

	code, out, errs := l.palantir("chaos", "kill", "--worker", "victim", "-o", "json")
	if code != 0 {
		t.Fatalf("chaos kill: exit %d: %s\nworker log:\n%s", code, errs, l.log("victim"))
	}
	var killed []killedJSON
	if err := json.Unmarshal([]byte(out), &killed); err != nil || len(killed) != 1 {
		t.Fatalf("chaos kill -o json: %v: %q", err, out)
	}
	if k := killed[0]; k.Worker != "victim" || k.PID != w.Process.Pid || k.Signal != "SIGKILL" || len(k.Current) != 0 {
		t.Errorf("chaos kill said %+v, want victim, pid %d, SIGKILL, holding nothing", k, w.Process.Pid)
	}
	assertSIGKILLed(t, w, "worker victim")

	// Its heartbeat is still fresh, but the process is gone: a second kill
	// refuses and names why.
	code, _, errs = l.palantir("chaos", "kill", "--worker", "victim")
	if code != 1 || !strings.Contains(errs, "no such process") {
		t.Errorf("second chaos kill of a dead worker: exit %d, %q; want 1 naming no such process", code, errs)
	}
}

func TestChaosKillBusyWorkerSaysWhatItHeld(t *testing.T) {
	needProc(t)
	l := newRedisLab(t)
	st := openStore(t, l.store)
	w := l.start("busy", "worker", "--name", "busy", "--quiet")
	liveWorker(t, st, "busy", func(store.Worker) bool { return true })
	code, _, errs := l.palantir("chaos", "kill", "--busy")
	if code != 1 || !strings.Contains(errs, "no live worker of this machine") {
		t.Errorf("chaos kill --busy with an idle worker: exit %d, %q; want 1, nothing busy", code, errs)
	}

	code, out, errs := l.palantir("launch", "recon", "--speed", "0.2", "--fail-rate", "0")
	if code != 0 {
		t.Fatalf("launch: exit %d: %s", code, errs)
	}
	id := strings.TrimSpace(out)
	liveWorker(t, st, "busy", func(w store.Worker) bool { return w.Current != "" })

	code, out, errs = l.palantir("chaos", "kill", "--busy", "-o", "json")
	if code != 0 {
		t.Fatalf("chaos kill --busy: exit %d: %s", code, errs)
	}
	var killed []killedJSON
	if err := json.Unmarshal([]byte(out), &killed); err != nil || len(killed) != 1 {
		t.Fatalf("chaos kill -o json: %v: %q", err, out)
	}
	if k := killed[0]; k.Worker != "busy" || !slices.Equal(k.Current, []string{id}) || !k.Dead {
		t.Errorf("chaos kill --busy said %+v, want worker busy holding [%s], dead", k, id)
	}
	assertSIGKILLed(t, w, "worker busy")
}

// TestKillRefusesWhatIsNotTheWorkersProcess plants heartbeat rows whose
// PID is another process (a stale row after PID reuse), and checks that
// nothing but the real one is killed. It needs no broker.
func TestKillRefusesWhatIsNotTheWorkersProcess(t *testing.T) {
	needProc(t)
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "palantir.db"))
	ctx := context.Background()
	host, _ := os.Hostname()

	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	// A long-running palantir process that needs no service.
	proxy := exec.Command(binary, "chaos", "proxy", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:1", "--control", "127.0.0.1:0")
	proxy.Dir = dir
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Process.Kill(); proxy.Wait() })
	// A long-running palantir process with workers in it, needing no
	// service: an inproc launch waiting on its embedded workers.
	launcher := exec.Command(binary, "--store", filepath.Join(dir, "other.db"), "launch", "recon", "--speed", "0.01", "--fail-rate", "0", "--wait")
	launcher.Dir = dir
	if err := launcher.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { launcher.Process.Kill(); launcher.Wait() })
	time.Sleep(200 * time.Millisecond) // their start times are now in /proc
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	beat := func(name, host string, pid int, started time.Time, current string) {
		t.Helper()
		if err := st.Heartbeat(ctx, store.Worker{Name: name, Backend: "redis", Queue: "q", Host: host, PID: pid,
			Concurrency: 1, Current: current, StartedAt: started, HeartbeatAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	beat("not-palantir", host, sleeper.Process.Pid, now, "m1")
	beat("reused", host, launcher.Process.Pid, now.Add(-time.Hour), "m2")
	beat("exited", host, gone.ProcessState.Pid(), now, "")
	beat("remote", "another-machine", proxy.Process.Pid, now, "m3")
	beat("self", host, os.Getpid(), now, "")
	beat("not-a-worker", host, proxy.Process.Pid, now, "m4")

	tests := []struct {
		name, worker string
		want         error
		says         string
	}{
		{name: "a process that is not palantir", worker: "not-palantir", want: chaos.ErrNotThatProcess, says: "not palantir"},
		{name: "a palantir process started after the worker", worker: "reused", want: chaos.ErrNotThatProcess, says: "reused"},
		{name: "a process that has exited", worker: "exited", want: chaos.ErrNotThatProcess, says: "no such process"},
		{name: "a worker of another machine", worker: "remote", want: chaos.ErrNoVictim, says: "another-machine"},
		{name: "no such worker", worker: "nobody", want: chaos.ErrNoVictim, says: "no live worker"},
		{name: "ourselves", worker: "self", want: chaos.ErrNotThatProcess, says: "not a worker's pid"},
		{name: "a palantir process that runs no worker", worker: "not-a-worker", want: chaos.ErrNotThatProcess, says: "runs no worker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chaos.Kill(ctx, st, chaos.KillRequest{Worker: tt.worker, Backend: "redis", Queue: "q"})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Kill(%s): %v, want %v saying %q", tt.worker, err, tt.want, tt.says)
			}
		})
	}
	// Busy ones are tried in turn; none of these may be killed.
	if _, err := chaos.Kill(ctx, st, chaos.KillRequest{Busy: true, Backend: "redis", Queue: "q"}); !errors.Is(err, chaos.ErrNotThatProcess) {
		t.Errorf("Kill busy among impostors: %v, want ErrNotThatProcess", err)
	}
	if _, err := chaos.Kill(ctx, st, chaos.KillRequest{Worker: "reused", Backend: "redis", Queue: "other"}); !errors.Is(err, chaos.ErrNoVictim) ||
		!strings.Contains(err.Error(), `queue "q"`) {
		t.Errorf("Kill on another queue: %v, want ErrNoVictim pointing at queue q", err)
	}
	for _, p := range []*exec.Cmd{sleeper, proxy, launcher} {
		if err := p.Process.Signal(syscall.Signal(0)); err != nil {
			t.Fatalf("pid %d was hit: %v", p.Process.Pid, err)
		}
	}

	// The same palantir process under a row written after it started is
	// that worker's (a worker named HOST-PID has no --name to compare).
	beat("genuine", host, launcher.Process.Pid, time.Now(), "m4,m5")
	k, err := chaos.Kill(ctx, st, chaos.KillRequest{Busy: true, Backend: "redis", Queue: "q", Rand: func(n int) int { return 0 }})
	if err != nil {
		t.Fatalf("Kill busy with a genuine worker among impostors: %v", err)
	}
	if k.Worker != "genuine" || k.PID != launcher.Process.Pid || !slices.Equal(k.Current, []string{"m4", "m5"}) || !k.Dead {
		t.Errorf("killed %+v, want genuine (pid %d) holding m4, m5, dead", k, launcher.Process.Pid)
	}
	assertSIGKILLed(t, launcher, "the genuine process")
}
