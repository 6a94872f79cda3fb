package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
)

func TestServeFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  string // PALANTIR_TOKEN
		code int
		want serveOptions
	}{
		{name: "defaults", want: serveOptions{Addr: "127.0.0.1:8080"}},
		{name: "beyond loopback without a token", args: []string{"--addr", "0.0.0.0:8080"}, code: exitUsage},
		{name: "all interfaces without a token", args: []string{"--addr", ":8080"}, code: exitUsage},
		{name: "beyond loopback with --token", args: []string{"--addr", "0.0.0.0:8080", "--token", "t"},
			want: serveOptions{Addr: "0.0.0.0:8080", Token: "t"}},
		{name: "beyond loopback with PALANTIR_TOKEN", args: []string{"--addr", "0.0.0.0:8080"}, env: "e",
			want: serveOptions{Addr: "0.0.0.0:8080", Token: "e"}},
		{name: "workers", args: []string{"--workers", "3"}, want: serveOptions{Addr: "127.0.0.1:8080", Workers: 3, WorkersSet: true}},
		{name: "negative workers", args: []string{"--workers", "-1"}, code: exitUsage},
		{name: "not an address", args: []string{"--addr", "8080"}, code: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PALANTIR_TOKEN", tt.env)
			var got serveOptions
			err := parse(t, func(a *app) *cobra.Command {
				return newServeCmd(a, func(_ context.Context, _ *app, o serveOptions) error { got = o; return nil })
			}, tt.args...)
			if code := exitCode(err); code != tt.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.code)
			}
			if tt.code == 0 && got != tt.want {
				t.Errorf("options %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWorkerMetricsAddrBeyondLoopbackNeedsAToken(t *testing.T) {
	t.Setenv("PALANTIR_TOKEN", "")
	err := parse(t, func(a *app) *cobra.Command {
		return newWorkerCmd(a, func(context.Context, *app, workerOptions) error { return nil })
	},
		"--metrics-addr", "0.0.0.0:9101")
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("worker --metrics-addr 0.0.0.0:9101 without a token: %v, want exit 2 naming the flag", err)
	}
}

// syncBuffer is a stderr that the test reads while serve writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve runs on inproc with embedded workers; a signal (ctx) stops it
// with exit 0, and what it could not finish is marked FAILURE rather than
// left QUEUED for ever.
func TestServeRunsEmbeddedWorkersAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	ctx, stop := context.WithCancel(context.Background())
	var stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"--store", filepath.Join(dir, "palantir.db"), "--shutdown-timeout", "1s", "serve", "--addr", "127.0.0.1:0"},
			streams{In: strings.NewReader(""), Out: io.Discard, Err: &stderr})
	}()
	addrRE := regexp.MustCompile(`dashboard at (http://[0-9.:]+)/`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve printed no address: %s", stderr.String())
		}
	}
	post := func(body string) []ops.Mission {
		resp, err := http.Post(base+"/api/missions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("POST %s: %d", body, resp.StatusCode)
		}
		return decode[[]ops.Mission](t, result{out: readAll(resp.Body)})
	}
	quick := post(`{"type": "raven", "count": 2, "speed": 50, "fail_rate": 0}`)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ms := decode[[]ops.Mission](t, cli(t, dir, "status", quick[0].ID, quick[1].ID, "-o", "json"))
		if ms[0].Status == "SUCCESS" && ms[1].Status == "SUCCESS" {
			if ms[0].Worker == "" || !strings.HasPrefix(ms[0].Worker, "eagle") {
				t.Errorf("mission ran on %q, want an embedded eagle", ms[0].Worker)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("embedded workers did not finish the missions: %+v", ms)
		}
	}
	slow := post(`{"type": "recon", "count": 6, "speed": 0.2}`) // ~25 s each: still queued when serve stops
	// Another process's inproc mission in the same store (a `palantir
	// launch` running beside serve): not serve's to give up on.
	other := store.MissionFromOrder(mission.Order{ID: "otherprocess", Type: mission.Recon, Hero: "frodo", MaxAttempts: 3,
		Speed: 1, CreatedAt: time.Now()}, "inproc", "missions")
	st, err := store.Open(context.Background(), filepath.Join(dir, "palantir.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateMissions(context.Background(), []store.Mission{other}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	stop()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("serve exited %d after the signal, want 0; stderr: %s", code, stderr.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop after the signal")
	}
	ms := decode[[]ops.Mission](t, cli(t, dir, "status", slow[5].ID, "otherprocess", "-o", "json"))
	if ms[0].Status != "FAILURE" || !strings.Contains(ms[0].Error, "inproc queue") {
		t.Errorf("a mission still queued when serve stopped: %s %q, want FAILURE saying the inproc queue ended", ms[0].Status, ms[0].Error)
	}
	if ms[1].Status != "PENDING" {
		t.Errorf("another process's mission after serve stopped: %s %q, want it untouched (PENDING)", ms[1].Status, ms[1].Error)
	}
}

func readAll(r io.Reader) string {
	b, _ := io.ReadAll(r)
	return string(b)
}
