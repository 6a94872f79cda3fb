package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends/all"
	"github.com/palantir-lab/palantir/ops"
)

// cli runs palantir in-process in dir and returns exit status and streams.
type result struct {
	code     int
	out, err string
}

func cli(t *testing.T, dir string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	args = append([]string{"--store", filepath.Join(dir, "palantir.db")}, args...)
	code := run(context.Background(), args, streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return result{code: code, out: out.String(), err: errb.String()}
}

func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(r.out))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\nstdout: %s\nstderr: %s", err, r.out, r.err)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document: %s", r.out)
	}
	return v
}

func TestLaunchFellowshipRunsOnEmbeddedWorkers(t *testing.T) {
	dir := t.TempDir()
	r := cli(t, dir, "launch", "fellowship", "--speed", "40", "--fail-rate", "0", "--seed", "7", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr: %s", r.code, r.err)
	}
	ms := decode[[]ops.Mission](t, r)
	if len(ms) < 5 {
		t.Fatalf("fellowship launched %d missions, want at least 5", len(ms))
	}
	types, workers := map[string]bool{}, map[string]bool{}
	for _, m := range ms {
		types[m.Type] = true
		workers[m.Worker] = true
		if m.Status != "SUCCESS" || m.Attempt != 1 || m.Score == 0 || m.FinishedAt == nil || m.StartedAt == nil {
			t.Errorf("mission %+v did not end in a scored SUCCESS", m)
		}
	}
	if len(types) < 3 {
		t.Errorf("fellowship types %v, want mixed", types)
	}
	if !workers["eagle1"] || !workers["eagle2"] || len(workers) != 2 {
		t.Errorf("workers %v, want eagle1 and eagle2", workers)
	}

	hist := decode[[]ops.Mission](t, cli(t, dir, "history", "-o", "json"))
	if len(hist) != len(ms) || hist[0].ID != ms[len(ms)-1].ID {
		t.Errorf("history has %d missions, newest %v; want %d newest first", len(hist), hist[0].ID, len(ms))
	}
	board := decode[[]ops.Hero](t, cli(t, dir, "leaderboard", "-o", "json"))
	total := 0
	for _, h := range board {
		total += h.Points
	}
	want := 0
	for _, m := range ms {
		want += m.Score
	}
	if total != want || len(board) != 10 {
		t.Errorf("leaderboard totals %d points over %d heroes, want %d over 10", total, len(board), want)
	}
	tr := decode[ops.TraceObject](t, cli(t, dir, "trace", ms[0].ID[:6], "-o", "json"))
	var names []string
	services := map[string]bool{}
	for _, s := range tr.Steps {
		names = append(names, s.Event.Event)
		services[strings.SplitN(s.Service, ":", 2)[0]] = true
	}
	joined := strings.Join(names, " ")
	for _, want := range []string{"mission_invoked", "mission_queued", "mission_started", "mission_progress", "mission_completed", "mission_persisted", "hero_scored"} {
		if !strings.Contains(joined, want) {
			t.Errorf("trace lacks %s: %s", want, joined)
		}
	}
	for _, svc := range []string{"cli", "broker", "worker", "store"} {
		if !services[svc] {
			t.Errorf("trace has no event from a %s service: %v", svc, services)
		}
	}
	table := cli(t, dir, "trace", ms[0].ID)
	if table.code != 0 || !strings.Contains(table.out, "worker:eagle") || !strings.Contains(table.out, "store:sqlite") {
		t.Errorf("trace table:\n%s", table.out)
	}
}

// trace --explain names, beside each event, the primitive that produced
// it: the backend's for the queue's events, the store's for its own.
func TestTraceExplainNamesEachPrimitive(t *testing.T) {
	dir := t.TempDir()
	r := cli(t, dir, "launch", "raven", "--speed", "50", "--fail-rate", "0", "--wait", "-o", "json")
	ms := decode[[]ops.Mission](t, r)
	tr := decode[ops.TraceObject](t, cli(t, dir, "trace", ms[0].ID, "--explain", "-o", "json"))
	be, _ := all.Registry().Resolve("inproc")
	got := map[string]string{}
	for _, s := range tr.Steps {
		got[s.Event.Event] = s.Explain
	}
	for _, ev := range []string{"mission_queued", "mission_started"} {
		if got[ev] == "" || got[ev] != be.Primitives[ev] {
			t.Errorf("%s explained as %q, want the backend's %q", ev, got[ev], be.Primitives[ev])
		}
	}
	if !strings.Contains(got["mission_persisted"], "COMMIT") || !strings.Contains(got["mission_persisted"], be.Primitives["mission_persisted"]) ||
		!strings.Contains(got["hero_scored"], "INSERT INTO scores") {
		t.Errorf("the store's events are not explained by its SQL: %v", got)
	}
	table := cli(t, dir, "trace", ms[0].ID, "--explain")
	if table.code != 0 || !strings.Contains(table.out, "PRIMITIVE") || !strings.Contains(table.out, be.Primitives["mission_queued"]) {
		t.Errorf("trace --explain table:\n%s", table.out)
	}
	if plain := cli(t, dir, "trace", ms[0].ID, "-o", "json"); strings.Contains(plain.out, `"explain"`) {
		t.Errorf("trace without --explain explains: %s", plain.out)
	}
}

func TestFailedMissionsExitOneAndAreDeadLettered(t *testing.T) {
	dir := t.TempDir()
	r := cli(t, dir, "launch", "raven", "--count", "3", "--fail-rate", "1", "--max-attempts", "2", "--speed", "50", "--wait", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr: %s", r.code, r.err)
	}
	ms := decode[[]ops.Mission](t, r)
	for _, m := range ms {
		if m.Status != "FAILURE" || m.Attempt != 2 || m.Error == "" {
			t.Errorf("mission %s: %s attempt %d error %q, want FAILURE attempt 2", m.ID, m.Status, m.Attempt, m.Error)
		}
	}
	dead := decode[[]ops.DeadLetter](t, cli(t, dir, "dlq", "list", "-o", "json"))
	if len(dead) != 3 {
		t.Fatalf("dlq list: %d dead letters, want 3", len(dead))
	}
	// The dead letters outlived the launching process's memory; replay
	// sends one back, runs it (it fails again at fail rate 1) and exits 1.
	rp := cli(t, dir, "dlq", "replay", dead[0].ID, "-o", "json")
	if rp.code != 1 {
		t.Fatalf("replay exit %d, want 1 (fails again); stderr: %s", rp.code, rp.err)
	}
	again := decode[[]ops.Mission](t, rp)
	if len(again) != 1 || again[0].ID != dead[0].ID || again[0].Status != "FAILURE" || again[0].Attempt != 2 {
		t.Errorf("replayed: %+v", again)
	}
	events := decode[[]ops.Event](t, cli(t, dir, "events", "--mission", dead[0].ID, "--limit", "0", "-o", "json"))
	replays, deadLettered := 0, 0
	for _, e := range events {
		if e.Detail == "replayed from the dead letters" {
			replays++
		}
		if e.Event == "mission_dead_lettered" {
			deadLettered++
		}
	}
	if replays != 1 || deadLettered != 2 {
		t.Errorf("events: %d replays and %d dead-letterings, want 1 and 2", replays, deadLettered)
	}
	if n := len(decode[[]ops.DeadLetter](t, cli(t, dir, "dlq", "list", "-o", "json"))); n != 3 {
		t.Errorf("dead letters after a failed replay: %d, want 3", n)
	}
	// The fail rate travels with the mission: a replay can change it, and
	// then the mission succeeds.
	ok := cli(t, dir, "dlq", "replay", dead[1].ID, "--fail-rate", "0", "-o", "json")
	if ok.code != 0 {
		t.Fatalf("replay --fail-rate 0: exit %d, want 0; stderr: %s", ok.code, ok.err)
	}
	if got := decode[[]ops.Mission](t, ok); len(got) != 1 || got[0].ID != dead[1].ID || got[0].Status != "SUCCESS" || got[0].Attempt != 1 {
		t.Errorf("replayed at fail rate 0: %+v, want SUCCESS at attempt 1", got)
	}
	if n := len(decode[[]ops.DeadLetter](t, cli(t, dir, "dlq", "list", "-o", "json"))); n != 2 {
		t.Errorf("dead letters after a replay that succeeded: %d, want 2", n)
	}
	if r := cli(t, dir, "dlq", "replay", "--fail-rate", "2"); r.code != 2 || !strings.Contains(r.err, "--fail-rate") {
		t.Errorf("replay --fail-rate 2: exit %d, %q; want 2 naming --fail-rate", r.code, r.err)
	}
}

func TestUsageErrorsExitTwoWithOneLine(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badConfig, []byte("backend: [unclosed\n"), 0o644)
	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typo, []byte("backnd: redis\n"), 0o644)
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, []byte("missions:\n  courier:\n    payload: 1MiB\n    stages: [{name: hand over, duration: 1s}]\n"), 0o644)
	stageTypo := filepath.Join(dir, "stage.yaml")
	os.WriteFile(stageTypo, []byte("missions:\n  courier:\n    stages: [{name: hand over, durration: 1s}]\n"), 0o644)
	badSchedule := filepath.Join(dir, "sched.yaml")
	os.WriteFile(badSchedule, []byte("schedules:\n  x: {every: 1s, type: dragon}\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want string // in the error line
	}{
		{"a broken file says how to run without it", []string{"cancel", "abcd1234", "--config", badSchedule}, "fix " + badSchedule + ", or run with --config /dev/null to leave it out"},
		{"unknown type", []string{"launch", "dragon"}, `TYPE: unknown mission type "dragon"`}, // the argument, not a --type flag launch does not have
		{"no type", []string{"launch"}, "launch needs a mission TYPE: recon, consult, raven or fellowship"},
		{"type typo", []string{"launch", "fellowshp"}, `unknown mission type "fellowshp"; did you mean fellowship?`},
		{"history of a batch", []string{"history", "--type", "fellowship"}, "fellowship launches a batch (recon, consult, raven, consult, recon); a mission's type is recon, consult or raven"},
		{"backend typo", []string{"status", "--backend", "redi"}, `unknown backend "redi"; did you mean redis?`},
		{"command typo", []string{"lunch"}, `unknown command "lunch" for "palantir"; did you mean launch?`},
		{"subcommand typo", []string{"dlq", "replya"}, `unknown command "replya" for "palantir dlq"; did you mean replay?`},
		{"bad fail rate", []string{"launch", "raven", "--fail-rate", "2"}, "--fail-rate"},
		{"bad speed", []string{"launch", "raven", "--speed", "0"}, "--speed"},
		{"unknown hero", []string{"launch", "raven", "--hero", "sauron"}, "unknown hero"},
		{"unknown backend", []string{"launch", "raven", "--backend", "kafka"}, `unknown backend "kafka"`},
		{"unknown scheme", []string{"status", "--backend", "kafka://x"}, "kafka"},
		{"unknown flag", []string{"launch", "raven", "--frobnicate"}, "unknown flag"},
		{"not a number", []string{"launch", "raven", "--count", "many"}, "--count"},
		{"bad output", []string{"history", "-o", "xml"}, "output"},
		{"unparseable config", []string{"history", "--config", badConfig}, "bad.yaml"},
		{"missing config", []string{"history", "--config", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"config typo", []string{"history", "--config", typo}, `unknown key "backnd"`},
		{"worker on inproc", []string{"worker"}, "inproc"},
		{"unknown mission", []string{"trace", "zzzzzz"}, "no such mission"},
		{"bad since", []string{"history", "--since", "yesterday"}, "--since"},
		{"bad status filter", []string{"history", "--status", "DONE"}, "--status"},
		{"purge without yes off a terminal", []string{"purge"}, "--yes"},
		{"bad queue name", []string{"status", "--queue", "a b"}, "queue"},
		{"several queues beyond a worker", []string{"status", "--queue", "high,low"}, "--queue high,low (flag --queue): only a worker consumes several queues, with weights; status takes one name"},
		{"a weight beyond a worker", []string{"launch", "raven", "--queue", "high=3"}, "only a worker consumes several queues, with weights; launch takes one name"},
		{"a queue twice", []string{"worker", "--backend", "redis", "--queue", "high,high"}, `"high" is listed twice`},
		{"a bad weight", []string{"worker", "--backend", "redis", "--queue", "high=0,low"}, "weight must be a whole number from 1 to 1000"},
		{"unknown command", []string{"lanch", "raven"}, `unknown command "lanch"`},
		{"unknown subcommand", []string{"dlq", "bogus"}, `unknown command "bogus"`},
		{"bad duration", []string{"history", "--lease", "forever"}, `"forever" for "--lease"`},
		{"short prefix", []string{"trace", "ab"}, "at least 4 characters"},
		{"payload over the message limit", []string{"launch", "courier", "--plan", big}, "over max_message_size"},
		{"plan typo", []string{"launch", "courier", "--plan", stageTypo}, `line 3: unknown key "durration"`},
		{"missing plan", []string{"launch", "courier", "--plan", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"a plan type without its plan", []string{"launch", "courier"}, `unknown mission type "courier"`},
		{"config typo in missions", []string{"history", "--config", stageTypo}, "durration"},
		{"fail rate NaN", []string{"launch", "raven", "--fail-rate", "NaN"}, "--fail-rate"},
		{"speed NaN", []string{"launch", "raven", "--speed", "NaN"}, "--speed"},
		{"speed too small", []string{"launch", "raven", "--speed", "1e-12"}, "--speed"},
		{"replay fail rate NaN", []string{"dlq", "replay", "--fail-rate", "NaN"}, "--fail-rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, dir, tt.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", r.code, r.err)
			}
			if lines := strings.Count(strings.TrimSpace(r.err), "\n") + 1; lines != 1 || !strings.Contains(r.err, tt.want) {
				t.Errorf("stderr %q: want one line containing %q", r.err, tt.want)
			}
			if r.out != "" {
				t.Errorf("stdout not empty on error: %q", r.out)
			}
		})
	}
}

func TestNothingHalfWrittenWhenBrokerIsDown(t *testing.T) {
	dir := t.TempDir()
	r := cli(t, dir, "launch", "raven", "--backend", "redis://:hunter2@127.0.0.1:1/0")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3; stderr %s", r.code, r.err)
	}
	if strings.Contains(r.err, "hunter2") || strings.Count(strings.TrimSpace(r.err), "\n") != 0 {
		t.Errorf("stderr must be one line without the password: %q", r.err)
	}
	if hist := decode[[]ops.Mission](t, cli(t, dir, "history", "-o", "json")); len(hist) != 0 {
		t.Errorf("a launch that could not publish left %d missions behind", len(hist))
	}
}

func TestJSONOutputsAreOneDocumentOnAnEmptyStore(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"status"}, {"history"}, {"events"}, {"leaderboard"}, {"dlq", "list"}, {"doctor"}, {"version"},
	} {
		r := cli(t, dir, append(args, "-o", "json")...)
		if r.code != 0 {
			t.Errorf("%v: exit %d: %s", args, r.code, r.err)
			continue
		}
		decode[any](t, r)
	}
	status := decode[[]ops.StatusRow](t, cli(t, dir, "status", "-o", "json"))
	if len(status) == 0 || status[0].Group != "queue" {
		t.Errorf("status on an empty store: %+v, want the queue row", status)
	}
}

func TestStatusOfMissions(t *testing.T) {
	dir := t.TempDir()
	ms := decode[[]ops.Mission](t, cli(t, dir, "launch", "raven", "raven", "--speed", "50", "--fail-rate", "0", "-o", "json"))
	got := decode[[]ops.Mission](t, cli(t, dir, "status", ms[1].ID, ms[0].ID[:5], "-o", "json"))
	if len(got) != 2 || got[0].ID != ms[1].ID || got[1].ID != ms[0].ID || got[0].Status != "SUCCESS" {
		t.Errorf("status by id and prefix: %+v", got)
	}
	rows := decode[[]ops.StatusRow](t, cli(t, dir, "status", "-o", "json"))
	found := false
	for _, r := range rows {
		if r.Group == "type" && r.Key == "raven" && r.Counts["SUCCESS"] == 2 {
			found = true
		}
	}
	if !found {
		t.Errorf("summary lacks raven SUCCESS 2: %+v", rows)
	}
}

// Commands compute from the app's clock, so a test can move it: two
// hours on, nothing launched now is within history --since 1h.
func TestCommandsReadTheInjectedClock(t *testing.T) {
	dir := t.TempDir()
	if r := cli(t, dir, "launch", "raven", "--speed", "100", "--fail-rate", "0"); r.code != 0 {
		t.Fatalf("launch: %d %s", r.code, r.err)
	}
	history := func(now time.Time) []ops.Mission {
		var out, errb bytes.Buffer
		a := newApp(streams{In: strings.NewReader(""), Out: &out, Err: &errb})
		a.now = func() time.Time { return now }
		code := runApp(context.Background(), a, []string{"--store", filepath.Join(dir, "palantir.db"), "history", "--since", "1h", "-o", "json"})
		if code != 0 {
			t.Fatalf("history: %d %s", code, errb.String())
		}
		return decode[[]ops.Mission](t, result{out: out.String()})
	}
	if got := history(time.Now()); len(got) != 1 {
		t.Errorf("history --since 1h now: %d missions, want 1", len(got))
	}
	if got := history(time.Now().Add(2 * time.Hour)); len(got) != 0 {
		t.Errorf("history --since 1h two hours on: %d missions, want 0", len(got))
	}
}

// history --backend takes what launch --backend took: a URL filters by
// the backend it selects, as its name does.
func TestHistoryBackendTakesAURL(t *testing.T) {
	url := reachableRedisURL(t)
	dir := t.TempDir()
	queue := fmt.Sprintf("hist-url-%d", time.Now().UnixNano())
	if r := cli(t, dir, "launch", "raven", "--backend", url, "--queue", queue); r.code != 0 {
		t.Fatalf("launch: %d %s", r.code, r.err)
	}
	t.Cleanup(func() { cli(t, dir, "purge", "--all", "--yes", "--backend", url, "--queue", queue) })
	byURL := decode[[]ops.Mission](t, cli(t, dir, "history", "--backend", url, "-o", "json"))
	byName := decode[[]ops.Mission](t, cli(t, dir, "history", "--backend", "redis", "-o", "json"))
	if len(byURL) != 1 || len(byName) != 1 {
		t.Errorf("history --backend URL: %d missions, --backend redis: %d; want 1 and 1", len(byURL), len(byName))
	}
}

// Commands that stamp or print times read the app's clock too: a replay's
// queued event carries it, and doctor's timings are measured on it.
func TestReplayAndDoctorReadTheInjectedClock(t *testing.T) {
	dir := t.TempDir()
	if r := cli(t, dir, "launch", "raven", "--speed", "100", "--fail-rate", "1", "--max-attempts", "1", "-o", "json"); r.code != 1 {
		t.Fatalf("failing launch: %d %s", r.code, r.err)
	}
	fixed := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	at := func(args ...string) result {
		var out, errb bytes.Buffer
		a := newApp(streams{In: strings.NewReader(""), Out: &out, Err: &errb})
		a.now = func() time.Time { return fixed }
		code := runApp(context.Background(), a, append([]string{"--store", filepath.Join(dir, "palantir.db")}, args...))
		return result{code: code, out: out.String(), err: errb.String()}
	}
	replayed := at("dlq", "replay", "-o", "json")
	if replayed.code != 1 { // the raven is ambushed again
		t.Fatalf("dlq replay: %d %s", replayed.code, replayed.err)
	}
	ms := decode[[]ops.Mission](t, replayed)
	evs := decode[[]ops.Event](t, cli(t, dir, "events", "--mission", ms[0].ID, "-o", "json"))
	found := false
	for _, e := range evs {
		if e.Event == "mission_queued" && e.Detail == "replayed from the dead letters" {
			found = true
			if !e.At.Equal(fixed) {
				t.Errorf("replay's mission_queued at %v, want the app's clock %v", e.At, fixed)
			}
		}
	}
	if !found {
		t.Errorf("no replayed mission_queued event in %+v", evs)
	}
	if d := at("doctor"); d.code != 0 || !strings.Contains(d.out, "answers in 0s") {
		t.Errorf("doctor on a stopped clock: exit %d, stdout %q; want timings of 0s", d.code, d.out)
	}
}

// `palantir --version` is what people type first; it prints what
// `palantir version` prints.
func TestVersionFlag(t *testing.T) {
	dir := t.TempDir()
	flag, cmd := cli(t, dir, "--version"), cli(t, dir, "version")
	if flag.code != 0 || cmd.code != 0 {
		t.Fatalf("--version exit %d (%s), version exit %d (%s)", flag.code, flag.err, cmd.code, cmd.err)
	}
	if flag.out != cmd.out || !strings.Contains(flag.out, "palantir") {
		t.Errorf("--version printed %q, version printed %q", flag.out, cmd.out)
	}
}

// Reading commands in a directory where nothing was launched say that
// there is no store there yet, print their empty answer, and leave no
// palantir.db behind (a student in the wrong directory would otherwise
// read an empty store made for the occasion and not know it).
func TestReadingCommandsDoNotCreateTheStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "palantir.db")
	for _, args := range [][]string{
		{"history"}, {"status"}, {"leaderboard"}, {"events"}, {"dlq", "list"}, {"doctor"},
		{"history", "-o", "json"}, {"status", "-o", "json"},
	} {
		r := cli(t, dir, args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d: %s", args, r.code, r.err)
		}
		if want := "no store at " + path + " yet"; args[0] != "doctor" && !strings.Contains(r.err, want) {
			t.Errorf("%v: stderr %q, want it to say %q", args, r.err, want)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("%v created %s (stat: %v)", args, path, err)
		}
	}
	if r := cli(t, dir, "trace", "abcd1234"); r.code != 2 || !strings.Contains(r.err, "no such mission") {
		t.Errorf("trace on no store: exit %d, %q", r.code, r.err)
	}
	if r := cli(t, dir, "launch", "raven", "--speed", "1000", "--fail-rate", "0"); r.code != 0 {
		t.Fatalf("launch: exit %d: %s", r.code, r.err)
	}
	if r := cli(t, dir, "history"); r.code != 0 || strings.Contains(r.err, "no store") || !strings.Contains(r.out, "raven") {
		t.Errorf("history after a launch: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
}

// status --backend/--queue is about that queue: its type and worker
// tables count that queue's missions, not every backend's and queue's of
// all time; plain status still counts them all.
func TestStatusOfOneQueueCountsItsMissions(t *testing.T) {
	dir := t.TempDir()
	decode[[]ops.Mission](t, cli(t, dir, "launch", "raven", "--speed", "50", "--fail-rate", "0", "-o", "json"))
	decode[[]ops.Mission](t, cli(t, dir, "launch", "recon", "--speed", "50", "--fail-rate", "0", "--queue", "other", "-o", "json"))
	types := func(args ...string) map[string]int {
		n := map[string]int{}
		for _, r := range decode[[]ops.StatusRow](t, cli(t, dir, append(args, "-o", "json")...)) {
			if r.Group == "type" {
				n[r.Key] = r.Total
			}
		}
		return n
	}
	if got := types("status"); got["raven"] != 1 || got["recon"] != 1 {
		t.Errorf("plain status counts %v, want raven 1 and recon 1", got)
	}
	if got := types("status", "--queue", "other"); got["raven"] != 0 || got["recon"] != 1 {
		t.Errorf("status --queue other counts %v, want recon 1 alone", got)
	}
	if got := types("status", "--backend", "redis", "--queue", "other"); len(got) != 0 {
		t.Errorf("status --backend redis --queue other counts %v, want nothing", got)
	}
}

// dlq delete removes dead letters by id or prefix, or all of them with
// --all; nothing without either.
func TestDLQDelete(t *testing.T) {
	dir := t.TempDir()
	if r := cli(t, dir, "launch", "raven", "--count", "3", "--fail-rate", "1", "--max-attempts", "1", "--speed", "50", "--wait"); r.code != 1 {
		t.Fatalf("launch: exit %d: %s", r.code, r.err)
	}
	dead := decode[[]ops.DeadLetter](t, cli(t, dir, "dlq", "list", "-o", "json"))
	if len(dead) != 3 {
		t.Fatalf("%d dead letters, want 3", len(dead))
	}
	for _, bad := range [][]string{{"dlq", "delete"}, {"dlq", "delete", "zzzz9999"}, {"dlq", "delete", "--all", dead[0].ID}} {
		if r := cli(t, dir, bad...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", bad, r.code, r.err)
		}
	}
	r := cli(t, dir, "dlq", "delete", dead[0].ID[:5])
	if r.code != 0 || !strings.Contains(r.err, "deleted 1 dead letter") {
		t.Errorf("dlq delete %s: exit %d, %q", dead[0].ID[:5], r.code, r.err)
	}
	left := decode[[]ops.DeadLetter](t, cli(t, dir, "dlq", "list", "-o", "json"))
	if len(left) != 2 || slices.ContainsFunc(left, func(d ops.DeadLetter) bool { return d.ID == dead[0].ID }) {
		t.Errorf("after deleting %s: %+v", dead[0].ID, left)
	}
	if r := cli(t, dir, "dlq", "delete", "--all"); r.code != 0 || !strings.Contains(r.err, "deleted 2 dead letter") {
		t.Errorf("dlq delete --all: exit %d, %q", r.code, r.err)
	}
	if n := len(decode[[]ops.DeadLetter](t, cli(t, dir, "dlq", "list", "-o", "json"))); n != 0 {
		t.Errorf("%d dead letters after dlq delete --all", n)
	}
}
