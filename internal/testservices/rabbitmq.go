package testservices

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// RabbitMQ's own scripts, run directly (the /usr/sbin wrappers switch to
// the rabbitmq user and to the shared node's cookie).
const (
	rabbitmqServer = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	rabbitmqctl    = "/usr/lib/rabbitmq/bin/rabbitmqctl"
)

// RabbitNode is a RabbitMQ node of the test's own, on free loopback ports
// in a temporary directory, for faults no test may inflict on the shared
// broker (resource alarms).
type RabbitNode struct {
	Name, Home string
	URL        string // amqp://guest:guest@127.0.0.1:PORT/
}

// StartRabbitMQ starts a node and stops it when t ends. Where RabbitMQ
// is not installed, or the node does not come up within a minute, the
// test skips (fails with PALANTIR_REQUIRE_SERVICES=1).
func StartRabbitMQ(t *testing.T) *RabbitNode {
	t.Helper()
	unusable := func(format string, args ...any) {
		t.Helper()
		if Required() {
			t.Fatalf("a private RabbitMQ node is required (PALANTIR_REQUIRE_SERVICES=1): "+format, args...)
		}
		t.Skipf("SKIPPING: no private RabbitMQ node: "+format, args...)
	}
	for _, bin := range []string{rabbitmqServer, rabbitmqctl} {
		if _, err := os.Stat(bin); err != nil {
			unusable("%v", err)
		}
	}
	dir := t.TempDir()
	cookie := make([]byte, 20)
	rand.Read(cookie)
	n := &RabbitNode{Name: fmt.Sprintf("ptest-%d-%s@localhost", os.Getpid(), hex.EncodeToString(cookie[:4])), Home: dir}
	port, dist := FreePort(t), FreePort(t)
	n.URL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", port)
	files := map[string]string{
		".erlang.cookie":  hex.EncodeToString(cookie),
		"rabbitmq.conf":   fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\nloopback_users = none\n", port),
		"enabled_plugins": "[].\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, ".erlang.cookie"), 0o400)
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(rabbitmqServer)
	cmd.Dir = dir
	cmd.Env = append(n.Env(),
		fmt.Sprintf("RABBITMQ_NODE_PORT=%d", port),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", dist),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
	)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to end the Erlang VM with its script
	if err := cmd.Start(); err != nil {
		unusable("start %s: %v", rabbitmqServer, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := n.Ctl(ctx, "stop"); err != nil {
			t.Logf("rabbitmqctl stop %s: %v: %s", n.Name, err, out)
		}
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // only the group this test started
			<-exited
		}
	})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		err := amqpAnswers(n.URL)
		if err == nil {
			break
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			unusable("node %s exited at start:\n%s", n.Name, out)
		case <-ctx.Done():
			unusable("node %s did not accept connections within %v: %v", n.Name, time.Since(start), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	t.Logf("private RabbitMQ node %s up in %v", n.Name, time.Since(start).Round(100*time.Millisecond))
	return n
}

// Env is the environment for the node and for rabbitmqctl talking to it.
func (n *RabbitNode) Env() []string {
	return append(os.Environ(), "HOME="+n.Home, "RABBITMQ_NODENAME="+n.Name)
}

// Ctl runs rabbitmqctl against the node.
func (n *RabbitNode) Ctl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, rabbitmqctl, append([]string{"-n", n.Name}, args...)...)
	cmd.Env = n.Env()
	cmd.Dir = n.Home
	return cmd.CombinedOutput()
}

// MustCtl runs rabbitmqctl and fails the test if it fails.
func (n *RabbitNode) MustCtl(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := n.Ctl(ctx, args...); err != nil {
		t.Fatalf("rabbitmqctl %v: %v: %s", args, err, out)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago (held open together while chosen, so that none comes twice).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// amqpAnswers checks that an AMQP 0-9-1 server listens at rawURL's host:
// it answers the protocol header with a method frame (connection.start).
// (Without a client library: only backends/rabbitmq may import one.)
func amqpAnswers(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	conn, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil {
		return err
	}
	frame := make([]byte, 1)
	if _, err := io.ReadFull(conn, frame); err != nil {
		return err
	}
	if frame[0] != 1 {
		return fmt.Errorf("answered frame type %d, not a method frame", frame[0])
	}
	return nil
}
