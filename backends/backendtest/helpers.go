package backendtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// The helpers below serve the suite and the backends' own tests alike.

// Context returns a context that ends after 30 seconds or with the test.
func Context(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// Subscribe subscribes to q as name with prefetch, failing the test if
// it cannot; the consumer is closed with the test.
func Subscribe(t testing.TB, q backends.Queue, name string, prefetch int) backends.Consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := q.Subscribe(ctx, backends.ConsumerOptions{Name: name, Prefetch: prefetch})
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Receive returns the next delivery of c, failing the test if none comes
// within the given time.
func Receive(t testing.TB, c backends.Consumer, within time.Duration) backends.Delivery {
	t.Helper()
	rc, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	d, err := c.Receive(rc)
	if err != nil {
		t.Fatalf("Receive within %v: %v", within, err)
	}
	return d
}

// ExpectNothing fails the test if c delivers anything within d, or if
// its Receive ends otherwise than by the deadline.
func ExpectNothing(t testing.TB, c backends.Consumer, d time.Duration) {
	t.Helper()
	rc, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	got, err := c.Receive(rc)
	if err == nil {
		t.Fatalf("received %q (%d bytes), want nothing for %v", got.Received().ID, len(got.Received().Body), d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive: %v, want context.DeadlineExceeded", err)
	}
}

// Must fails the test if err is not nil, naming what failed.
func Must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Eventually polls cond every 20ms for up to d, and fails the test with
// what and cond's last description of what it saw if cond never holds.
func Eventually(t testing.TB, d time.Duration, what string, cond func() (ok bool, got string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after %v", what, got, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
