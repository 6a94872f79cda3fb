package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/chaos"
)

func TestChaosUsageErrorsExitTwo(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		says string
	}{
		{name: "unknown subcommand", args: []string{"chaos", "melt"}, says: `unknown command "melt"`},
		{name: "kill with neither", args: []string{"chaos", "kill"}, says: "--worker NAME"},
		{name: "kill with both", args: []string{"chaos", "kill", "--worker", "x", "--busy"}, says: "one of the two"},
		{name: "publish without a kind", args: []string{"chaos", "publish", "--backend", "redis"}, says: "accepts 1 arg"},
		{name: "publish an unknown kind", args: []string{"chaos", "publish", "poisoned", "--backend", "redis"}, says: "malformed, oversized, rejected"},
		{name: "publish count zero", args: []string{"chaos", "publish", "malformed", "--backend", "redis", "-n", "0"}, says: "--count"},
		{name: "publish to inproc", args: []string{"chaos", "publish", "malformed"}, says: "lives inside one process"},
		{name: "proxy without flags", args: []string{"chaos", "proxy"}, says: "--listen, --to and --control are required"},
		{name: "proxy beyond loopback", args: []string{"chaos", "proxy", "--listen", "0.0.0.0:0", "--to", "127.0.0.1:1", "--control", "127.0.0.1:0"},
			says: "not a loopback address"},
		{name: "control beyond loopback", args: []string{"chaos", "proxy", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:1", "--control", "0.0.0.0:0"},
			says: "not a loopback address"},
		{name: "unknown proxy subcommand", args: []string{"chaos", "proxy", "melt"}, says: "unknown command"},
		{name: "cut without control", args: []string{"chaos", "proxy", "cut"}, says: "--control is required"},
		{name: "control as a URL", args: []string{"chaos", "proxy", "state", "--control", "http://127.0.0.1:16380/"}, says: "HOST:PORT"},
		{name: "delay without duration", args: []string{"chaos", "proxy", "delay", "--control", "127.0.0.1:1"}, says: "accepts 1 arg"},
		{name: "delay not a duration", args: []string{"chaos", "proxy", "delay", "soon", "--control", "127.0.0.1:1"}, says: "not a positive duration"},
		{name: "delay zero", args: []string{"chaos", "proxy", "delay", "0s", "--control", "127.0.0.1:1"}, says: "not a positive duration"},
		{name: "no proxy at control", args: []string{"chaos", "proxy", "heal", "--control", deadAddr(t)}, says: "no chaos proxy answers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(controlEnv, "")
			r := cli(t, dir, tt.args...)
			if r.code != exitUsage || !strings.Contains(r.err, tt.says) || strings.Count(r.err, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want %d and one line saying %q", r.code, r.err, exitUsage, tt.says)
			}
			if r.out != "" {
				t.Errorf("stdout %q, want nothing", r.out)
			}
		})
	}
}

func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestChaosKillWithNoWorkerExitsOne(t *testing.T) {
	r := cli(t, t.TempDir(), "chaos", "kill", "--worker", "nobody", "--backend", "redis")
	if r.code != exitFailure || !strings.Contains(r.err, `no live worker named "nobody"`) {
		t.Errorf("exit %d, stderr %q; want 1 naming the worker", r.code, r.err)
	}
}

// TestChaosHelpTeaches: every chaos command has a paste-able example and
// says what its exit statuses mean.
func TestChaosHelpTeaches(t *testing.T) {
	a := newApp(streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !strings.Contains(c.Example, "palantir "+c.CommandPath()) {
			t.Errorf("%s: no example of itself: %q", c.CommandPath(), c.Example)
		}
		if c.Runnable() && c.HasParent() && !strings.Contains(c.Long, "EXIT STATUS") {
			t.Errorf("%s: Long help has no EXIT STATUS section", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newChaosCmd(a))
}

// TestChaosProxyCommands runs the proxy command in-process and drives it
// with its subcommands, as a lab would from two terminals.
func TestChaosProxyCommands(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		args := []string{"--store", filepath.Join(dir, "palantir.db"), "chaos", "proxy", "--listen", "127.0.0.1:0",
			"--to", echo.Addr().String(), "--control", "127.0.0.1:0", "-o", "json"}
		done <- run(ctx, args, streams{In: strings.NewReader(""), Out: outW, Err: io.Discard})
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("the proxy printed no address line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	var started []proxyJSON
	if err := json.Unmarshal([]byte(line), &started); err != nil || len(started) != 1 {
		t.Fatalf("proxy -o json: %v: %q", err, line)
	}
	addrs := started[0]
	if addrs.To != echo.Addr().String() || !strings.HasPrefix(addrs.Listen, "127.0.0.1:") || !strings.HasPrefix(addrs.Control, "127.0.0.1:") {
		t.Fatalf("proxy addresses %+v", addrs)
	}

	conn, err := net.DialTimeout("tcp", addrs.Listen, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	mode := func(args ...string) chaos.State {
		t.Helper()
		r := cli(t, dir, append(append([]string{"chaos", "proxy"}, args...), "--control", addrs.Control, "-o", "json")...)
		if r.code != 0 {
			t.Fatalf("chaos proxy %v: exit %d: %s", args, r.code, r.err)
		}
		return decode[[]chaos.State](t, r)[0]
	}
	// The proxy counts a connection open once it has dialled the target,
	// a moment after accepting it.
	for deadline := time.Now().Add(5 * time.Second); mode("state").Open != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy never counted the connection open: %+v", mode("state"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := mode("delay", "120ms"); st.Mode != chaos.ModeDelay || st.Delay != 120*time.Millisecond || st.Open != 1 {
		t.Errorf("after delay: %+v", st)
	}
	start := time.Now()
	if got, err := echoOnce(conn, "slow"); err != nil || got != "slow" {
		t.Fatalf("echo while delayed: %q, %v", got, err)
	}
	if took := time.Since(start); took < 240*time.Millisecond {
		t.Errorf("echo while delayed took %v, want at least 240ms", took)
	}
	if st := mode("blackhole"); st.Mode != chaos.ModeBlackhole {
		t.Errorf("after blackhole: %+v", st)
	}
	if st := mode("state"); st.Mode != chaos.ModeBlackhole || st.Listen != addrs.Listen {
		t.Errorf("state: %+v", st)
	}
	if st := mode("cut"); st.Mode != chaos.ModeCut || st.Open != 0 {
		t.Errorf("after cut: %+v", st)
	}
	t.Setenv(controlEnv, addrs.Control)
	r := cli(t, dir, "chaos", "proxy", "heal") // the address from $PALANTIR_CHAOS_CONTROL
	if r.code != 0 || !strings.Contains(r.out, "normal") {
		t.Errorf("heal with $%s: exit %d, %q %q", controlEnv, r.code, r.out, r.err)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("proxy stopped by its context: exit %d, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy command did not stop")
	}
}

func echoOnce(c net.Conn, msg string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}
