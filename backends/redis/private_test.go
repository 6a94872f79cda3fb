package redis_test

import (
	"bufio"
	"bytes"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/internal/testservices"
)

// privateRedis starts a redis-server of its own for t on a free loopback
// port, in a temp dir, with no persistence and the extra args, and stops
// it when t ends. It returns the port. Tests that need a server in a
// state the shared one must not be put in (full, TLS) use it; without
// redis-server in PATH they skip (or fail under
// PALANTIR_REQUIRE_SERVICES=1).
func privateRedis(t testing.TB, args ...string) string {
	t.Helper()
	port := freePort(t)
	startRedis(t, port, append([]string{"--dir", t.TempDir()}, args...)...)
	return port
}

// startRedis starts redis-server on port with args (which may say
// "{port}" for it) and waits until it listens and, on a plain port,
// answers PING: with an append-only file it listens before it has loaded
// it, and refuses commands with LOADING until then.
func startRedis(t testing.TB, port string, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testservices.Unavailable(t, "redis-server", "redis://127.0.0.1", err)
	}
	all := append([]string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no"}, args...)
	for i, a := range all {
		if a == "{port}" {
			all[i] = port
		}
	}
	cmd := exec.Command(bin, all...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", waitPort(all))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			ready := slices.Contains(all, "--tls-port") || pong(c)
			c.Close()
			if ready {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server %s did not listen on %s within 5s:\n%s", strings.Join(all, " "), addr, out.String())
		}
	}
}

// restartableRedis is a private server with appendfsync always, and a
// restart that SIGKILLs it and starts it again on the same append-only
// file: the durability the docs promise.
func restartableRedis(t *testing.T) (string, func()) {
	port, dir := freePort(t), t.TempDir()
	args := []string{"--dir", dir, "--appendonly", "yes", "--appendfsync", "always"}
	srv := startRedis(t, port, args...)
	return "redis://127.0.0.1:" + port + "/0", func() {
		srv.Process.Kill()
		srv.Wait()
		srv = startRedis(t, port, args...)
	}
}

// waitPort is the port the server listens on last in args: the TLS port
// when there is one.
func waitPort(args []string) string {
	port := ""
	for i := 0; i+1 < len(args); i++ {
		if (args[i] == "--port" && args[i+1] != "0") || args[i] == "--tls-port" {
			port = args[i+1]
		}
	}
	return port
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// pong reports whether the server on c answers PING with PONG within a
// second (not LOADING).
func pong(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}
