package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/inproc"
	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/metrics"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/server"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
	"github.com/palantir-lab/palantir/worker"
	"go.yaml.in/yaml/v3"
)

// rig is a server over a fresh SQLite store and an inproc queue, with
// workers running when asked: what `palantir serve` builds.
type rig struct {
	t     *testing.T
	st    *store.Store
	q     backends.Queue
	tel   *telemetry.Recorder
	srv   *server.Server
	http  *httptest.Server
	token string
}

type rigOption func(*server.Config)

func withToken(tok string) rigOption { return func(c *server.Config) { c.Token = tok } }

func newRig(t *testing.T, workers int, opts ...rigOption) *rig {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := inproc.Backend().Open(ctx, backends.Config{Queue: "missions", Lease: 5 * time.Second, DeadLetters: st})
	if err != nil {
		t.Fatal(err)
	}
	tel := telemetry.NewRecorder(st, nil)
	cfg := server.Config{Store: st, Queue: q, Telemetry: tel, Metrics: metrics.New(), Backend: "inproc",
		QueueName: "missions", Version: "test", PollEvery: 20 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	r := &rig{t: t, st: st, q: q, tel: tel, srv: server.New(cfg), token: cfg.Token}
	runCtx, stop := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() { _ = r.srv.Run(runCtx); close(polled) }()
	wctx, stopWorkers := context.WithCancel(ctx)
	done := make(chan struct{}, workers)
	for i := 1; i <= workers; i++ {
		w := worker.New(worker.Config{Name: fmt.Sprintf("eagle%d", i), Concurrency: 2, Lease: 5 * time.Second,
			ShutdownTimeout: time.Second, HeartbeatEvery: 100 * time.Millisecond, Backend: "inproc", Queue: "missions"}, q, st, tel)
		go func() { _ = w.Run(wctx); done <- struct{}{} }()
	}
	r.http = httptest.NewServer(r.srv)
	t.Cleanup(func() {
		stop()
		r.http.Close()
		<-polled
		stopWorkers()
		for range workers {
			<-done
		}
		tel.Close()
		q.Close()
		st.Close()
	})
	return r
}

// do sends a request (a JSON body when body is not empty) with the rig's
// token, and returns the status and body.
func (r *rig) do(method, path, body string) (int, string) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.http.URL+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, s, err)
	}
	return v
}

// eventually polls cond every 20ms for up to 15s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestLaunchFollowAndRead(t *testing.T) {
	r := newRig(t, 2)
	code, body := r.do("POST", "/api/missions", `{"type": "fellowship", "speed": 50, "fail_rate": 0, "seed": 7}`)
	if code != http.StatusCreated {
		t.Fatalf("POST /api/missions: %d %s", code, body)
	}
	launched := decode[[]ops.Mission](t, body)
	if len(launched) != 5 {
		t.Fatalf("a fellowship launched %d missions, want 5", len(launched))
	}
	for _, m := range launched {
		// Published, so at least QUEUED (a quick worker may have started it).
		if m.Status == "PENDING" || m.Backend != "inproc" || m.CreatedAt == nil || m.QueuedAt == nil {
			t.Errorf("launched mission %+v: want queued on inproc", m)
		}
	}
	id := launched[0].ID
	eventually(t, "five SUCCESS in history", func() bool {
		_, body := r.do("GET", "/api/missions?status=SUCCESS", "")
		return len(decode[[]ops.Mission](t, body)) == 5
	})
	code, body = r.do("GET", "/api/missions/"+id[:5], "")
	if m := decode[ops.Mission](t, body); code != 200 || m.ID != id || m.Status != "SUCCESS" || m.Score == 0 {
		t.Errorf("GET /api/missions/%s: %d %+v, want that mission, SUCCESS, scored", id[:5], code, m)
	}
	_, body = r.do("GET", "/api/missions/"+id+"/events", "")
	evs := decode[[]ops.Event](t, body)
	var names []string
	for i, e := range evs {
		names = append(names, e.Event)
		if i > 0 && e.At.Before(evs[i-1].At) {
			t.Errorf("events not oldest first: %v after %v", e.At, evs[i-1].At)
		}
	}
	if len(evs) == 0 || evs[0].Event != "mission_invoked" || evs[0].Service != "api" || evs[len(evs)-1].Event != "hero_scored" {
		t.Errorf("events %v: want mission_invoked by api first, hero_scored last", names)
	}
	_, body = r.do("GET", "/api/leaderboard", "")
	board := decode[[]ops.Hero](t, body)
	points := 0
	for _, h := range board {
		points += h.Points
	}
	if len(board) != 10 || points == 0 {
		t.Errorf("leaderboard: %d heroes, %d points; want 10 heroes and the fellowship's points", len(board), points)
	}
	_, body = r.do("GET", "/api/status", "")
	groups := map[string]int{}
	for _, row := range decode[[]ops.StatusRow](t, body) {
		groups[row.Group]++
	}
	if groups["type"] != 3 || groups["queue"] != 1 || groups["live_worker"] != 2 {
		t.Errorf("status groups %v: want 3 types, 1 queue, 2 live workers", groups)
	}
	_, body = r.do("GET", "/api/missions?type=raven&limit=1", "")
	if ms := decode[[]ops.Mission](t, body); len(ms) != 1 || ms[0].Type != "raven" {
		t.Errorf("history ?type=raven&limit=1: %+v", ms)
	}
}

func TestBadInputIsAClearError(t *testing.T) {
	r := newRig(t, 0)
	tests := []struct {
		name, method, path, body, ctype string
		code                            int
		mentions                        string
	}{
		{"malformed body", "POST", "/api/missions", `{"type": `, "application/json", 400, "malformed JSON"},
		{"unknown type", "POST", "/api/missions", `{"type": "dragon"}`, "application/json", 400, "type"},
		{"no type", "POST", "/api/missions", `{"count": 2}`, "application/json", 400, "type is required"},
		{"unknown field", "POST", "/api/missions", `{"type": "raven", "colour": "red"}`, "application/json", 400, `"colour"`},
		{"a string for a number", "POST", "/api/missions", `{"type": "raven", "fail_rate": "0"}`, "application/json", 400, "fail_rate: want a number, got string"},
		{"a fraction for a whole number", "POST", "/api/missions", `{"type": "raven", "max_attempts": 2.5}`, "application/json", 400, "max_attempts: want a whole number, got number 2.5"},
		{"wrong field type", "POST", "/api/missions", `{"type": "raven", "count": "3"}`, "application/json", 400, "count"},
		{"count too big", "POST", "/api/missions", `{"type": "fellowship", "count": 300}`, "application/json", 400, "count"},
		{"fail rate above 1", "POST", "/api/missions", `{"type": "raven", "fail_rate": 2}`, "application/json", 400, "fail_rate"},
		{"unknown hero", "POST", "/api/missions", `{"type": "raven", "hero": "sauron"}`, "application/json", 400, "hero"},
		{"two documents", "POST", "/api/missions", `{"type": "raven"} {}`, "application/json", 400, "one JSON object"},
		{"form post", "POST", "/api/missions", `type=raven`, "application/x-www-form-urlencoded", 415, "application/json"},
		{"no content type", "POST", "/api/dlq/replay", `{}`, "", 415, "application/json"},
		{"body too big", "POST", "/api/missions", `{"type": "raven", "hero": "` + strings.Repeat("x", server.MaxBody) + `"}`, "application/json", 413, "bytes"},
		{"unknown mission", "GET", "/api/missions/zzzzzzzzzzzz", "", "", 404, "no such mission"},
		{"unknown route", "GET", "/api/nothing", "", "", 404, "no route"},
		{"bad status filter", "GET", "/api/missions?status=DONE", "", "", 400, "status"},
		{"bad limit", "GET", "/api/missions?limit=-3", "", "", 400, "limit"},
		{"unknown parameter", "GET", "/api/missions?colour=red", "", "", 400, "colour"},
		{"bad since", "GET", "/api/missions?since=yesterday", "", "", 400, "since"},
		{"no such dead letter", "POST", "/api/dlq/replay", `{"ids": ["abcd1234"]}`, "application/json", 400, "no dead letter"},
		{"a huge id", "GET", "/api/missions/" + strings.Repeat("a", 50001), "", "", 404, "no such mission"},
		{"a NUL in an id", "GET", "/api/missions/%00abcd/events", "", "", 404, "no such mission"},
		{"a stream of a NUL id", "GET", "/api/events/stream?mission=%00abcd", "", "", 400, "mission"},
		{"bytes that are not UTF-8", "GET", "/api/missions?worker=%ff", "", "", 400, "worker"},
		{"a body padded past the limit", "POST", "/api/missions", `{"type": "raven"}` + strings.Repeat(" ", server.MaxBody), "application/json", 413, "bytes"},
		{"an array body", "POST", "/api/missions", `[1]`, "application/json", 400, "JSON object"},
		{"a wrong method", "DELETE", "/api/missions", "", "application/json", 405, "GET, POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, r.http.URL+tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			e := decode[struct{ Error string }](t, string(b))
			if resp.StatusCode != tt.code || !strings.Contains(e.Error, tt.mentions) || strings.Contains(e.Error, "\n") {
				t.Errorf("got %d %q, want %d and one line mentioning %q", resp.StatusCode, e.Error, tt.code, tt.mentions)
			}
		})
	}
	if _, body := r.do("GET", "/api/missions", ""); body != "[]\n" {
		t.Errorf("after refused launches the history holds %s, want []", body)
	}
}

func TestTokenGuardsTheAPIAndMetrics(t *testing.T) {
	r := newRig(t, 0, withToken("s3cret"))
	for _, tt := range []struct {
		path, auth string
		code       int
	}{
		{"/api/info", "", 401},
		{"/api/info", "Bearer wrong", 401},
		{"/api/info", "Bearer s3cret", 200},
		{"/api/events/stream?mission=x", "", 401},
		{"/metrics", "", 401},
		{"/metrics", "Bearer s3cret", 200},
		{"/openapi.yaml", "", 401},
		{"/", "", 200},
		{"/app.js", "", 200},
		{"/healthz", "", 200},
	} {
		req, _ := http.NewRequest("GET", r.http.URL+tt.path, nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("GET %s with %q: %d, want %d", tt.path, tt.auth, resp.StatusCode, tt.code)
		}
		if strings.Contains(string(b), "s3cret") {
			t.Errorf("GET %s answered with the token in its body", tt.path)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	for _, tt := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:8080", "", true},
		{"localhost:8080", "", true},
		{"[::1]:8080", "", true},
		{"0.0.0.0:8080", "", false},
		{":8080", "", false},
		{"192.168.1.5:8080", "", false},
		{"0.0.0.0:8080", "t", true},
		{"8080", "", false},
	} {
		err := server.CheckAddr("--addr", tt.addr, tt.token)
		if (err == nil) != tt.ok {
			t.Errorf("CheckAddr(%q, token %q) = %v, want ok %v", tt.addr, tt.token, err, tt.ok)
		}
	}
}

func TestDeadLettersAndReplay(t *testing.T) {
	r := newRig(t, 1)
	code, body := r.do("POST", "/api/missions", `{"type": "raven", "count": 2, "fail_rate": 1, "max_attempts": 1, "speed": 50}`)
	if code != 201 {
		t.Fatalf("launch: %d %s", code, body)
	}
	var dead []ops.DeadLetter
	eventually(t, "two dead letters", func() bool {
		_, body := r.do("GET", "/api/dlq", "")
		dead = decode[[]ops.DeadLetter](t, body)
		return len(dead) == 2
	})
	if dead[0].Type != "raven" || !strings.Contains(dead[0].Reason, "failed after 1 attempt") {
		t.Errorf("dead letter %+v: want a raven that failed after 1 attempt", dead[0])
	}
	code, body = r.do("POST", "/api/dlq/replay", `{"ids": ["`+dead[0].ID[:6]+`"]}`)
	got := decode[struct{ Replayed []string }](t, body)
	if code != 200 || len(got.Replayed) != 1 || got.Replayed[0] != dead[0].ID {
		t.Fatalf("replay %s: %d %s, want that one id", dead[0].ID[:6], code, body)
	}
	eventually(t, "the replay in the mission's events", func() bool {
		_, body = r.do("GET", "/api/missions/"+dead[0].ID+"/events", "")
		replays := 0
		for _, e := range decode[[]ops.Event](t, body) {
			if e.Event == "mission_queued" && e.Detail == "replayed from the dead letters" {
				replays++
			}
		}
		return replays == 1
	})
	// The fail rate travels with the order: replayed with fail_rate 0,
	// the other succeeds; a bad rate is refused.
	if code, body := r.do("POST", "/api/dlq/replay", `{"ids": ["`+dead[1].ID+`"], "fail_rate": 2}`); code != 400 || !strings.Contains(body, "fail_rate must be between 0 and 1") {
		t.Errorf("replay at fail_rate 2: %d %s, want 400 saying fail_rate is between 0 and 1", code, body)
	}
	if code, body := r.do("POST", "/api/dlq/replay", `{"ids": ["`+dead[1].ID+`"], "speed": 0}`); code != 400 || !strings.Contains(body, "speed must be between") {
		t.Errorf("replay at speed 0: %d %s, want 400 naming speed", code, body)
	}
	if code, body := r.do("POST", "/api/dlq/replay", `{"ids": ["`+dead[1].ID+`"], "fail_rate": 0, "max_attempts": 5, "speed": 50}`); code != 200 {
		t.Fatalf("replay at fail_rate 0: %d %s", code, body)
	}
	eventually(t, dead[1].ID+" SUCCESS after its replay at fail rate 0", func() bool {
		_, body := r.do("GET", "/api/missions/"+dead[1].ID, "")
		return decode[ops.Mission](t, body).Status == "SUCCESS"
	})
	if _, body := r.do("GET", "/api/missions/"+dead[1].ID, ""); decode[ops.Mission](t, body).MaxAttempts != 5 {
		t.Errorf("replayed with max_attempts 5, the mission says %s", body)
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	r := newRig(t, 1)
	if code, body := r.do("GET", "/healthz", ""); code != 200 || !strings.Contains(body, `"store":"ok"`) {
		t.Errorf("healthz: %d %s", code, body)
	}
	r.do("POST", "/api/missions", `{"type": "raven", "count": 3, "fail_rate": 0, "speed": 50}`)
	eventually(t, "three successes counted by /metrics", func() bool {
		_, body := r.do("GET", "/metrics", "")
		// The attempts' starts reach the store in a batch after their outcomes.
		return strings.Contains(body, `palantir_outcomes_total{outcome="success"} 3`) &&
			strings.Contains(body, `palantir_execution_seconds_count{outcome="completed"} 3`)
	})
	_, body := r.do("GET", "/metrics", "")
	for _, want := range []string{`palantir_missions{status="SUCCESS",type="raven"} 3`, `palantir_queue_messages{backend="inproc",queue="missions",state="ready"} 0`,
		`palantir_workers_live{backend="inproc",queue="missions"}`, "palantir_queue_wait_seconds_count", "palantir_execution_seconds_count"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	r.st.Close()
	if code, body := r.do("GET", "/healthz", ""); code != 503 || strings.Contains(body, `"store":"ok"`) {
		t.Errorf("healthz with the store closed: %d %s, want 503 naming the store", code, body)
	}
}

// sse reads an event stream, sending each data frame's event on a channel.
func sse(t *testing.T, url string) (<-chan ops.Event, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, ct)
	}
	out := make(chan ops.Event, 10000)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var e ops.Event
				if json.Unmarshal([]byte(data), &e) == nil {
					out <- e
				}
			}
		}
		close(out)
	}()
	return out, cancel
}

func TestEventStreamDeliversNewEventsAndASlowClientBlocksNoOne(t *testing.T) {
	r := newRig(t, 2)
	// A client that connects and never reads.
	stalled, err := http.Get(r.http.URL + "/api/events/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Body.Close()
	all, stopAll := sse(t, r.http.URL+"/api/events/stream")
	defer stopAll()
	_, body := r.do("POST", "/api/missions", `{"type": "fellowship", "count": 20, "speed": 100, "fail_rate": 0}`)
	ms := decode[[]ops.Mission](t, body)
	one, stopOne := sse(t, r.http.URL+"/api/events/stream?mission="+ms[0].ID)
	defer stopOne()
	scored := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for len(scored) < len(ms) {
		select {
		case e := <-all:
			if e.Event == "hero_scored" {
				scored[e.MissionID] = true
			}
		case <-timeout:
			for _, m := range ms {
				if !scored[m.ID] {
					evs, _ := r.st.Events(context.Background(), store.EventFilter{MissionID: m.ID})
					for _, e := range evs {
						t.Logf("unseen mission %s: event %d %s %s", m.ID, e.ID, e.Name, e.At.Format("15:04:05.000000"))
					}
				}
			}
			t.Fatalf("the reading client saw %d of %d missions scored", len(scored), len(ms))
		}
	}
	var mine []string
	for len(mine) == 0 || mine[len(mine)-1] != "hero_scored" {
		select {
		case e := <-one:
			if e.MissionID != ms[0].ID {
				t.Fatalf("?mission=%s stream sent an event of %s", ms[0].ID, e.MissionID)
			}
			mine = append(mine, e.Event)
		case <-time.After(10 * time.Second):
			t.Fatalf("mission stream got %v, no hero_scored", mine)
		}
	}
}

func TestInfoNamesTheDeploymentWithoutSecrets(t *testing.T) {
	url := testservices.PostgresDB(t)
	withPassword := strings.Replace(url, "postgres@", "postgres:hunter2@", 1) // trust auth ignores it
	st, err := store.Open(context.Background(), withPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q, err := inproc.Backend().Open(context.Background(), backends.Config{Queue: "missions", Lease: time.Second, DeadLetters: st})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	srv := httptest.NewServer(server.New(server.Config{Store: st, Queue: q, Telemetry: telemetry.NewRecorder(nil, nil),
		Metrics: metrics.New(), Backend: "inproc", QueueName: "missions", EmbeddedWorkers: []string{"eagle1"}}))
	defer srv.Close()
	for _, path := range []string{"/api/info", "/api/status", "/healthz", "/metrics"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("GET %s shows the store's password: %s", path, b)
		}
		if path == "/api/info" {
			info := decode[struct {
				Backend, Queue  string
				Store           struct{ Driver, Location string }
				EmbeddedWorkers []string `json:"embedded_workers"`
			}](t, string(b))
			if info.Backend != "inproc" || info.Store.Driver != "postgres" || !strings.Contains(info.Store.Location, "127.0.0.1") ||
				len(info.EmbeddedWorkers) != 1 {
				t.Errorf("/api/info = %+v", info)
			}
		}
	}
}

// The page loads nothing from other hosts: the files say so, and the
// Content-Security-Policy makes the browser hold them to it.
func TestThePageLoadsNothingFromElsewhere(t *testing.T) {
	r := newRig(t, 0)
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import|fetch\(\s*["']https?:|new WebSocket`)
	for _, path := range []string{"/", "/app.js", "/style.css"} {
		resp, err := http.Get(r.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Fatalf("GET %s: %d, %d bytes", path, resp.StatusCode, len(b))
		}
		if m := external.Find(b); m != nil {
			t.Errorf("%s refers to another host: %q", path, m)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q, want default-src 'self'", path, csp)
		}
	}
	code, body := r.do("GET", "/openapi.yaml", "")
	if code != 200 || !strings.Contains(body, "/api/events/stream:") {
		t.Errorf("/openapi.yaml: %d, %d bytes, want the API description", code, len(body))
	}
	var doc struct {
		Paths map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil || len(doc.Paths) < 10 {
		t.Errorf("/openapi.yaml is not YAML with its paths: %v (%d paths)", err, len(doc.Paths))
	}
}

// One poll can read thousands of events (a burst); a client that keeps up
// gets every one of them, however large the store's batch.
func TestEventStreamPassesABurstToAClientThatKeepsUp(t *testing.T) {
	r := newRig(t, 0)
	evs, stop := sse(t, r.http.URL+"/api/events/stream")
	defer stop()
	burst := make([]telemetry.Event, 6000)
	for i := range burst {
		burst[i] = telemetry.Event{At: time.Now(), Name: telemetry.MissionProgress, MissionID: fmt.Sprintf("m%05d", i), Attempt: 1, Service: "worker:w"}
	}
	if err := r.st.InsertEvents(context.Background(), burst); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < len(burst) {
		select {
		case <-evs:
			got++
		case <-time.After(10 * time.Second):
			t.Fatalf("the stream delivered %d of a burst of %d events", got, len(burst))
		}
	}
}

// Without a token the server answers only requests addressed to a
// loopback name: a page on another site whose name was rebound to
// 127.0.0.1 (DNS rebinding) must not read the API or launch through it.
func TestWithoutATokenOnlyLoopbackHostsAreAnswered(t *testing.T) {
	r := newRig(t, 0)
	for _, tt := range []struct {
		host string
		code int
	}{
		{"attacker.example:8080", http.StatusForbidden},
		{"attacker.example", http.StatusForbidden},
		{"127.0.0.1:8080", http.StatusOK},
		{"localhost:8080", http.StatusOK},
		{"[::1]:8080", http.StatusOK},
		{"LOCALHOST", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", r.http.URL+"/api/info", nil)
		req.Host = tt.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("GET /api/info with Host %s: %d, want %d", tt.host, resp.StatusCode, tt.code)
		}
	}
	req, _ := http.NewRequest("POST", r.http.URL+"/api/missions", strings.NewReader(`{"type": "raven"}`))
	req.Host = "attacker.example"
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, body := r.do("GET", "/api/missions", ""); resp.StatusCode != http.StatusForbidden || body != "[]\n" {
		t.Errorf("a launch addressed to attacker.example: %d, history %s; want 403 and nothing launched", resp.StatusCode, body)
	}
}

// A store that stops answering gives 503, as documented, not 500.
func TestAStoreOutageIs503(t *testing.T) {
	r := newRig(t, 0)
	r.st.Close()
	for _, path := range []string{"/api/missions", "/api/leaderboard", "/api/missions/abcd"} {
		code, body := r.do("GET", path, "")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "store") {
			t.Errorf("GET %s with the store down: %d %s, want 503 naming the store", path, code, body)
		}
	}
}
