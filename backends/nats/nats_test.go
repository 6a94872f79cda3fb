package nats_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
	"github.com/palantir-lab/palantir/backends/nats"
	"github.com/palantir-lab/palantir/internal/testservices"
)

const lease = 300 * time.Millisecond

// server is a NATS server with JetStream reachable at
// PALANTIR_TEST_NATS_URL, with a plain client for setting up and
// cleaning up behind the backend's back.
type server struct {
	url string
	nc  *natsgo.Conn
	js  jetstream.JetStream

	mu      sync.Mutex
	cleaned map[string]bool
}

// needNATS skips t when NATS with JetStream does not answer, or fails it
// when PALANTIR_REQUIRE_SERVICES=1.
func needNATS(t testing.TB) *server {
	t.Helper()
	url := testservices.Env("PALANTIR_TEST_NATS_URL", "nats://127.0.0.1:4222")
	s, err := dial(url)
	if err != nil {
		testservices.Unavailable(t, "NATS JetStream", url, err)
	}
	t.Cleanup(s.nc.Close)
	return s
}

// dial connects as a student's own program would, and checks that
// JetStream answers.
func dial(url string) (*server, error) {
	nc, err := natsgo.Connect(url, natsgo.Timeout(3*time.Second))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = js.AccountInfo(ctx)
		cancel()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &server{url: url, nc: nc, js: js, cleaned: map[string]bool{}}, nil
}

// open opens queue with lease l; when t ends it closes it and deletes
// the queue's streams.
func (s *server) open(t testing.TB, queue string, l time.Duration) *nats.Queue {
	t.Helper()
	return s.openWith(t, backends.Config{Queue: queue, Lease: l})
}

// openWith is open with more of the config; URL is the server's.
func (s *server) openWith(t testing.TB, cfg backends.Config) *nats.Queue {
	t.Helper()
	s.mu.Lock()
	if !s.cleaned[cfg.Queue] {
		s.cleaned[cfg.Queue] = true
		n := nats.NamesFor(cfg.Queue)
		// Registered before the queue's own Close, so it runs after it.
		t.Cleanup(func() {
			for _, st := range []string{n.Work, n.Delayed, n.Dead} {
				s.js.DeleteStream(context.Background(), st)
			}
		})
	}
	s.mu.Unlock()
	cfg.URL = s.url
	q, err := nats.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Queue, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func (s *server) harness() backendtest.Harness {
	return backendtest.Harness{
		Lease: lease,
		Open: func(t *testing.T, queue string) backends.Queue {
			return s.open(t, queue, lease)
		},
		OpenURL: func(ctx context.Context, url, queue string) (backends.Queue, error) {
			q, err := nats.Open(ctx, backends.Config{URL: url, Queue: queue, Lease: lease})
			if err != nil {
				return nil, err
			}
			return q, nil
		},
		Unreachable: "nats://palantir:secret@127.0.0.1:1",
		BadURLs: []string{
			"nats://palantir:secret@127.0.0.1:4222?jetstream=yes",                         // unknown parameter
			"amqp://palantir:secret@127.0.0.1/",                                           // not nats
			"nats://palantir:secret@127.0.0.1:4222/missions",                              // a path
			"nats://palantir:secret@:4222",                                                // no host
			"nats://palantir:secret@127.0.0.1:4222,nats://palantir:secret@127.0.0.1:4223", // a list
			"nats://palantir:secret@127.0.0.1:4222?certfile=/c.pem",                       // no keyfile
		},
		Restartable:                    restartableNATS,
		RestartForgetsRecentDeliveries: true, // the CI saw it once under load
		Inspect: func(t *testing.T, queue string) (backends.Queue, error) {
			return s.openWith(t, backends.Config{Queue: queue, Lease: lease, Inspect: true}), nil
		},
		Exists: func(t *testing.T, queue string) bool {
			n := nats.NamesFor(queue)
			for _, st := range []string{n.Work, n.Delayed, n.Dead} {
				_, err := s.js.Stream(context.Background(), st)
				if err == nil {
					return true
				}
				if !errors.Is(err, jetstream.ErrStreamNotFound) {
					t.Fatal(err)
				}
			}
			return false
		},
		InjectRaw: func(t *testing.T, queue string, body []byte) {
			// What a student would do with nats pub --jetstream: no
			// headers, so no id and no attempt.
			if _, err := s.js.Publish(context.Background(), nats.NamesFor(queue).WorkSubject, body); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestConformance(t *testing.T) {
	s := needNATS(t)
	backendtest.Run(t, s.harness())
}

// restartableNATS starts a nats-server of its own with JetStream on a
// free port and a store in a temp dir, and returns its URL and a restart
// that SIGKILLs it and starts it again on the same store.
func restartableNATS(t *testing.T) (string, func()) {
	port, dir := testservices.FreePort(t), t.TempDir()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	stop := startNATS(t, url, port, dir)
	return url, func() {
		stop()
		stop = startNATS(t, url, port, dir)
	}
}

// startNATS starts nats-server with JetStream on port with its store in
// dir and the extra args, waits until url (with its TLS settings) answers
// with JetStream, and returns a stop that SIGKILLs it (also run when t
// ends). Without nats-server in PATH, t skips (fails under
// PALANTIR_REQUIRE_SERVICES=1).
func startNATS(t *testing.T, url string, port int, dir string, args ...string) (stop func()) {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		testservices.Unavailable(t, "nats-server", url, err)
	}
	cmd := exec.Command(bin, append([]string{"-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", dir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cmd.Process.Kill(); cmd.Wait() }) }
	t.Cleanup(stop)
	// Up when JetStream answers, not just the port: it recovers its
	// streams first.
	deadline := time.Now().Add(30 * time.Second)
	for {
		q, err := nats.Open(context.Background(), backends.Config{URL: url, Queue: "ptest-probe"})
		if err == nil {
			q.Destroy(context.Background())
			q.Close()
			return stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server on port %d did not answer with JetStream within 30s: %v\n%s", port, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TLS: a server with a certificate from the test's own CA is reached
// with tls:// and cacertfile; a CA that did not sign it, or no TLS, is
// refused with a clear error, without the password.
func TestTLS(t *testing.T) {
	certs, other := testservices.NewCerts(t, ""), testservices.NewCerts(t, "")
	port := testservices.FreePort(t)
	good := fmt.Sprintf("tls://palantir:secret@127.0.0.1:%d?cacertfile=%s", port, certs.CA)
	startNATS(t, good, port, t.TempDir(), "--tls", "--tlscert", certs.ServerCert, "--tlskey", certs.ServerKey,
		"--user", "palantir", "--pass", "secret")

	q, err := nats.Open(context.Background(), backends.Config{URL: good, Queue: backendtest.QueueName(t), Lease: lease})
	backendtest.Must(t, "Open over TLS", err)
	defer q.Close()
	backendtest.Must(t, "Publish", q.Publish(context.Background(), msg("over-tls")))
	d := backendtest.Receive(t, backendtest.Subscribe(t, q, "c", 1), 5*time.Second)
	backendtest.Must(t, "Ack", d.Ack(context.Background()))

	tests := []struct {
		name, url, says string
	}{
		{"another CA", fmt.Sprintf("tls://palantir:secret@127.0.0.1:%d?cacertfile=%s", port, other.CA), "certificate"},
		{"the system's CAs", fmt.Sprintf("nats://palantir:secret@127.0.0.1:%d", port), "certificate"},
		{"TLS to a plain server", "tls://palantir:secret@" + strings.TrimPrefix(needNATS(t).url, "nats://"), "TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := nats.Open(context.Background(), backends.Config{URL: tt.url, Queue: "ptest-tls"})
			if err == nil {
				q.Close()
				t.Fatalf("Open(%s) succeeded", backends.Redact(tt.url))
			}
			if !errors.Is(err, backends.ErrUnreachable) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Open(%s) = %v, want ErrUnreachable saying %q", backends.Redact(tt.url), err, tt.says)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func stats(t *testing.T, q backends.Queue) backends.Stats {
	t.Helper()
	s, err := q.Stats(context.Background())
	backendtest.Must(t, "Stats", err)
	return s
}

func msg(id string) backends.Message {
	return backends.Message{ID: id, Body: []byte(`{"id":"` + id + `"}`)}
}

// A message that no worker settles is dead-lettered when JetStream stops
// delivering it (MaxDeliver, 3 for a limit of 1), with a reason that says
// so, and leaves the work stream.
func TestMaxDeliverDeadLetters(t *testing.T) {
	s := needNATS(t)
	name := backendtest.QueueName(t)
	q := s.openWith(t, backends.Config{Queue: name, Lease: lease, MaxDeliveries: 1})
	backendtest.Must(t, "Publish", q.Publish(context.Background(), msg("doomed")))
	c := backendtest.Subscribe(t, q, "careless", 1)
	for i := 1; i <= nats.MaxDeliver(1); i++ {
		d := backendtest.Receive(t, c, 10*lease+5*time.Second)
		if got := d.Received().Deliveries; got != i {
			t.Fatalf("delivery %d counted %d", i, got)
		}
		// Not settled: the lease runs out.
	}
	// JetStream gives up when it would deliver the message a fourth time,
	// to a consumer that pulls.
	ctx, cancel := context.WithTimeout(context.Background(), 5*lease)
	defer cancel()
	if d, err := c.Receive(ctx); err == nil {
		t.Fatalf("delivery %d of %s beyond MaxDeliver %d", d.Received().Deliveries, d.Received().ID, nats.MaxDeliver(1))
	}
	var dead []backends.DeadLetter
	backendtest.Eventually(t, 10*time.Second, "the message in the dead letters", func() (bool, string) {
		var err error
		dead, err = q.DeadLetters(context.Background(), 0)
		return err == nil && len(dead) == 1, fmt.Sprintf("%v (%v)", dead, err)
	})
	if dead[0].ID != "doomed" || !strings.Contains(dead[0].Reason, "MaxDeliver") || dead[0].Attempt != 1 {
		t.Errorf("dead letter %+v, want doomed, attempt 1, a reason naming MaxDeliver", dead[0])
	}
	backendtest.Eventually(t, 5*time.Second, "the work stream empty", func() (bool, string) {
		st, err := s.js.Stream(context.Background(), q.Names().Work)
		if err != nil {
			return false, err.Error()
		}
		return st.CachedInfo().State.Msgs == 0, fmt.Sprintf("%d messages", st.CachedInfo().State.Msgs)
	})
}

// A consumer closed with messages pulled but not handed out gives them
// back at once, not after the lease, and uncounted: no worker saw them.
func TestClosedConsumerGivesBackWhatItHeld(t *testing.T) {
	s := needNATS(t)
	name := backendtest.QueueName(t)
	const long = time.Minute
	q := s.open(t, name, long)
	backendtest.Must(t, "Publish", q.Publish(context.Background(), msg("a"), msg("b"), msg("c")))
	first := backendtest.Subscribe(t, q, "first", 10)
	held := backendtest.Receive(t, first, 5*time.Second)
	backendtest.Eventually(t, 5*time.Second, "all three pulled", func() (bool, string) {
		st := stats(t, q)
		return st.InFlight == 3, fmt.Sprintf("%+v", st)
	})
	backendtest.Must(t, "Close", first.Close())

	second := backendtest.Subscribe(t, s.open(t, name, long), "second", 10)
	got := map[string]bool{}
	for range 2 {
		d := backendtest.Receive(t, second, 10*time.Second) // well within the minute's lease
		if r := d.Received(); r.Deliveries != 1 || r.Redelivered {
			t.Errorf("%s given back counted %d, redelivered %v; want 1, false", r.ID, r.Deliveries, r.Redelivered)
		}
		got[d.Received().ID] = true
		backendtest.Must(t, "Ack", d.Ack(context.Background()))
	}
	if got[held.Received().ID] || len(got) != 2 {
		t.Errorf("after Close got %v, want the two messages not handed out", got)
	}
}

// Release gives the message back without counting a delivery; a crash
// after it counts one.
func TestReleaseDoesNotCount(t *testing.T) {
	s := needNATS(t)
	name := backendtest.QueueName(t)
	q := s.open(t, name, lease)
	backendtest.Must(t, "Publish", q.Publish(context.Background(), msg("r")))
	c := backendtest.Subscribe(t, q, "c", 1)
	d := backendtest.Receive(t, c, 5*time.Second)
	backendtest.Must(t, "Release", d.Release(context.Background()))
	again := backendtest.Receive(t, c, 5*time.Second)
	if r := again.Received(); r.ID != "r" || r.Deliveries != 1 || !r.Redelivered || r.Attempt != 1 {
		t.Fatalf("after Release got %s deliveries %d redelivered %v attempt %d, want r 1 true 1", r.ID, r.Deliveries, r.Redelivered, r.Attempt)
	}
	// Not settled: the lease runs out, and that counts.
	third := backendtest.Receive(t, c, 10*lease+5*time.Second)
	if n := third.Received().Deliveries; n != 2 {
		t.Fatalf("after a lost lease counted %d, want 2", n)
	}
	backendtest.Must(t, "Ack", third.Ack(context.Background()))
}

// A message over the consumer's size limit (published by hand, or by a
// process with a larger limit) is dead-lettered without being handed
// out; the next one is.
func TestOversizedAtConsumeIsDeadLettered(t *testing.T) {
	s := needNATS(t)
	name := backendtest.QueueName(t)
	q := s.openWith(t, backends.Config{Queue: name, Lease: lease, MaxMessageBytes: 64})
	if _, err := s.js.Publish(context.Background(), q.Names().WorkSubject, bytes.Repeat([]byte("x"), 65)); err != nil {
		t.Fatal(err)
	}
	backendtest.Must(t, "Publish", q.Publish(context.Background(), msg("small")))
	d := backendtest.Receive(t, backendtest.Subscribe(t, q, "c", 10), 5*time.Second)
	if d.Received().ID != "small" {
		t.Fatalf("received %s, want small (the large one never handed out)", d.Received().ID)
	}
	backendtest.Must(t, "Ack", d.Ack(context.Background()))
	dead, err := q.DeadLetters(context.Background(), 0)
	backendtest.Must(t, "DeadLetters", err)
	if len(dead) != 1 || len(dead[0].Body) != 65 || !strings.Contains(dead[0].Reason, "over the limit of 64") {
		t.Errorf("dead letters %+v, want the 65-byte message with the size reason", dead)
	}
}

// A delayed retry waits in the delayed stream, where Stats counts it and
// Purge removes it.
func TestDelayedRetryIsCountedAndPurged(t *testing.T) {
	s := needNATS(t)
	q := s.open(t, backendtest.QueueName(t), lease)
	backendtest.Must(t, "Publish", q.Publish(context.Background(), msg("later")))
	c := backendtest.Subscribe(t, q, "c", 1)
	backendtest.Must(t, "Retry", backendtest.Receive(t, c, 5*time.Second).Retry(context.Background(), time.Hour))
	backendtest.Eventually(t, 5*time.Second, "one delayed", func() (bool, string) {
		st := stats(t, q)
		return st.Delayed == 1 && st.Ready == 0 && st.InFlight == 0, fmt.Sprintf("%+v", st)
	})
	n, err := q.Purge(context.Background())
	backendtest.Must(t, "Purge", err)
	if n != 1 {
		t.Errorf("Purge removed %d, want 1", n)
	}
	if st := stats(t, q); st.Delayed != 0 {
		t.Errorf("after Purge %+v, want nothing delayed", st)
	}
}

// Purge leaves a message in flight alone: its holder can still ack it.
func TestPurgeKeepsInFlight(t *testing.T) {
	s := needNATS(t)
	q := s.open(t, backendtest.QueueName(t), time.Minute)
	backendtest.Must(t, "Publish", q.Publish(context.Background(), msg("held"), msg("p1"), msg("p2")))
	d := backendtest.Receive(t, backendtest.Subscribe(t, q, "c", 1), 5*time.Second)
	n, err := q.Purge(context.Background())
	backendtest.Must(t, "Purge", err)
	if n != 2 {
		t.Errorf("Purge removed %d, want 2", n)
	}
	if st := stats(t, q); st.Ready != 0 || st.InFlight != 1 {
		t.Errorf("after Purge %+v, want 0 ready and 1 in flight", st)
	}
	backendtest.Must(t, "Ack of the held message", d.Ack(context.Background()))
}

// Extend after the lease ran out on the client's clock says so: the
// server may have given the message to another consumer.
func TestExtendAfterTheLease(t *testing.T) {
	s := needNATS(t)
	q := s.open(t, backendtest.QueueName(t), lease)
	backendtest.Must(t, "Publish", q.Publish(context.Background(), msg("slow")))
	d := backendtest.Receive(t, backendtest.Subscribe(t, q, "c", 1), 5*time.Second)
	backendtest.Must(t, "Extend within the lease", d.Extend(context.Background()))
	time.Sleep(lease + 50*time.Millisecond) // the lease must run out: nothing to wait for but time
	if err := d.Extend(context.Background()); !errors.Is(err, backends.ErrLeaseLost) {
		t.Errorf("Extend after the lease: %v, want ErrLeaseLost", err)
	}
}

// Streams deleted behind the queue's back (purge --all from another
// process) are made again by the next Publish and Receive.
func TestDeletedStreamsAreMadeAgain(t *testing.T) {
	s := needNATS(t)
	name := backendtest.QueueName(t)
	q := s.open(t, name, lease)
	c := backendtest.Subscribe(t, q, "c", 1)
	other := s.open(t, name, lease)
	backendtest.Must(t, "Destroy", other.Destroy(context.Background()))
	backendtest.Eventually(t, 10*time.Second, "a publish after the deletion", func() (bool, string) {
		err := q.Publish(context.Background(), msg("after"))
		return err == nil, fmt.Sprint(err)
	})
	d := backendtest.Receive(t, c, 15*time.Second)
	if d.Received().ID != "after" {
		t.Fatalf("received %s, want after", d.Received().ID)
	}
	backendtest.Must(t, "Ack", d.Ack(context.Background()))
}

// Destroy deletes the three streams.
func TestDestroy(t *testing.T) {
	s := needNATS(t)
	q := s.open(t, backendtest.QueueName(t), lease)
	backendtest.Must(t, "Destroy", q.Destroy(context.Background()))
	for _, st := range []string{q.Names().Work, q.Names().Delayed, q.Names().Dead} {
		if _, err := s.js.Stream(context.Background(), st); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("stream %s after Destroy: %v, want not found", st, err)
		}
	}
}

func TestCeiling(t *testing.T) {
	s := needNATS(t)
	b := nats.Backend()
	run := backends.CeilingRun{URL: s.url, Queue: backendtest.QueueName(t), Messages: 500, Concurrency: 4, Prefetch: 20,
		Body: []byte(`{"bench":true}`), Acked: new(atomicInt)}
	took, err := b.Ceiling(context.Background(), run)
	backendtest.Must(t, "Ceiling", err)
	if run.Acked.Load() != 500 || took <= 0 {
		t.Errorf("ceiling acked %d in %v, want 500 in some time", run.Acked.Load(), took)
	}
	if _, err := s.js.Stream(context.Background(), nats.NamesFor(run.Queue).Work); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("the ceiling's stream after the run: %v, want deleted", err)
	}
}

// A consumer whose server is gone backs off instead of spinning, and
// takes work again by itself once the server is back.
func TestConsumerRidesOutAServerRestart(t *testing.T) {
	port, dir := testservices.FreePort(t), t.TempDir()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	stop := startNATS(t, url, port, dir)
	q, err := nats.Open(context.Background(), backends.Config{URL: url, Queue: backendtest.QueueName(t), Lease: lease})
	backendtest.Must(t, "Open", err)
	defer q.Close()
	c := backendtest.Subscribe(t, q, "c", 1)
	stop()

	// While the server is down: Receive fails (it does not hang for ever),
	// but each failure waits for the backoff.
	var failures int
	for start := time.Now(); time.Since(start) < 2*time.Second; {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := c.Receive(ctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			failures++
		}
	}
	if failures > 12 {
		t.Errorf("%d failed receives in 2s with the server down: the consumer spins instead of backing off", failures)
	}

	startNATS(t, url, port, dir)
	backendtest.Eventually(t, 20*time.Second, "a publish once the server is back", func() (bool, string) {
		err := q.Publish(context.Background(), msg("after"))
		return err == nil, fmt.Sprint(err)
	})
	var d backends.Delivery
	backendtest.Eventually(t, 20*time.Second, "a delivery once the server is back", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		d, err = c.Receive(ctx)
		return err == nil, fmt.Sprint(err)
	})
	if d.Received().ID != "after" {
		t.Errorf("received %s, want after", d.Received().ID)
	}
	backendtest.Must(t, "Ack", d.Ack(context.Background()))
}
