// Package e2e runs real palantir processes against real brokers and
// stores: worker processes that share work, one killed with SIGKILL
// mid-run, a malformed message put into the broker by hand, and an
// unreachable broker. Every flow runs on Redis and RabbitMQ, each with the
// SQLite and the PostgreSQL store.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/all"
	"github.com/palantir-lab/palantir/internal/testservices"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "palantir-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "palantir")
	build := exec.Command("go", "build", "-o", binary, "../cmd/palantir")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build palantir:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one broker × store combination with a queue of its own.
type env struct {
	t       *testing.T
	backend string
	vars    []string
	dir     string
	queue   string
}

type mission struct {
	ID, Type, Hero, Status, Worker, Error string
	Attempt, Score                        int
}

// registry is every backend palantir ships.
var registry = all.Registry()

// reachable returns the URL tests reach backend b at, having checked that
// it answers (a queue opened and closed), or skips t loudly (fails it in
// CI). storeURL is what a queue in the store's database derives from.
func reachable(t *testing.T, b backends.Backend, storeURL string) string {
	t.Helper()
	url, err := b.URLFor(b.Name, nil, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	if b.URL != nil {
		url = testservices.BackendURL(*b.URL)
	}
	testservices.Reachable(t, b, url)
	return url
}

// reachableBackend is reachable for a backend by name, with a broker of
// its own (not a queue in the store).
func reachableBackend(t *testing.T, name string) string {
	t.Helper()
	b, err := registry.Resolve(name)
	if err != nil {
		t.Fatal(err)
	}
	return reachable(t, b, "")
}

func reachableRedis(t *testing.T) string { return reachableBackend(t, "redis") }

// sharedBackends are the backends whose queue other processes share:
// every one but the embedded.
func sharedBackends() []backends.Backend {
	var bs []backends.Backend
	for _, b := range registry.Backends() {
		if !b.Embedded {
			bs = append(bs, b)
		}
	}
	return bs
}

// forEach runs fn on every shared backend with every store it works with:
// a broker with both the SQLite file and PostgreSQL, a queue in the
// store's database with the store it lives in.
func forEach(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range sharedBackends() {
		for _, storeKind := range []string{"sqlite", "postgres"} {
			if b.FromStore != nil {
				if _, err := b.FromStore(map[string]string{"sqlite": "palantir.db", "postgres": "postgres://db"}[storeKind]); err != nil {
					continue
				}
			}
			t.Run(b.Name+"/"+storeKind, func(t *testing.T) {
				e := &env{t: t, backend: b.Name, dir: t.TempDir(),
					queue: fmt.Sprintf("e2e-%d-%x", os.Getpid(), rand.Uint32())}
				storeURL := filepath.Join(e.dir, "palantir.db")
				if storeKind == "postgres" {
					storeURL = testservices.PostgresDB(t)
				}
				url := reachable(t, b, storeURL)
				e.vars = []string{"PALANTIR_BACKEND=" + b.Name, "PALANTIR_QUEUE=" + e.queue,
					"PALANTIR_STORE=" + storeURL, "PALANTIR_LEASE=1s", "PALANTIR_SHUTDOWN_TIMEOUT=5s"}
				if b.URL != nil {
					e.vars = append(e.vars, b.URL.Env()+"="+url)
				}
				t.Cleanup(func() { removeQueue(t, b.Name, url, e.queue) })
				fn(t, e)
			})
		}
	}
}

// removeQueue deletes everything the backend keeps for queue (its work,
// retry and dead-letter queues, keys or rows), so that runs leave nothing
// behind.
func removeQueue(t *testing.T, backend, url, queue string) {
	b, err := registry.Resolve(backend)
	if err != nil {
		t.Error(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := b.Open(ctx, backends.Config{URL: url, Queue: queue})
	if err != nil {
		t.Errorf("remove queue %s: %v", queue, err)
		return
	}
	defer q.Close()
	if d, ok := q.(backends.Destroyer); ok {
		if err := d.Destroy(ctx); err != nil {
			t.Errorf("remove queue %s: %v", queue, err)
		}
	}
}

func (e *env) cmd(args ...string) *exec.Cmd {
	c := exec.Command(binary, args...)
	c.Dir = e.dir
	c.Env = append(os.Environ(), e.vars...)
	return c
}

// palantir runs a command to its end.
func (e *env) palantir(args ...string) (code int, stdout, stderr string) {
	c := e.cmd(args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		e.t.Fatalf("palantir %v: %v", args, err)
	}
	return 0, out.String(), errb.String()
}

// startWorker starts a worker process; it is killed when the test ends.
func (e *env) startWorker(name string, extra ...string) *exec.Cmd {
	c := e.cmd(append([]string{"worker", "--name", name, "--quiet"}, extra...)...)
	logf, err := os.Create(filepath.Join(e.dir, name+".log"))
	if err != nil {
		e.t.Fatal(err)
	}
	c.Stdout, c.Stderr = logf, logf
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
		logf.Close()
	})
	return c
}

func (e *env) workerLog(name string) string {
	b, _ := os.ReadFile(filepath.Join(e.dir, name+".log"))
	return string(b)
}

func (e *env) missions(args ...string) []mission {
	code, out, errs := e.palantir(append(args, "-o", "json")...)
	if code != 0 {
		e.t.Fatalf("palantir %v: exit %d: %s", args, code, errs)
	}
	var ms []mission
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		e.t.Fatalf("palantir %v: %v: %s", args, err, out)
	}
	return ms
}

func (e *env) launchAndWait(timeout time.Duration, args ...string) []mission {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, binary, append(append([]string{"launch"}, args...), "--wait", "-o", "json")...)
	c.Dir, c.Env = e.dir, append(os.Environ(), e.vars...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		e.t.Fatalf("launch --wait: %v\nstderr: %s\nworker logs:\n%s\n%s", err, errb.String(), e.workerLog("eagle1"), e.workerLog("eagle2"))
	}
	var ms []mission
	if err := json.Unmarshal(out.Bytes(), &ms); err != nil {
		e.t.Fatalf("launch output: %v: %s", err, out.String())
	}
	return ms
}

func TestTwoWorkersShareTheWork(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		e.startWorker("eagle1")
		e.startWorker("eagle2")
		// A type of the launcher's own plan, in 32 KiB messages: the
		// workers have no copy of it (the order carries it).
		plan := "missions:\n  courier:\n    points: 7\n    payload: 32KiB\n    stages:\n      - {name: hand over the book, duration: 100ms}\n"
		if err := os.WriteFile(filepath.Join(e.dir, "plan.yaml"), []byte(plan), 0o644); err != nil {
			t.Fatal(err)
		}
		ms := e.launchAndWait(60*time.Second, "raven", "courier", "--plan", "plan.yaml", "--count", "8", "--speed", "10", "--fail-rate", "0")
		byWorker, byType := map[string]int{}, map[string]int{}
		for _, m := range ms {
			if m.Status != "SUCCESS" {
				t.Errorf("%s: %s", m.ID, m.Status)
			}
			if m.Type == "courier" && m.Score != map[bool]int{true: 10, false: 7}[m.Attempt == 1] {
				t.Errorf("courier %s scored %d on attempt %d, want 10 on the first and 7 after", m.ID, m.Score, m.Attempt)
			}
			byWorker[m.Worker]++
			byType[m.Type]++
		}
		if byType["raven"] != 8 || byType["courier"] != 8 {
			t.Errorf("launched %v, want 8 raven and 8 courier", byType)
		}
		if byWorker["eagle1"] == 0 || byWorker["eagle2"] == 0 {
			t.Errorf("work not shared: %v", byWorker)
		}
		hist := e.missions("history", "--worker", "eagle2")
		if len(hist) != byWorker["eagle2"] {
			t.Errorf("history --worker eagle2: %d missions, launch said %d", len(hist), byWorker["eagle2"])
		}
	})
}

func TestSIGKILLedWorkerLosesNothingAndScoresOnce(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		// One mission executing and three more held (prefetch): all four
		// must come back when it dies.
		doomed := e.startWorker("doomed", "--concurrency", "1", "--prefetch", "4")
		code, out, errs := e.palantir("launch", "recon", "--count", "6", "--speed", "2", "--fail-rate", "0")
		if code != 0 {
			t.Fatalf("launch: %d %s", code, errs)
		}
		ids := strings.Fields(out)
		// Wait until the doomed worker is mid-mission, then kill it hard.
		deadline := time.Now().Add(20 * time.Second)
		for {
			started := 0
			for _, m := range e.missions(append([]string{"status"}, ids...)...) {
				if m.Worker == "doomed" && (m.Status == "STARTED" || m.Status == "PROCESSING") {
					started++
				}
			}
			if started > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the doomed worker never started a mission:\n%s", e.workerLog("doomed"))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := doomed.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		doomed.Wait()
		e.startWorker("eagle1", "--concurrency", "3")

		deadline = time.Now().Add(60 * time.Second)
		var ms []mission
		for {
			ms = e.missions(append([]string{"status"}, ids...)...)
			done := 0
			for _, m := range ms {
				if m.Status == "SUCCESS" || m.Status == "FAILURE" {
					done++
				}
			}
			if done == len(ids) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("missions not finished after the kill: %+v\n%s", ms, e.workerLog("eagle1"))
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, m := range ms {
			if m.Status != "SUCCESS" || m.Worker != "eagle1" && m.Worker != "doomed" {
				t.Errorf("%s: %s by %s", m.ID, m.Status, m.Worker)
			}
		}
		var board []struct{ Missions, Points int }
		_, out, _ = e.palantir("leaderboard", "-o", "json")
		json.Unmarshal([]byte(out), &board)
		scored := 0
		for _, h := range board {
			scored += h.Missions
		}
		if scored != len(ids) {
			t.Errorf("leaderboard counts %d scored missions, want %d (each once)", scored, len(ids))
		}
		for _, id := range ids {
			var out string
			e.waitFor(10*time.Second, "hero_scored of "+id, func() bool { // telemetry lands in batches
				_, out, _ = e.palantir("events", "--mission", id, "--limit", "0", "-o", "json")
				return strings.Contains(out, `"hero_scored"`)
			})
			if n := strings.Count(out, `"hero_scored"`); n != 1 {
				t.Errorf("%s: hero_scored %d times", id, n)
			}
		}
	})
}

func TestMalformedMessageIsDeadLetteredAndWorkerCarriesOn(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		body := e.injectMalformed()
		e.startWorker("eagle1")
		ms := e.launchAndWait(30*time.Second, "raven", "--speed", "10", "--fail-rate", "0")
		if ms[0].Status != "SUCCESS" {
			t.Errorf("mission after the malformed message: %s", ms[0].Status)
		}
		var dead []struct{ ID, Reason, Body string }
		_, out, _ := e.palantir("dlq", "list", "-o", "json")
		json.Unmarshal([]byte(out), &dead)
		if len(dead) != 1 || !strings.Contains(dead[0].Reason, "malformed") || dead[0].Body != body {
			t.Errorf("dead letters: %+v", dead)
		}
		// Replayed with -o json, it has no mission object: stderr names it.
		if len(dead) == 1 {
			code, out, errs := e.palantir("dlq", "replay", dead[0].ID, "-o", "json")
			if code != 0 || !strings.Contains(errs, "not missions") || !strings.Contains(errs, dead[0].ID) {
				t.Errorf("dlq replay -o json of the malformed message: exit %d, stdout %q, stderr %q", code, out, errs)
			}
		}
		if n := strings.Count(e.workerLog("eagle1"), "message moved to the dead letters"); n < 1 || !strings.Contains(e.workerLog("eagle1"), "malformed mission") {
			t.Errorf("worker logged the malformed message %d times, want once:\n%s", n, e.workerLog("eagle1"))
		}
	})
}

// injectMalformed puts a malformed message on the queue with `palantir chaos
// publish`, straight to the broker as a stranger would, and returns its
// body.
func (e *env) injectMalformed() string {
	code, out, errs := e.palantir("chaos", "publish", "malformed", "-o", "json")
	var bad []struct{ ID, Kind, Detail string }
	if code != 0 || json.Unmarshal([]byte(out), &bad) != nil || len(bad) != 1 {
		e.t.Fatalf("chaos publish malformed: exit %d, %s %s", code, out, errs)
	}
	return "chaos " + bad[0].ID + ": this is not a mission"
}

func TestUnreachableBrokerExitsThreeQuicklyWithoutThePassword(t *testing.T) {
	dir := t.TempDir()
	var urls []string
	for _, b := range sharedBackends() {
		if len(b.Schemes) > 0 && b.Networked { // a closed port, with a password to keep
			urls = append(urls, b.Schemes[0]+"://palantir:s3cr3t@127.0.0.1:1/")
		}
	}
	for _, url := range urls {
		for _, args := range [][]string{{"launch", "raven"}, {"worker"}, {"dlq", "list"}} {
			start := time.Now()
			c := exec.Command(binary, append(args, "--backend", url, "--store", filepath.Join(dir, "p.db"))...)
			var out, errb bytes.Buffer
			c.Stdout, c.Stderr = &out, &errb
			err := c.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			took := time.Since(start)
			msg := errb.String()
			if code != 3 || took > 10*time.Second {
				t.Errorf("%v on %s: exit %d after %v, want 3 within seconds; stderr %q", args, url, code, took, msg)
			}
			if strings.Contains(msg, "s3cr3t") || strings.Count(strings.TrimSpace(msg), "\n") != 0 || !strings.Contains(msg, "127.0.0.1:1") {
				t.Errorf("%v on %s: stderr must be one line naming the broker without the password: %q", args, url, msg)
			}
		}
	}
}

// TestWorkerSurvivesARedisRestart restarts a private Redis under a running
// worker: the worker must wait for it, not exit, and then run new missions.
func TestWorkerSurvivesARedisRestart(t *testing.T) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		testservices.Unavailable(t, "redis-server binary", "", err)
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	start := func() *exec.Cmd {
		c := exec.Command(server, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		for i := 0; i < 50; i++ {
			if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				conn.Close()
				return c
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatal("private redis-server did not start")
		return nil
	}
	redisProc := start()
	e := &env{t: t, backend: "redis", dir: dir, queue: "restart",
		vars: []string{"PALANTIR_BACKEND=" + url, "PALANTIR_STORE=" + filepath.Join(dir, "p.db")}}
	e.startWorker("eagle1")
	time.Sleep(500 * time.Millisecond)
	redisProc.Process.Kill()
	redisProc.Wait()
	time.Sleep(1500 * time.Millisecond) // the worker notices, and waits
	start()
	// Only the worker started before the restart can run these.
	ms := e.launchAndWait(30*time.Second, "raven", "--count", "2", "--speed", "10", "--fail-rate", "0")
	for _, m := range ms {
		if m.Status != "SUCCESS" || m.Worker != "eagle1" {
			t.Errorf("after the restart: %s %s by %q", m.ID, m.Status, m.Worker)
		}
	}
	if !strings.Contains(e.workerLog("eagle1"), "retrying in") {
		t.Errorf("the worker did not say it was waiting for the broker:\n%s", e.workerLog("eagle1"))
	}
}

// TestSIGTERMReturnsUnfinishedMissions: a worker told to stop lets its
// mission run for the shutdown timeout, then gives it back and exits 0;
// another worker finishes it, as the same attempt, scored once.
func TestSIGTERMReturnsUnfinishedMissions(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		e.vars = append(e.vars, "PALANTIR_SHUTDOWN_TIMEOUT=500ms")
		leaving := e.startWorker("leaving")
		code, out, errs := e.palantir("launch", "recon", "--speed", "1.5", "--fail-rate", "0")
		if code != 0 {
			t.Fatalf("launch: %d %s", code, errs)
		}
		id := strings.TrimSpace(out)
		e.waitFor(20*time.Second, "the mission to be PROCESSING", func() bool {
			ms := e.missions("status", id)
			return ms[0].Status == "PROCESSING" && ms[0].Worker == "leaving"
		})
		if err := leaving.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- leaving.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("worker after SIGTERM: %v, want exit 0\n%s", err, e.workerLog("leaving"))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("worker still running 10s after SIGTERM\n%s", e.workerLog("leaving"))
		}
		if ms := e.missions("status", id); ms[0].Status != "QUEUED" {
			t.Errorf("after the shutdown the mission is %s, want QUEUED", ms[0].Status)
		}
		e.startWorker("eagle1", "--concurrency", "1")
		e.waitFor(40*time.Second, "the mission to finish", func() bool {
			return e.missions("status", id)[0].Status == "SUCCESS"
		})
		m := e.missions("status", id)[0]
		if m.Worker != "eagle1" || m.Attempt != 1 {
			t.Errorf("finished by %s at attempt %d, want eagle1 at attempt 1", m.Worker, m.Attempt)
		}
		// Telemetry lands in batches, a moment after the outcome itself.
		var evs string
		e.waitFor(10*time.Second, "the hero_scored event", func() bool {
			_, evs, _ = e.palantir("events", "--mission", id, "--limit", "0", "-o", "json")
			return strings.Contains(evs, `"hero_scored"`)
		})
		if !strings.Contains(evs, "returned unfinished by leaving at shutdown") || strings.Count(evs, `"hero_scored"`) != 1 {
			t.Errorf("events lack the return, or scored other than once:\n%s", evs)
		}
	})
}

// TestCtrlCTwice: the first Ctrl-C says what the worker is waiting for
// and how to stop waiting; the second returns the running mission to the
// queue at once (not after the 30 s shutdown timeout, nor after its
// lease), and the worker leaves the live list.
func TestCtrlCTwice(t *testing.T) {
	url := reachableRedis(t)
	e := &env{t: t, backend: "redis", dir: t.TempDir(), queue: fmt.Sprintf("e2e-ctrlc-%d", os.Getpid())}
	e.vars = []string{"PALANTIR_BACKEND=redis", "PALANTIR_REDIS_URL=" + url, "PALANTIR_QUEUE=" + e.queue,
		"PALANTIR_STORE=" + filepath.Join(e.dir, "palantir.db"), "PALANTIR_SHUTDOWN_TIMEOUT=30s"}
	t.Cleanup(func() { removeQueue(t, "redis", url, e.queue) })
	w := e.startWorker("leaving")
	ids := e.launch("recon", "--speed", "0.2", "--fail-rate", "0")
	e.waitFor(20*time.Second, "the mission to run", func() bool {
		ms := e.missions("status", ids[0])
		return ms[0].Worker == "leaving" && (ms[0].Status == "STARTED" || ms[0].Status == "PROCESSING")
	})
	if err := w.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	e.waitFor(5*time.Second, "the worker to say it is stopping", func() bool {
		return strings.Contains(e.workerLog("leaving"), "Ctrl-C again")
	})
	sent := time.Now()
	if err := w.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker after a second Ctrl-C: %v, want exit 0\n%s", err, e.workerLog("leaving"))
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("worker still running 5 s after a second Ctrl-C\n%s", e.workerLog("leaving"))
	}
	t.Logf("second Ctrl-C to exit: %v; log:\n%s", time.Since(sent).Round(time.Millisecond), e.workerLog("leaving"))
	if ms := e.missions("status", ids[0]); ms[0].Status != "QUEUED" {
		t.Errorf("after the second Ctrl-C the mission is %s, want QUEUED (returned)", ms[0].Status)
	}
	for _, r := range e.statusRows() {
		if r.Group == "live_worker" && r.Key == "leaving" {
			t.Errorf("the stopped worker is still listed live: %+v", r)
		}
	}
	if log := e.workerLog("leaving"); !strings.Contains(log, "returning 1 running mission(s) to the queue now") {
		t.Errorf("the worker did not say it returned the mission:\n%s", log)
	}
}

// statusRows is `status -o json`.
func (e *env) statusRows() []struct{ Group, Key string } {
	code, out, errs := e.palantir("status", "-o", "json")
	if code != 0 {
		e.t.Fatalf("status: exit %d: %s", code, errs)
	}
	var rows []struct{ Group, Key string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func (e *env) waitFor(d time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
