package e2e

// Real-browser tests of the dashboard of `palantir serve`: a headless
// Chromium opens the page of a real serve process, launches missions
// through its form, and the tests read what it shows from the page's DOM
// hooks (data-status, data-progress and data-worker on the mission rows,
// g.worker boxes in the architecture SVG, …), then check it against what
// the CLI reads from the store.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/palantir-lab/palantir/internal/testservices"
)

// TestDashboardLaunchesAndFollowsAFellowship launches a fellowship from the
// page's form on inproc and follows it to the end: five rows, progress that
// moves, SUCCESS everywhere, points on the leaderboard, a timeline for a
// finished mission; and the store agrees with what the page showed. With
// PALANTIR_SCREENSHOT=FILE it saves a screenshot of the page with missions
// in flight (scripts/screenshot.sh makes docs/dashboard.png so).
func TestDashboardLaunchesAndFollowsAFellowship(t *testing.T) {
	browser := chromiumPath(t)
	e := inprocEnv(t)
	p := openDashboard(t, browser, e, e.serve())

	p.waitJS("body[data-ready=1]", `document.body.dataset.ready === '1'`, 15*time.Second)
	p.waitJS("the live stream connected", `document.getElementById('connection').dataset.state === 'connected'`, 15*time.Second)
	p.waitJS("worker boxes eagle1 and eagle2", workerBoxesJS(false, "eagle1", "eagle2"), 10*time.Second)
	p.waitJS("the leaderboard drawn", `document.querySelector('#leaderboard tr') !== null`, 10*time.Second)
	if s := p.state(); s.Points != 0 || len(s.Rows) != 0 {
		t.Fatalf("before any launch the page shows %d points and %d missions, want 0 and 0", s.Points, len(s.Rows))
	}

	p.eval(watchRowsJS)
	p.do(10*time.Second,
		chromedp.SetValue(chromedp.CSS("#launch-type"), "fellowship"),
		chromedp.SetValue(chromedp.CSS("#launch-count"), "1"),
		chromedp.SetValue(chromedp.CSS("#launch-fail-rate"), "0"),
		chromedp.SetValue(chromedp.CSS("#launch-speed"), "5"),
		chromedp.Click(chromedp.CSS("#launch-button")))
	p.launched(5)
	p.waitJS("five mission rows", `document.querySelectorAll('#missions tr[data-mission-id]').length >= 5`, 10*time.Second)

	mid := p.waitJS("a progress bar strictly between 0 and 100", `window.__e2e.mid.length ? window.__e2e.mid : null`, 20*time.Second)
	t.Logf("progress seen in flight: %s", mid)
	if path := os.Getenv("PALANTIR_SCREENSHOT"); path != "" {
		p.screenshot(path)
	}

	p.waitJS("five missions SUCCESS", `(() => {
		const rows = [...document.querySelectorAll('#missions tr[data-mission-id]')];
		return rows.length === 5 && rows.every((tr) => tr.dataset.status === 'SUCCESS');
	})()`, 30*time.Second)
	s := p.state()
	if len(s.Rows) != 5 {
		t.Fatalf("the page shows %d mission rows, want 5: %+v", len(s.Rows), s.Rows)
	}
	for _, r := range s.Rows {
		if r.Status != "SUCCESS" || r.Progress != 100 || r.Worker == "" {
			t.Errorf("row %s: status %s, progress %d, worker %q; want SUCCESS, 100, a worker", r.ID, r.Status, r.Progress, r.Worker)
		}
	}
	// A mission_queued event that arrives after its mission_started (the
	// stream is in store order, not time order) must not show the row as
	// QUEUED while its worker runs it.
	if back := string(p.eval(`window.__e2e.back`)); back != "[]" {
		t.Errorf("missions shown waiting in the queue after a worker started them: %s", back)
	}
	p.waitJS("leaderboard points above 0", sumPointsJS+` > 0`, 10*time.Second)

	// A finished mission's row opens its timeline with its events drawn.
	id := s.Rows[0].ID
	p.do(10*time.Second, chromedp.Click(chromedp.CSS(`#missions tr[data-mission-id="`+id+`"]`)))
	p.waitJS("the timeline of "+id+" with drawn events", fmt.Sprintf(`(() => {
		const tl = document.getElementById('timeline');
		return !tl.hidden && tl.dataset.missionId === %q &&
			document.querySelectorAll('#timeline-chart g.mark').length > 0 &&
			document.querySelectorAll('#timeline-events tr.ev').length > 0;
	})()`, id), 10*time.Second)

	// The page showed the store's truth.
	hist := e.missions("history")
	byID := map[string]mission{}
	for _, m := range hist {
		byID[m.ID] = m
	}
	if len(hist) != 5 {
		t.Errorf("history has %d missions, want the 5 the page launched: %+v", len(hist), hist)
	}
	for _, r := range s.Rows {
		m, ok := byID[r.ID]
		switch {
		case !ok:
			t.Errorf("the page showed %s, which history does not know", r.ID)
		case m.Status != "SUCCESS" || m.Worker != r.Worker:
			t.Errorf("%s: history says %s by %s, the page said %s by %s", r.ID, m.Status, m.Worker, r.Status, r.Worker)
		}
	}
}

// TestDashboardLaunchesATypeTheConfigDefines: a type of the config file's
// missions: section is offered by the page's launch form, launched from
// it, and run by the embedded workers, who know it from the order alone.
func TestDashboardLaunchesATypeTheConfigDefines(t *testing.T) {
	browser := chromiumPath(t)
	e := inprocEnv(t)
	cfg := "missions:\n  heist:\n    points: 40\n    stages:\n      - {name: sneak in, duration: 300ms}\n      - {name: grab the stone, duration: 300ms}\n"
	if err := os.WriteFile(filepath.Join(e.dir, "palantir.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := openDashboard(t, browser, e, e.serve())
	p.waitJS("body[data-ready=1]", `document.body.dataset.ready === '1'`, 15*time.Second)
	p.waitJS("heist offered in the launch form", `[...document.querySelectorAll('#launch-type option')].some((o) => o.value === 'heist')`, 10*time.Second)
	p.do(10*time.Second,
		chromedp.SetValue(chromedp.CSS("#launch-type"), "heist"),
		chromedp.SetValue(chromedp.CSS("#launch-count"), "2"),
		chromedp.SetValue(chromedp.CSS("#launch-fail-rate"), "0"),
		chromedp.SetValue(chromedp.CSS("#launch-speed"), "5"),
		chromedp.Click(chromedp.CSS("#launch-button")))
	p.launched(2)
	p.waitJS("two missions SUCCESS", `(() => {
		const rows = [...document.querySelectorAll('#missions tr[data-mission-id]')];
		return rows.length === 2 && rows.every((tr) => tr.dataset.status === 'SUCCESS');
	})()`, 20*time.Second)
	hist := e.missions("history", "--type", "heist")
	if len(hist) != 2 {
		t.Fatalf("history --type heist: %+v, want the 2 the page launched", hist)
	}
	for _, m := range hist {
		if m.Status != "SUCCESS" || m.Score != 60 {
			t.Errorf("%s: %s with %d points, want SUCCESS with 60", m.ID, m.Status, m.Score)
		}
	}
}

// TestDashboardCancelsARunningMission: the timeline of a running mission
// offers Cancel; clicking it ends the mission (FAILURE "cancelled" in the
// page and in the store) and the button goes away.
func TestDashboardCancelsARunningMission(t *testing.T) {
	browser := chromiumPath(t)
	e := inprocEnv(t)
	p := openDashboard(t, browser, e, e.serve())
	p.waitJS("body[data-ready=1]", `document.body.dataset.ready === '1'`, 15*time.Second)
	p.do(10*time.Second,
		chromedp.SetValue(chromedp.CSS("#launch-type"), "recon"),
		chromedp.SetValue(chromedp.CSS("#launch-count"), "1"),
		chromedp.SetValue(chromedp.CSS("#launch-fail-rate"), "0"),
		chromedp.SetValue(chromedp.CSS("#launch-speed"), "0.5"),
		chromedp.Click(chromedp.CSS("#launch-button")))
	p.launched(1)
	p.waitJS("the recon running", `(() => {
		const tr = document.querySelector('#missions tr[data-mission-id]');
		return tr && (tr.dataset.status === 'STARTED' || tr.dataset.status === 'PROCESSING');
	})()`, 15*time.Second)
	id := strings.Trim(string(p.eval(`document.querySelector('#missions tr[data-mission-id]').dataset.missionId`)), `"`)
	p.do(10*time.Second, chromedp.Click(chromedp.CSS(`#missions tr[data-mission-id="`+id+`"]`)))
	p.waitJS("the Cancel button", `!document.getElementById('timeline-cancel').hidden`, 10*time.Second)
	p.do(10*time.Second, chromedp.Click(chromedp.CSS("#timeline-cancel")))
	p.waitJS("the row FAILURE and the button gone", fmt.Sprintf(`(() => {
		const tr = document.querySelector('#missions tr[data-mission-id=%q]');
		return tr && tr.dataset.status === 'FAILURE' && document.getElementById('timeline-cancel').hidden;
	})()`, id), 10*time.Second)
	if ms := e.missions("status", id); len(ms) != 1 || ms[0].Status != "FAILURE" || ms[0].Error != "cancelled" {
		t.Errorf("the store says %+v, want FAILURE cancelled", ms)
	}
}

// TestDashboardShowsAKilledWorkerAndTheRedelivery runs two worker processes
// and serve on Redis, launches from the page, SIGKILLs eagle1 while the page
// shows it running a mission, and checks that the page greys eagle1 out and
// shows eagle2 finishing what eagle1 had, each mission scored once.
func TestDashboardShowsAKilledWorkerAndTheRedelivery(t *testing.T) {
	browser := chromiumPath(t)
	url := reachableRedis(t)
	e := &env{t: t, backend: "redis", dir: t.TempDir(), queue: fmt.Sprintf("e2e-%d-%x", os.Getpid(), rand.Uint32())}
	e.vars = []string{"PALANTIR_BACKEND=redis", "PALANTIR_REDIS_URL=" + url, "PALANTIR_QUEUE=" + e.queue,
		"PALANTIR_STORE=" + filepath.Join(e.dir, "palantir.db"), "PALANTIR_LEASE=1s", "PALANTIR_SHUTDOWN_TIMEOUT=5s", "PALANTIR_TOKEN="}
	t.Cleanup(func() { removeQueue(t, "redis", url, e.queue) })

	eagle1 := e.startWorker("eagle1", "--concurrency", "1", "--prefetch", "2")
	e.startWorker("eagle2", "--concurrency", "1", "--prefetch", "2")
	p := openDashboard(t, browser, e, e.serve())

	p.waitJS("body[data-ready=1]", `document.body.dataset.ready === '1'`, 15*time.Second)
	p.waitJS("the live stream connected", `document.getElementById('connection').dataset.state === 'connected'`, 15*time.Second)
	p.waitJS("live worker boxes eagle1 and eagle2", workerBoxesJS(true, "eagle1", "eagle2"), 20*time.Second)

	p.do(10*time.Second,
		chromedp.SetValue(chromedp.CSS("#launch-type"), "recon"),
		chromedp.SetValue(chromedp.CSS("#launch-count"), "6"),
		chromedp.SetValue(chromedp.CSS("#launch-fail-rate"), "0"),
		chromedp.SetValue(chromedp.CSS("#launch-speed"), "2"),
		chromedp.Click(chromedp.CSS("#launch-button")))
	p.launched(6)

	// The moment the page shows eagle1 running a mission, kill it hard.
	raw := p.waitJS("a mission running on eagle1", `(() => {
		const ids = [...document.querySelectorAll('#missions tr[data-worker="eagle1"]')]
			.filter((tr) => tr.dataset.status === 'STARTED' || tr.dataset.status === 'PROCESSING')
			.map((tr) => tr.dataset.missionId);
		return ids.length ? ids : null;
	})()`, 20*time.Second)
	if err := eagle1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eagle1.Wait()
	var held []string
	if err := json.Unmarshal(raw, &held); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	t.Logf("SIGKILLed eagle1 while the page showed it running %v", held)

	p.waitJS("eagle1 greyed out (class stale)", `(() => {
		const g = document.querySelector('#architecture g.worker[data-worker="eagle1"]');
		return !!g && g.classList.contains('stale');
	})()`, 15*time.Second)
	p.waitJS("six missions SUCCESS", `(() => {
		const rows = [...document.querySelectorAll('#missions tr[data-mission-id]')];
		return rows.length === 6 && rows.every((tr) => tr.dataset.status === 'SUCCESS');
	})()`, 40*time.Second)
	s := p.state()
	shown := map[string]row{}
	for _, r := range s.Rows {
		shown[r.ID] = r
	}
	for _, id := range held {
		if r := shown[id]; r.Worker != "eagle2" {
			t.Errorf("%s, running on eagle1 when it died: the page ends with it %s by %q, want SUCCESS by eagle2", id, r.Status, r.Worker)
		}
	}
	p.waitJS("eagle2 not greyed out", workerBoxesJS(true, "eagle2"), 10*time.Second)

	// The timeline of the mission eagle1 was running shows the redelivery.
	p.do(10*time.Second, chromedp.Click(chromedp.CSS(`#missions tr[data-mission-id="`+held[0]+`"]`)))
	p.waitJS("the redelivery in the timeline of "+held[0], fmt.Sprintf(`(() => {
		const tl = document.getElementById('timeline');
		return !tl.hidden && tl.dataset.missionId === %q && document.querySelector('#timeline-chart g.mark.redeliver') !== null;
	})()`, held[0]), 10*time.Second)

	// The store says the same, and each mission scored once.
	hist := e.missions("history")
	if len(hist) != 6 {
		t.Fatalf("history has %d missions, want 6: %+v", len(hist), hist)
	}
	scores := 0
	for _, m := range hist {
		scores += m.Score
		r, ok := shown[m.ID]
		if m.Status != "SUCCESS" || !ok || r.Worker != m.Worker {
			t.Errorf("%s: history says %s by %s; the page showed %+v", m.ID, m.Status, m.Worker, r)
		}
	}
	var board []struct{ Points, Missions int }
	_, out, _ := e.palantir("leaderboard", "-o", "json")
	if err := json.Unmarshal([]byte(out), &board); err != nil {
		t.Fatalf("leaderboard -o json: %v: %s", err, out)
	}
	points, scored := 0, 0
	for _, h := range board {
		points += h.Points
		scored += h.Missions
	}
	if points != scores || scored != 6 {
		t.Errorf("leaderboard: %d points for %d missions, want %d (the sum of the scores) for 6", points, scored, scores)
	}
	p.waitJS(fmt.Sprintf("the page's leaderboard at %d points", scores), fmt.Sprintf(`%s === %d`, sumPointsJS, scores), 10*time.Second)
	e.waitFor(10*time.Second, "six hero_scored events", func() bool { // telemetry lands in batches
		return len(e.heroScored()) >= 6
	})
	for id, n := range e.heroScored() {
		if n != 1 {
			t.Errorf("%s: hero_scored %d times, want once", id, n)
		}
	}
}

// TestDashboardStaysResponsiveUnderLoad keeps eight embedded workers busy
// with fast ravens for ten seconds while the page is open, and checks what
// cannot flake on a loaded machine: the page keeps up (rows reach SUCCESS,
// the chart is drawn), its mission rows stay bounded, its heap stays small.
// It logs the events per second the server produced, the page's frame
// intervals and its heap, for quoting.
func TestDashboardStaysResponsiveUnderLoad(t *testing.T) {
	browser := chromiumPath(t)
	e := inprocEnv(t)
	base := e.serve("--workers", "8")
	p := openDashboard(t, browser, e, base)
	p.waitJS("body[data-ready=1]", `document.body.dataset.ready === '1'`, 15*time.Second)
	p.waitJS("the live stream connected", `document.getElementById('connection').dataset.state === 'connected'`, 15*time.Second)

	p.eval(recordFramesJS)
	const window, batch, maxBacklog = 10 * time.Second, 150, 900
	events0, outcomes0 := metricSum(t, base, "palantir_events_total"), metricSum(t, base, "palantir_outcomes_total")
	pageEvents0 := p.pageEvents()
	start := time.Now()
	launched := 0
	for tick := start; time.Since(start) < window; tick = tick.Add(500 * time.Millisecond) {
		// Keep the queue fed, but never more than maxBacklog behind.
		if backlog := launched - int(metricSum(t, base, "palantir_outcomes_total")-outcomes0); backlog < maxBacklog {
			postMissions(t, base, fmt.Sprintf(`{"type": "raven", "count": %d, "speed": 100, "fail_rate": 0}`, batch))
			launched += batch
		}
		time.Sleep(time.Until(tick.Add(500 * time.Millisecond)))
	}
	elapsed := time.Since(start)
	events := metricSum(t, base, "palantir_events_total") - events0
	pageEvents := p.pageEvents() - pageEvents0
	var frames struct {
		Deltas  []float64 `json:"deltas"`
		MaxRows int       `json:"maxRows"`
	}
	if err := json.Unmarshal(p.eval(`(() => { window.__frames.on = false; return window.__frames; })()`), &frames); err != nil {
		t.Fatal(err)
	}

	// Let the queue drain, then the page must show the end.
	deadline := time.Now().Add(30 * time.Second)
	for metricSum(t, base, "palantir_outcomes_total")-outcomes0 < float64(launched) {
		if time.Now().After(deadline) {
			t.Fatalf("%d missions launched, %v finished 30s after the load", launched, metricSum(t, base, "palantir_outcomes_total")-outcomes0)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.waitJS("every mission row SUCCESS", `(() => {
		const rows = [...document.querySelectorAll('#missions tr[data-mission-id]')];
		return rows.length > 0 && rows.every((tr) => tr.dataset.status === 'SUCCESS');
	})()`, 20*time.Second)
	p.waitJS("the chart drawn", `document.querySelectorAll('#chart g.series').length === 3 &&
		document.querySelector('#chart g.series[data-series="tput"] polyline').getAttribute('points') !== ''`, 10*time.Second)
	rows := len(p.state().Rows)
	heap, heapAPI := p.heap()
	lagged := string(p.eval(`document.getElementById('connection').dataset.lagged || 'never'`))

	slices.Sort(frames.Deltas)
	t.Logf("load: %d ravens launched, %.0f events in %.1fs: %.0f events/s produced (the page applied %.0f/s; stream lagged: %s)",
		launched, events, elapsed.Seconds(), events/elapsed.Seconds(), pageEvents/elapsed.Seconds(), lagged)
	t.Logf("frame intervals over %d frames: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms",
		len(frames.Deltas), quantile(frames.Deltas, 0.50), quantile(frames.Deltas, 0.95), quantile(frames.Deltas, 0.99), quantile(frames.Deltas, 1))
	t.Logf("JS heap after the run: %.1f MB (Runtime.getHeapUsage), performance.memory.usedJSHeapSize %s; mission rows: at most %d during the run, %d after",
		heap/1e6, heapAPI, frames.MaxRows, rows)

	if events/elapsed.Seconds() < 500 {
		t.Logf("NOTE: only %.0f events/s: this machine could not produce the intended load", events/elapsed.Seconds())
	}
	if pageEvents <= 0 {
		t.Errorf("the page applied no event during the load (body[data-events] did not grow)")
	}
	if len(frames.Deltas) == 0 {
		t.Errorf("no animation frame ran during the load")
	}
	if frames.MaxRows > 300 || rows > 300 {
		t.Errorf("mission rows in the DOM: %d at most during the load, %d after; want at most 300", frames.MaxRows, rows)
	}
	if heap >= 100e6 {
		t.Errorf("JS heap after the load: %.1f MB, want under 100 MB", heap/1e6)
	}
}

// ---- the browser ----------------------------------------------------------

// chromiumPath finds Debian's Chromium; without it the test skips loudly,
// or fails when PALANTIR_REQUIRE_SERVICES=1.
func chromiumPath(t *testing.T) string {
	t.Helper()
	const debian = "/usr/bin/chromium"
	if _, err := os.Stat(debian); err == nil {
		return debian
	}
	path, err := exec.LookPath("chromium")
	if err == nil {
		return path
	}
	if testservices.Required() {
		t.Fatalf("Chromium is required (PALANTIR_REQUIRE_SERVICES=1) but neither %s nor chromium on PATH exists: apt-get install chromium", debian)
	}
	t.Skipf("SKIPPING the dashboard tests: no Chromium at %s or on PATH (%v); install it with: apt-get install chromium", debian, err)
	return ""
}

// page is one headless Chromium tab on the dashboard.
type page struct {
	t   *testing.T
	e   *env
	ctx context.Context

	mu         sync.Mutex
	exceptions []string
}

// openDashboard starts a headless Chromium (1280×800, a fresh profile) on
// base's page; the browser ends with t, and an exception the page threw
// fails t.
func openDashboard(t *testing.T, browser string, e *env, base string) *page {
	t.Helper()
	return openPage(t, browser, e, base+"/", 1280, 800)
}

// openPage opens url in a headless Chromium whose window is width by
// height; e may be nil.
func openPage(t *testing.T, browser string, e *env, url string, width, height int) *page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	p := &page{t: t, e: e, ctx: ctx}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, x := range p.exceptions {
			t.Errorf("the page threw: %s", x)
		}
	})
	// Listen starts the browser, on a context without a timeout.
	if err := chromedp.Listen(ctx, func(ev any) {
		if x, ok := ev.(*runtime.EventExceptionThrown); ok && x.ExceptionDetails != nil {
			d := x.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			p.mu.Lock()
			p.exceptions = append(p.exceptions, fmt.Sprintf("%s (%s:%d:%d)", msg, d.URL, d.LineNumber+1, d.ColumnNumber+1))
			p.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start Chromium (%s): %v", browser, err)
	}
	p.do(20*time.Second, chromedp.EmulateViewport(int64(width), int64(height)), chromedp.Navigate(url))
	return p
}

// do runs actions, failing t after timeout.
func (p *page) do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v\n%s", err, p.diagnostics())
	}
}

// eval evaluates a JavaScript expression and returns its value as JSON.
func (p *page) eval(expr string) []byte {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits, at most timeout, for expr to be truthy in the page (it is
// evaluated every animation frame) and returns its value as JSON.
func (p *page) waitJS(what, expr string, timeout time.Duration) []byte {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout+5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Poll[[]byte](expr, chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		p.t.Fatalf("waiting %v for the page to show %s: %v\n%s", timeout, what, err, p.diagnostics())
	}
	return v
}

// launched waits for the launch form's answer, which must be n missions.
func (p *page) launched(n int) {
	p.t.Helper()
	v := p.waitJS("the launch's answer", `document.getElementById('launch-result').dataset.launched ||
		document.getElementById('launch-error').textContent`, 10*time.Second)
	if string(v) != strconv.Quote(strconv.Itoa(n)) {
		p.t.Fatalf("the launch form answered %s, want %d missions launched (launch-error: %s)", v, n, p.state().LaunchError)
	}
}

// pageState is what the page shows, read from its DOM hooks.
type pageState struct {
	Ready      bool   `json:"ready"`
	Connection string `json:"connection"`
	Rows       []row  `json:"rows"`
	Points     int    `json:"points"`
	Workers    []struct {
		Name  string `json:"name"`
		Stale bool   `json:"stale"`
	} `json:"workers"`
	LaunchError string `json:"launchError"`
	Timeline    string `json:"timeline"`
}

type row struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Progress int    `json:"progress"`
	Worker   string `json:"worker"`
}

const sumPointsJS = `[...document.querySelectorAll('#leaderboard tr[data-hero]')].reduce((s, tr) => s + (Number(tr.dataset.points) || 0), 0)`

var stateJS = `(() => ({
	ready: document.body.dataset.ready === '1',
	connection: document.getElementById('connection').dataset.state || '',
	rows: [...document.querySelectorAll('#missions tr[data-mission-id]')].map((tr) => ({
		id: tr.dataset.missionId, status: tr.dataset.status || '', progress: Number(tr.dataset.progress) || 0, worker: tr.dataset.worker || ''})),
	points: ` + sumPointsJS + `,
	workers: [...document.querySelectorAll('#architecture g.worker[data-worker]')].map((g) => ({name: g.dataset.worker, stale: g.classList.contains('stale')})),
	launchError: document.getElementById('launch-error').textContent,
	timeline: document.getElementById('timeline').hidden ? '' : (document.getElementById('timeline').dataset.missionId || ''),
}))()`

func (p *page) state() pageState {
	p.t.Helper()
	var s pageState
	if err := json.Unmarshal(p.eval(stateJS), &s); err != nil {
		p.t.Fatal(err)
	}
	return s
}

// pageEvents is the number of telemetry events the page has applied.
func (p *page) pageEvents() float64 {
	n, _ := strconv.ParseFloat(strings.Trim(string(p.eval(`document.body.dataset.events || '0'`)), `"`), 64)
	return n
}

// heap is the page's JS heap in bytes (Runtime.getHeapUsage), and
// performance.memory.usedJSHeapSize as the page sees it ("absent" if not).
func (p *page) heap() (float64, string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (runtime.GetHeapUsageResult, error) {
		return cdp.Call(ctx, tg, runtime.GetHeapUsage, cdp.Empty{})
	})
	if err != nil {
		p.t.Fatalf("Runtime.getHeapUsage: %v", err)
	}
	api := string(p.eval(`performance.memory ? performance.memory.usedJSHeapSize : 'absent'`))
	if n, err := strconv.ParseFloat(api, 64); err == nil {
		api = fmt.Sprintf("%.1f MB", n/1e6)
	}
	return u.UsedSize, api
}

// screenshot saves the 1280×800 viewport as a PNG at path.
func (p *page) screenshot(path string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	if cfg.Width != 1280 || cfg.Height != 800 {
		p.t.Errorf("screenshot is %d×%d, want 1280×800", cfg.Width, cfg.Height)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot saved to %s", path)
}

// diagnostics is what a failed wait prints: the page as the hooks show it
// and the logs of the processes.
func (p *page) diagnostics() string {
	var b strings.Builder
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](stateJS)); err == nil {
		fmt.Fprintf(&b, "page: %s\n", v)
	}
	logs, _ := filepath.Glob(filepath.Join(p.e.dir, "*.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s:\n%s\n", filepath.Base(l), data)
	}
	return b.String()
}

// workerBoxesJS is true when the architecture has a box for each name (and,
// with live, none of them greyed out).
func workerBoxesJS(live bool, names ...string) string {
	list, _ := json.Marshal(names)
	return fmt.Sprintf(`%s.every((n) => {
		const g = document.querySelector('#architecture g.worker[data-worker="' + n + '"]');
		return !!g && !(%t && g.classList.contains('stale'));
	})`, list, live)
}

// watchRowsJS records in window.__e2e.mid every mission row whose
// data-progress is ever strictly between 0 and 100, however briefly, and in
// window.__e2e.back every row shown waiting (QUEUED, PENDING) after it ran
// (it was STARTED or PROCESSING, or it has a worker).
const watchRowsJS = `(() => {
	const seen = window.__e2e = {mid: [], back: []};
	const last = new Map();
	const look = (tr) => {
		const id = tr.dataset.missionId, st = tr.dataset.status, v = Number(tr.dataset.progress);
		if (v > 0 && v < 100 && seen.mid.length < 50) seen.mid.push({id, progress: v, status: st});
		const prev = last.get(id);
		const waiting = st === 'QUEUED' || st === 'PENDING';
		if (waiting && (prev === 'STARTED' || prev === 'PROCESSING' || tr.dataset.worker) && prev !== st && seen.back.length < 50)
			seen.back.push({id, from: prev, to: st, worker: tr.dataset.worker});
		last.set(id, st);
	};
	const tbody = document.getElementById('missions');
	tbody.querySelectorAll('tr[data-mission-id]').forEach(look);
	new MutationObserver((records) => {
		for (const r of records) {
			if (r.type === 'attributes' && r.target.dataset && r.target.dataset.missionId) look(r.target);
			for (const n of r.addedNodes) if (n.dataset && n.dataset.missionId) look(n);
		}
	}).observe(tbody, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-progress', 'data-status']});
	return true;
})()`

// recordFramesJS records the interval between animation frames, and the
// most mission rows the table ever held, until window.__frames.on is false.
const recordFramesJS = `(() => {
	const r = window.__frames = {deltas: [], maxRows: 0, on: true};
	const tbody = document.getElementById('missions');
	let last = 0;
	const frame = (now) => {
		if (last) r.deltas.push(now - last);
		last = now;
		if (tbody.childElementCount > r.maxRows) r.maxRows = tbody.childElementCount;
		if (r.on) requestAnimationFrame(frame);
	};
	requestAnimationFrame(frame);
	return true;
})()`

// quantile of sorted values (q = 1: the largest).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// ---- palantir processes ----------------------------------------------------

// inprocEnv is a directory for an inproc serve with the default SQLite
// store; the variables pin what a developer's environment might change.
func inprocEnv(t *testing.T) *env {
	return &env{t: t, backend: "inproc", dir: t.TempDir(),
		vars: []string{"PALANTIR_BACKEND=inproc", "PALANTIR_STORE=palantir.db", "PALANTIR_TOKEN=", "PALANTIR_SHUTDOWN_TIMEOUT=5s"}}
}

// serve starts `palantir serve` in e's directory on a free loopback port
// and waits for /healthz; when the test ends it sends SIGTERM and checks
// that serve exits 0. It returns the base URL.
func (e *env) serve(args ...string) string {
	t := e.t
	t.Helper()
	for try := 1; ; try++ {
		addr := freeLoopbackAddr(t)
		logPath := filepath.Join(e.dir, fmt.Sprintf("serve-%d.log", try))
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		c := e.cmd(append([]string{"serve", "--addr", addr}, args...)...)
		c.Stdout, c.Stderr = logf, logf
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { c.Wait(); logf.Close(); close(exited) }()
		base := "http://" + addr
		err = waitHealthy(base, exited, 20*time.Second)
		if err != nil {
			select {
			case <-exited:
			default:
				c.Process.Kill()
				<-exited
			}
			log, _ := os.ReadFile(logPath)
			if try < 3 && c.ProcessState.ExitCode() == 2 && strings.Contains(string(log), "in use") {
				continue // another process took the port in between
			}
			t.Fatalf("palantir serve --addr %s: %v\n%s", addr, err, log)
		}
		t.Cleanup(func() {
			c.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				c.Process.Kill()
				<-exited
				t.Errorf("serve still running 30s after SIGTERM")
			}
			if code := c.ProcessState.ExitCode(); code != 0 {
				log, _ := os.ReadFile(logPath)
				t.Errorf("serve exited %d after SIGTERM, want 0:\n%s", code, log)
			}
		})
		return base
	}
}

// freeLoopbackAddr is a 127.0.0.1 address with a port that was free a
// moment ago.
func freeLoopbackAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitHealthy waits for GET /healthz to answer 200, unless the process
// exits first.
func waitHealthy(base string, exited <-chan struct{}, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := fmt.Errorf("no answer")
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited before /healthz answered")
		default:
		}
		if res, err := client.Get(base + "/healthz"); err != nil {
			last = err
		} else {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("/healthz: %s %s", res.Status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no 200 from /healthz within %v: %v", timeout, last)
}

// postMissions launches through the API.
func postMissions(t *testing.T, base, body string) {
	t.Helper()
	res, err := http.Post(base+"/api/missions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("POST /api/missions %s: %s %s", body, res.Status, b)
	}
	io.Copy(io.Discard, res.Body)
}

// metricSum adds up a metric's samples over all their labels at /metrics.
func metricSum(t *testing.T, base, name string) float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("/metrics: %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// heroScored counts the hero_scored events of each mission in the store.
func (e *env) heroScored() map[string]int {
	code, out, errs := e.palantir("events", "--limit", "0", "-o", "json")
	if code != 0 {
		e.t.Fatalf("palantir events: exit %d: %s", code, errs)
	}
	var evs []struct {
		Event     string `json:"event"`
		MissionID string `json:"mission_id"`
	}
	if err := json.Unmarshal([]byte(out), &evs); err != nil {
		e.t.Fatalf("palantir events -o json: %v", err)
	}
	n := map[string]int{}
	for _, ev := range evs {
		if ev.Event == "hero_scored" {
			n[ev.MissionID]++
		}
	}
	return n
}

// The event stream comes in store order, not time order: a launch's
// mission_queued can be stored after the worker's mission_started. The
// page must not send a running mission back to the queue for it.
func TestDashboardKeepsTimeOrderWhenEventsArriveOutOfIt(t *testing.T) {
	browser := chromiumPath(t)
	e := inprocEnv(t)
	p := openDashboard(t, browser, e, e.serve())
	p.waitJS("body[data-ready=1]", `document.body.dataset.ready === '1'`, 15*time.Second)
	p.eval(`(() => {
		const t0 = Date.now() - 1000, at = (ms) => new Date(t0 + ms).toISOString();
		const ev = (ms, event, service, detail) => window.palantirDashboard.enqueue(
			{id: 0, at: at(ms), event, mission_id: 'latequeued01', attempt: 1, service, since_prev_ms: 0, detail});
		ev(0, 'mission_invoked', 'api', 'recon for frodo');
		ev(2, 'mission_started', 'worker:eagle1', '');
		ev(5, 'mission_progress', 'worker:eagle1', '25% cross the Dead Marshes');
		ev(1, 'mission_queued', 'broker:inproc', 'queue missions');
		// Stamped in the same millisecond (a launch and an embedded worker
		// in one process): the queued event came first.
		const ev2 = (ms, id, event, service, detail) => window.palantirDashboard.enqueue(
			{id: 0, at: at(ms), event, mission_id: id, attempt: 1, service, since_prev_ms: 0, detail});
		ev2(0, 'latequeued02', 'mission_invoked', 'api', 'recon for frodo');
		ev2(2, 'latequeued02', 'mission_started', 'worker:eagle2', '');
		ev2(2, 'latequeued02', 'mission_queued', 'broker:inproc', 'queue missions');
		// A worker stopping gives its running mission back: that is news.
		ev2(0, 'givenback03', 'mission_invoked', 'api', 'recon for frodo');
		ev2(1, 'givenback03', 'mission_queued', 'broker:inproc', 'queue missions');
		ev2(2, 'givenback03', 'mission_started', 'worker:eagle1', '');
		ev2(4, 'givenback03', 'mission_queued', 'broker:inproc', 'returned unfinished by eagle1 at shutdown');
		return true;
	})()`)
	for _, want := range []struct{ id, status, progress, worker string }{
		{"latequeued01", "PROCESSING", "25", "eagle1"},
		{"latequeued02", "STARTED", "0", "eagle2"},
		{"givenback03", "QUEUED", "0", "eagle1"},
	} {
		row := p.waitJS("the synthetic mission's row", fmt.Sprintf(`(() => {
			const tr = document.querySelector('#missions tr[data-mission-id=%q]');
			return tr ? {status: tr.dataset.status, progress: tr.dataset.progress, worker: tr.dataset.worker} : null;
		})()`, want.id), 5*time.Second)
		var got struct{ Status, Progress, Worker string }
		if err := json.Unmarshal(row, &got); err != nil {
			t.Fatal(err)
		}
		if got.Status != want.status || got.Progress != want.progress || got.Worker != want.worker {
			t.Errorf("%s, after a queued event that came late: row %+v, want %s %s%% on %s", want.id, got, want.status, want.progress, want.worker)
		}
	}
}

// A row the stream left unfinished (an event that arrived after the
// mission's end, or after its row was evicted) is corrected from the API
// even when the mission is older than the newest hundred the page polls.
func TestDashboardCorrectsRowsOlderThanItsPoll(t *testing.T) {
	browser := chromiumPath(t)
	e := inprocEnv(t)
	base := e.serve()
	postMissions(t, base, `{"type": "raven", "count": 120, "speed": 100, "fail_rate": 0}`)
	var oldest string
	for deadline := time.Now().Add(30 * time.Second); oldest == ""; time.Sleep(100 * time.Millisecond) {
		ms := e.missions("history", "--limit", "0")
		done := 0
		for _, m := range ms {
			if m.Status == "SUCCESS" {
				done++
			}
		}
		if done == 120 {
			oldest = ms[len(ms)-1].ID
		} else if time.Now().After(deadline) {
			t.Fatalf("%d of 120 missions done after 30 s", done)
		}
	}
	p := openDashboard(t, browser, e, base)
	p.waitJS("body[data-ready=1]", `document.body.dataset.ready === '1'`, 15*time.Second)
	p.eval(fmt.Sprintf(`window.palantirDashboard.enqueue({id: 0, at: new Date().toISOString(), event: 'mission_invoked',
		mission_id: %q, attempt: 1, service: 'api', since_prev_ms: 0, detail: 'raven for aragorn'}) || true`, oldest))
	p.waitJS("the late row corrected to SUCCESS", fmt.Sprintf(`(() => {
		const tr = document.querySelector('#missions tr[data-mission-id=%q]');
		return tr && tr.dataset.status === 'SUCCESS';
	})()`, oldest), 10*time.Second)
}
