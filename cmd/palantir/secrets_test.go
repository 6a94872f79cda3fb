package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/ops"
)

// plantedSecret is the password planted in every URL below; no byte of
// output may carry it.
const plantedSecret = "Zq7pLanted5ecret"

// secretRun runs one command line with a deadline (a worker or a launch
// --wait that nothing finishes ends there) and returns what it printed on
// both streams.
func secretRun(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return result{code: code, out: out.String(), err: errb.String()}
}

// leakCheckAll runs the command lines at once (most of their time is
// spent waiting on brokers that refuse them) and checks each.
func leakCheckAll(t *testing.T, timeout time.Duration, lines [][]string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, args := range lines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leakCheck(t, strings.Join(args, " "), secretRun(t, timeout, args...))
		}()
	}
	wg.Wait()
}

// leakCheck fails t for every line of r that holds the planted secret.
func leakCheck(t *testing.T, what string, r result) {
	t.Helper()
	for name, text := range map[string]string{"stdout": r.out, "stderr": r.err} {
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, plantedSecret) {
				t.Errorf("LEAK %s %s (exit %d): %s", what, name, r.code, line)
			}
		}
	}
}

// TestNoCommandPrintsAPassword plants one password in every place a URL
// can carry one (userinfo, ?password=, ?sslpassword=, a key=value DSN, a
// mistyped scheme separator), in the broker URLs and the store URL, and
// runs every command against reachable and unreachable hosts: no byte of
// stdout or stderr, table or JSON, log line or HTTP answer may hold it.
func TestNoCommandPrintsAPassword(t *testing.T) {
	pgURL := testservices.PostgresDB(t) // trust authentication: a password is accepted and ignored
	withSecret := func(raw string, userinfo bool, params ...string) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if userinfo {
			u.User = url.UserPassword(u.User.Username(), plantedSecret)
		}
		q := u.Query()
		for _, p := range params {
			q.Set(p, plantedSecret)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	unreachablePG := strings.Replace(pgURL, "127.0.0.1:5432", "127.0.0.1:1", 1)
	stores := map[string]string{
		"postgres userinfo":                withSecret(pgURL, true),
		"postgres ?password":               withSecret(pgURL, false, "password"),
		"postgres ?sslpassword":            withSecret(pgURL, false, "sslpassword"),
		"postgres unreachable, everywhere": withSecret(unreachablePG, true, "password", "sslpassword"),
		"postgres without ://":             "postgres//postgres:" + plantedSecret + "@127.0.0.1:5432/db",
		"postgres with one slash":          "postgres:/postgres:" + plantedSecret + "@127.0.0.1:5432/db",
		"key=value DSN":                    "host=127.0.0.1 port=5432 user=postgres password=" + plantedSecret + " dbname=postgres",
	}
	redisURL, amqpURL := testservices.RedisURL(), testservices.AMQPURL()
	brokers := map[string][]string{
		"redis userinfo":          {"--backend", withSecret(redisURL, true)},
		"redis ?password":         {"--backend", withSecret(redisURL, false, "password")},
		"redis unreachable":       {"--backend", "redis://:" + plantedSecret + "@127.0.0.1:1/0"},
		"redis without ://":       {"--backend", "redis//:" + plantedSecret + "@127.0.0.1:6379/0"},
		"redis-url userinfo":      {"--backend", "redis", "--redis-url", withSecret(redisURL, true)},
		"redis-url without ://":   {"--backend", "redis", "--redis-url", "redis//:" + plantedSecret + "@127.0.0.1:6379/0"},
		"amqp userinfo":           {"--backend", withSecret(amqpURL, true)},
		"amqp unreachable":        {"--backend", "amqp://guest:" + plantedSecret + "@127.0.0.1:1/"},
		"amqp-url userinfo":       {"--backend", "rabbitmq", "--amqp-url", withSecret(amqpURL, true)},
		"amqp-url without ://":    {"--backend", "rabbitmq", "--amqp-url", "amqp//guest:" + plantedSecret + "@127.0.0.1:5672/"},
		"amqp-url with one slash": {"--backend", "rabbitmq", "--amqp-url", "amqp:/guest:" + plantedSecret + "@127.0.0.1:5672/"},
		// NATS reads a lone user name as a token: a secret too.
		"nats userinfo":          {"--backend", "nats://palantir:" + plantedSecret + "@127.0.0.1:4222"},
		"nats token":             {"--backend", "nats://" + plantedSecret + "@127.0.0.1:4222"},
		"nats token unreachable": {"--backend", "nats://" + plantedSecret + "@127.0.0.1:1"},
		"nats-url token":         {"--backend", "nats", "--nats-url", "nats://" + plantedSecret + "@127.0.0.1:4222"},
	}
	commands := [][]string{
		{"launch", "raven", "--speed", "50", "--fail-rate", "0"},
		{"launch", "raven", "--speed", "50", "--fail-rate", "1", "--max-attempts", "1", "--wait", "-o", "json"},
		{"worker", "--max-missions", "1"},
		{"status"}, {"status", "-o", "json"},
		{"history"}, {"history", "-o", "json"},
		{"events"}, {"events", "-o", "json"},
		{"trace", "zzzzzz"},
		{"dlq", "list"}, {"dlq", "list", "-o", "json"},
		{"dlq", "replay"}, {"dlq", "replay", "-o", "json"},
		{"leaderboard"}, {"leaderboard", "-o", "json"},
		{"purge", "--yes"},
		{"doctor"}, {"doctor", "-o", "json"},
	}
	// Subtests run in parallel, each on a queue of its own: most of their
	// time is spent waiting on brokers that refuse them.
	var n atomic.Int64
	common := func() []string {
		queue := fmt.Sprintf("secrets-%d-%d", time.Now().UnixNano(), n.Add(1))
		return []string{"--log-level", "debug", "--queue", queue, "--lease", "2s", "--shutdown-timeout", "1s"}
	}

	t.Run("store URLs", func(t *testing.T) {
		for name, st := range stores {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				common := common()
				var lines [][]string
				for _, cmd := range commands {
					lines = append(lines, append(append([]string{"--store", st}, common...), cmd...))
				}
				leakCheckAll(t, 20*time.Second, lines)
				// A mission to trace and a dead letter to replay, on a
				// store that works.
				r := secretRun(t, 20*time.Second, append(append([]string{"--store", st}, common...),
					"launch", "raven", "--speed", "50", "--fail-rate", "1", "--max-attempts", "1", "-o", "json")...)
				leakCheck(t, "launch (failing)", r)
				if r.code == 1 {
					ms := decode[[]ops.Mission](t, r)
					for _, cmd := range [][]string{{"trace", ms[0].ID}, {"trace", ms[0].ID, "-o", "json"}, {"dlq", "replay", ms[0].ID}} {
						leakCheck(t, strings.Join(cmd, " "), secretRun(t, 20*time.Second, append(append([]string{"--store", st}, common...), cmd...)...))
					}
				}
				// A worker on a real broker, its banner naming the store,
				// and a launch --wait that no worker serves (its hint names
				// the store too).
				for _, cmd := range [][]string{
					{"--backend", "redis", "launch", "raven", "--speed", "50"},
					{"--backend", "redis", "worker", "--max-missions", "1"},
					{"--backend", "redis", "launch", "raven", "--wait"},
				} {
					leakCheck(t, strings.Join(cmd, " "), secretRun(t, 8*time.Second, append(append([]string{"--store", st}, common...), cmd...)...))
				}
				leakCheck(t, "bench --store", secretRun(t, 30*time.Second, "bench", "--backends", "inproc", "-n", "20", "--store", st))
			})
		}
	})

	t.Run("broker URLs", func(t *testing.T) {
		for name, be := range brokers {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				dir, common := t.TempDir(), common()
				var lines [][]string
				for _, cmd := range commands {
					lines = append(lines, append(append(append([]string{"--store", filepath.Join(dir, "palantir.db")}, common...), be...), cmd...))
				}
				leakCheckAll(t, 20*time.Second, lines)
			})
		}
	})

	t.Run("bench targets", func(t *testing.T) {
		t.Parallel()
		var targets []string
		for _, be := range brokers {
			if strings.Contains(be[1], "://") || strings.Contains(be[1], "//") {
				targets = append(targets, be[1])
			}
		}
		lines := [][]string{{"bench", "--backends", "redis,rabbitmq", "-n", "20",
			"--redis-url", brokers["redis userinfo"][1], "--amqp-url", brokers["amqp userinfo"][1]}}
		for _, tgt := range targets {
			for _, out := range []string{"table", "json"} {
				lines = append(lines, []string{"bench", "--backends", tgt, "-n", "20", "-o", out})
			}
		}
		leakCheckAll(t, 30*time.Second, lines)
	})

	t.Run("serve", func(t *testing.T) {
		for name, st := range stores {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				serveLeakCheck(t, st)
			})
		}
	})
}

// serveLeakCheck runs serve on store st and reads its banner, /api/info,
// /healthz and an error answer.
func serveLeakCheck(t *testing.T, st string) {
	ctx, stop := context.WithCancel(context.Background())
	var stderr syncBuffer
	exited := make(chan result, 1)
	go func() {
		var out bytes.Buffer
		code := run(ctx, []string{"--store", st, "--log-level", "debug", "--shutdown-timeout", "1s", "serve", "--addr", "127.0.0.1:0"},
			streams{In: strings.NewReader(""), Out: &out, Err: &stderr})
		exited <- result{code: code, out: out.String()}
	}()
	addrRE := regexp.MustCompile(`dashboard at (http://[0-9.:]+)/`)
	var base string
	var r result
	for deadline := time.Now().Add(15 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case r = <-exited: // serve refused to start: its error is the output
			r.err = stderr.String()
			t.Logf("serve did not start: exit %d: %s", r.code, r.err)
			leakCheck(t, "serve", r)
			stop()
			return
		default:
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("serve printed no address: %s", stderr.String())
		}
	}
	get := func(method, path, body string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		leakCheck(t, method+" "+path, result{code: resp.StatusCode, out: string(b)})
	}
	get("GET", "/api/info", "")
	get("GET", "/healthz", "")
	get("GET", "/api/status", "")
	get("GET", "/api/missions/zzzzzz", "")
	get("POST", "/api/missions", `{"type": "dragon"}`)
	get("POST", "/api/dlq/replay", `{"ids": ["zzzzzz"]}`)
	stop()
	select {
	case r = <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	r.err = stderr.String()
	leakCheck(t, "serve", r)
}
