package chaos_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/chaos"
	"github.com/palantir-lab/palantir/internal/testservices"
)

// echoServer answers every byte with itself until the client closes.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func startProxy(t *testing.T, target string) *chaos.Proxy {
	t.Helper()
	p, err := chaos.Listen("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads as many bytes back, within timeout.
func roundTrip(c net.Conn, msg string, timeout time.Duration) (string, error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

func TestProxyForwardsBothWays(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	big := strings.Repeat("mellon", 100_000) // several chunks
	got, err := roundTrip(c, big, 10*time.Second)
	if err != nil || got != big {
		t.Fatalf("echo through the proxy: %d bytes back, err %v; want the %d bytes sent", len(got), err, len(big))
	}
	if st := p.State(); st.Mode != chaos.ModeNormal || st.Open != 1 || st.Accepted != 1 {
		t.Errorf("state %+v, want normal with 1 open, 1 accepted", st)
	}
}

func TestProxyDelayAddsTheDelayInEachDirection(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	if _, err := roundTrip(c, "warm", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	const d = 150 * time.Millisecond
	p.Delay(d)
	start := time.Now()
	got, err := roundTrip(c, "slow", 10*time.Second)
	took := time.Since(start)
	if err != nil || got != "slow" {
		t.Fatalf("round trip while delayed: %q, %v", got, err)
	}
	if took < 2*d {
		t.Errorf("round trip took %v with a delay of %v each way, want at least %v", took, d, 2*d)
	}
	p.Heal()
	start = time.Now()
	if _, err := roundTrip(c, "fast", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= d {
		t.Logf("round trip after heal took %v (a loaded machine?)", took)
	}
}

func TestProxyBlackholeHoldsTheConnectionOpenAndForwardsNothing(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	if _, err := roundTrip(c, "warm", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Blackhole()
	_, err := roundTrip(c, "lost?", 400*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read through a black hole: %v, want a timeout (no RST, no EOF)", err)
	}
	// A new connection is accepted and held the same way.
	c2 := dial(t, p.Addr())
	if _, err := roundTrip(c2, "new", 300*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("new connection through a black hole: %v, want a timeout", err)
	}
	if st := p.State(); st.Mode != chaos.ModeBlackhole || st.Open != 2 {
		t.Errorf("state %+v, want blackhole with both connections open", st)
	}
	// The connection was never closed: after heal, what was held arrives
	// on it, as TCP retransmission would deliver it.
	p.Heal()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("lost?"))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "lost?" {
		t.Fatalf("after heal the held bytes arrived as %q, %v; want %q on the same connection", buf, err, "lost?")
	}
	if got, err := roundTrip(c, "again", 5*time.Second); err != nil || got != "again" {
		t.Errorf("after heal: %q, %v", got, err)
	}
}

func TestProxyCutResetsConnectionsAndRefusesNewOnesUntilHeal(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	if _, err := roundTrip(c, "warm", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	if _, err := roundTrip(c, "gone", 5*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("open connection after cut: %v, want a reset or EOF", err)
	}
	for i := range 3 {
		c2, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
		if err != nil {
			continue // refused: fine too
		}
		_, err = roundTrip(c2, "retry", 5*time.Second)
		c2.Close()
		if err == nil || isTimeout(err) {
			t.Fatalf("reconnect %d after cut: %v, want a reset or EOF", i, err)
		}
	}
	if st := p.State(); st.Mode != chaos.ModeCut || st.Open != 0 {
		t.Errorf("state %+v, want cut with nothing open", st)
	}
	p.Heal()
	if got, err := roundTrip(dial(t, p.Addr()), "back", 5*time.Second); err != nil || got != "back" {
		t.Fatalf("new connection after heal: %q, %v", got, err)
	}
}

func TestProxyCloseEndsEverything(t *testing.T) {
	p, err := chaos.Listen("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	p.Blackhole() // a held writer must not keep Close waiting
	_, _ = roundTrip(c, "x", 100*time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Error("the proxy still accepts after Close")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestProxyListensOnLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "[::]:0"} {
		if _, err := chaos.Listen(addr, "127.0.0.1:1"); !errors.Is(err, chaos.ErrNotLoopback) {
			t.Errorf("Listen(%q): %v, want ErrNotLoopback", addr, err)
		}
	}
	if _, err := chaos.Listen("127.0.0.1", "127.0.0.1:1"); err == nil {
		t.Error("Listen without a port: no error")
	}
}

func TestProxyTargetDownResetsTheClient(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p := startProxy(t, dead)
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		return // reset before connect returned: fine
	}
	defer c.Close()
	if _, err := roundTrip(c, "anyone?", 10*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("through a proxy whose target is down: %v, want a reset or EOF", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestProxyInFrontOfRedis drives a real go-redis client through each mode.
func TestProxyInFrontOfRedis(t *testing.T) {
	url := testservices.RedisURL()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	direct := goredis.NewClient(opt)
	defer direct.Close()
	ctx := context.Background()
	if err := pingWithin(ctx, direct, 3*time.Second); err != nil {
		testservices.Unavailable(t, "Redis", url, err)
	}
	p := startProxy(t, opt.Addr)
	viaOpt := *opt
	viaOpt.Addr = p.Addr()
	viaOpt.MaxRetries = -1 // see each fault, not go-redis hiding it
	viaOpt.ReadTimeout, viaOpt.WriteTimeout, viaOpt.DialTimeout = 500*time.Millisecond, 500*time.Millisecond, time.Second
	via := goredis.NewClient(&viaOpt)
	defer via.Close()

	if err := pingWithin(ctx, via, 5*time.Second); err != nil {
		t.Fatalf("PING through the proxy: %v", err)
	}

	const d = 200 * time.Millisecond
	p.Delay(d)
	slow := goredis.NewClient(&goredis.Options{Addr: p.Addr(), Username: opt.Username, Password: opt.Password, DB: opt.DB,
		MaxRetries: -1, ReadTimeout: 5 * time.Second})
	defer slow.Close()
	start := time.Now()
	if err := pingWithin(ctx, slow, 10*time.Second); err != nil {
		t.Fatalf("PING while delayed: %v", err)
	}
	if took := time.Since(start); took < 2*d {
		t.Errorf("PING while delayed took %v, want at least %v (the delay each way)", took, 2*d)
	}

	p.Blackhole()
	err = via.Ping(ctx).Err()
	if !isTimeout(err) {
		t.Errorf("PING through a black hole: %v, want a read timeout", err)
	}
	p.Heal()
	if err := pingWithin(ctx, via, 5*time.Second); err != nil {
		t.Errorf("PING after heal: %v", err)
	}

	p.Cut()
	if err := via.Ping(ctx).Err(); err == nil || isTimeout(err) {
		t.Errorf("PING through a cut: %v, want a reset, EOF or refusal", err)
	}
	if err := via.Ping(ctx).Err(); err == nil || isTimeout(err) {
		t.Errorf("second PING through a cut (reconnecting): %v, want a reset, EOF or refusal", err)
	}
	p.Heal()
	if err := pingWithin(ctx, via, 5*time.Second); err != nil {
		t.Errorf("PING after heal: %v", err)
	}
}

func pingWithin(ctx context.Context, c *goredis.Client, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return c.Ping(ctx).Err()
}

func TestControlChannel(t *testing.T) {
	p := startProxy(t, echoServer(t))
	var heard []chaos.State
	cs, err := chaos.ListenControl("127.0.0.1:0", p, func(s chaos.State) { heard = append(heard, s) })
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctl := chaos.Control{Addr: cs.Addr()}
	ctx := context.Background()

	st, err := ctl.Set(ctx, chaos.ModeDelay, 250*time.Millisecond)
	if err != nil || st.Mode != chaos.ModeDelay || st.Delay != 250*time.Millisecond || st.Listen != p.Addr() {
		t.Fatalf("Set delay: %+v, %v", st, err)
	}
	if got := p.State(); got.Mode != chaos.ModeDelay || got.Delay != 250*time.Millisecond {
		t.Errorf("the proxy's own state after Set: %+v", got)
	}
	for _, m := range []chaos.Mode{chaos.ModeBlackhole, chaos.ModeCut, chaos.ModeNormal} {
		if st, err := ctl.Set(ctx, m, 0); err != nil || st.Mode != m || p.State().Mode != m {
			t.Errorf("Set %s: %+v, %v", m, st, err)
		}
	}
	if st, err := ctl.State(ctx); err != nil || st.Mode != chaos.ModeNormal || st.Target != p.Target() {
		t.Errorf("State: %+v, %v", st, err)
	}
	if len(heard) != 4 {
		t.Errorf("onChange heard %d changes, want 4", len(heard))
	}
	if _, err := ctl.Set(ctx, chaos.ModeDelay, 0); err == nil {
		t.Error("Set delay 0: no error")
	}
	if _, err := ctl.Set(ctx, "melt", 0); err == nil || !strings.Contains(err.Error(), "unknown proxy mode") {
		t.Errorf("Set melt: %v, want unknown proxy mode", err)
	}

	// Browsers: a form cannot send JSON, a rebound name is refused.
	resp, err := http.Post("http://"+cs.Addr()+"/mode", "text/plain", strings.NewReader(`{"mode":"cut"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType || p.State().Mode != chaos.ModeNormal {
		t.Errorf("POST text/plain: %d, mode %s; want 415 and no change", resp.StatusCode, p.State().Mode)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+cs.Addr()+"/mode", bytes.NewReader([]byte(`{"mode":"cut"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Host = "evil.example:80"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || p.State().Mode != chaos.ModeNormal {
		t.Errorf("POST with Host evil.example: %d, mode %s; want 403 and no change", resp.StatusCode, p.State().Mode)
	}

	if _, err := chaos.ListenControl("0.0.0.0:0", p, nil); !errors.Is(err, chaos.ErrNotLoopback) {
		t.Errorf("control on 0.0.0.0: %v, want ErrNotLoopback", err)
	}
	cs.Close()
	if _, err := ctl.State(ctx); !errors.Is(err, chaos.ErrNoProxy) {
		t.Errorf("State of a closed control: %v, want ErrNoProxy", err)
	}
}
