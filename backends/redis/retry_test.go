package redis_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
	"github.com/palantir-lab/palantir/backends/redis"
)

// slowProxy forwards TCP connections to a Redis server; when armed, it
// holds the next reply back for delay, past the client's read timeout,
// as a congested network or a paused server would.
type slowProxy struct {
	addr  string
	delay time.Duration
	armed atomic.Bool
}

func newSlowProxy(t *testing.T, target string, delay time.Duration) *slowProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowProxy{addr: l.Addr().String(), delay: delay}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Go(func() { io.Copy(out, in); out.Close() })
			wg.Go(func() {
				defer in.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := out.Read(buf)
					if n > 0 {
						if p.armed.CompareAndSwap(true, false) {
							time.Sleep(p.delay)
						}
						if _, err := in.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	return p
}

// TestTimedOutScriptIsNotRepeated: the reply to a settlement script is
// late, past the read timeout. go-redis would run the script again on a
// new connection (MaxRetries), and the second run, finding the entry
// settled by the first, reported a successful ack as a lost lease. The
// caller must instead learn that the outcome is unknown (a transient
// error), and the entry be settled exactly once.
func TestTimedOutScriptIsNotRepeated(t *testing.T) {
	s := needRedis(t)
	target := strings.SplitN(s.url, "/", 4)[2]
	if strings.Contains(s.url, "@") || strings.Contains(s.url, "?") || strings.HasPrefix(s.url, "rediss") {
		t.Skipf("this test proxies a plain redis://host:port URL, not %s", backends.Redact(s.url))
	}
	proxy := newSlowProxy(t, target, 700*time.Millisecond)
	name := backendtest.QueueName(t)
	ctx := context.Background()
	k := redis.Keys(name)
	t.Cleanup(func() { s.client.Del(context.Background(), k.Stream, k.Delayed, k.Dead) })
	q, err := redis.Open(ctx, backends.Config{
		URL: "redis://" + proxy.addr + "/0?read_timeout=200ms", Queue: name, Lease: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Publish(ctx, messages("m", 2)...); err != nil {
		t.Fatal(err)
	}
	c := backendtest.Subscribe(t, q, "c", 1)

	t.Run("ack", func(t *testing.T) {
		d := backendtest.Receive(t, c, 5*time.Second)
		proxy.armed.Store(true)
		err := d.Ack(ctx)
		if errors.Is(err, backends.ErrLeaseLost) {
			t.Fatalf("Ack whose reply was late: %v; the script ran twice", err)
		}
		if err == nil {
			t.Fatal("Ack whose reply never came succeeded")
		}
		if !errors.Is(err, backends.ErrUnreachable) {
			t.Errorf("Ack whose reply never came: %v, want ErrUnreachable (transient: the outcome is unknown)", err)
		}
		if n, err := s.client.XLen(ctx, k.Stream).Result(); err != nil || n != 1 {
			t.Errorf("stream holds %d entries (%v), want 1: the ack was made once", n, err)
		}
	})
	t.Run("retry", func(t *testing.T) {
		d := backendtest.Receive(t, c, 5*time.Second)
		proxy.armed.Store(true)
		err := d.Retry(ctx, 0)
		if errors.Is(err, backends.ErrLeaseLost) {
			t.Fatalf("Retry whose reply was late: %v; the script ran twice", err)
		}
		if n, err := s.client.XLen(ctx, k.Stream).Result(); err != nil || n != 1 {
			t.Errorf("stream holds %d entries (%v), want the 1 retry copy", n, err)
		}
	})
}
