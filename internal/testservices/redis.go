package testservices

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisCluster is a Redis Cluster of the test's own: three masters (no
// replicas) on free loopback ports, each in a directory of its own with
// an append-only file fsynced on every write (appendfsync always), so
// that a master SIGKILLed and started again comes back with everything
// it acknowledged. cluster-node-timeout is 2 s; while a master is down
// its slots are unserved and, since full coverage is required (the
// default), the whole cluster answers CLUSTERDOWN once the others have
// noticed.
type RedisCluster struct {
	bin   string
	cli   string
	Nodes []*RedisNode
}

// RedisNode is one master of a RedisCluster.
type RedisNode struct {
	Port, BusPort int
	Dir           string

	node
}

// StartRedisCluster starts three redis-server processes with
// --cluster-enabled yes, joins them with redis-cli --cluster create and
// waits until every node says cluster_state:ok. They are SIGKILLed when t
// ends. Without redis-server or redis-cli in PATH the test skips (fails
// under PALANTIR_REQUIRE_SERVICES=1).
func StartRedisCluster(t *testing.T) *RedisCluster {
	t.Helper()
	c := &RedisCluster{}
	var err error
	if c.bin, err = exec.LookPath("redis-server"); err != nil {
		Unavailable(t, "a private Redis Cluster (redis-server)", "", err)
	}
	if c.cli, err = exec.LookPath("redis-cli"); err != nil {
		Unavailable(t, "a private Redis Cluster (redis-cli)", "", err)
	}
	start := time.Now()
	root := t.TempDir()
	addrs := []string{}
	ports := FreePorts(t, 6)
	for i := range 3 {
		n := &RedisNode{Port: ports[2*i], BusPort: ports[2*i+1], Dir: filepath.Join(root, fmt.Sprintf("node%d", i))}
		c.Nodes = append(c.Nodes, n)
		c.Start(t, i)
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", n.Port))
	}
	t.Cleanup(func() {
		for i := range c.Nodes {
			c.Kill(i)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := exec.CommandContext(ctx, c.cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create %v: %v\n%s", addrs, err, out)
	}
	c.WaitOK(t)
	t.Logf("private Redis Cluster %v up in %v", addrs, time.Since(start).Round(100*time.Millisecond))
	return c
}

// URL is the cluster as palantir's Redis backend reads it: the first
// master, the others as addr parameters.
func (c *RedisCluster) URL() string {
	u := fmt.Sprintf("redis://127.0.0.1:%d", c.Nodes[0].Port)
	for i, n := range c.Nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += fmt.Sprintf("%saddr=127.0.0.1:%d", sep, n.Port)
	}
	return u
}

// Start starts node i (again, on its own directory: its append-only file
// and nodes.conf) and waits until it answers PING.
func (c *RedisCluster) Start(t testing.TB, i int) {
	t.Helper()
	n := c.Nodes[i]
	cmd := exec.Command(c.bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(n.Port), "--dir", n.Dir,
		"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(n.BusPort),
		"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
		"--save", "", "--appendonly", "yes", "--appendfsync", "always")
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n.start(t, fmt.Sprintf("redis-server on port %d", n.Port), cmd, func() error {
		out, err := c.CLI(i, "PING")
		if err == nil && strings.TrimSpace(out) != "PONG" {
			err = fmt.Errorf("PING answered %q", strings.TrimSpace(out))
		}
		return err
	})
}

// Kill SIGKILLs node i and waits for it to end; a node already down is
// left alone.
func (c *RedisCluster) Kill(i int) { c.Nodes[i].kill() }

// CLI runs redis-cli against node i and returns its output.
func (c *RedisCluster) CLI(i int, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.cli, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(c.Nodes[i].Port)}, args...)...).CombinedOutput()
	return string(out), err
}

// WaitOK waits up to 30 s until every node that is up says
// cluster_state:ok.
func (c *RedisCluster) WaitOK(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i, n := range c.Nodes {
		if !n.up() {
			continue
		}
		for {
			out, err := c.CLI(i, "CLUSTER", "INFO")
			if err == nil && strings.Contains(out, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Redis Cluster node on port %d not ok within 30s: %v\n%s", n.Port, err, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// Owner is the index of the master that holds key's hash slot (CLUSTER
// KEYSLOT, then CLUSTER SLOTS), asked of the first node that answers.
func (c *RedisCluster) Owner(t testing.TB, key string) int {
	t.Helper()
	for i := range c.Nodes {
		out, err := c.CLI(i, "CLUSTER", "KEYSLOT", key)
		if err != nil {
			continue
		}
		slot, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %s: %q", key, out)
		}
		nodes, err := c.CLI(i, "CLUSTER", "NODES")
		if err != nil {
			continue
		}
		// <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot or range>...
		for _, line := range strings.Split(strings.TrimSpace(nodes), "\n") {
			f := strings.Fields(line)
			if len(f) < 9 || !strings.Contains(f[2], "master") {
				continue
			}
			for _, r := range f[8:] {
				lo, hi, _ := strings.Cut(r, "-")
				a, errA := strconv.Atoi(lo)
				b, errB := strconv.Atoi(hi)
				if hi == "" {
					b, errB = a, errA
				}
				if errA != nil || errB != nil || slot < a || slot > b {
					continue
				}
				for j, n := range c.Nodes {
					if strings.HasPrefix(f[1], fmt.Sprintf("127.0.0.1:%d@", n.Port)) {
						return j
					}
				}
			}
		}
		t.Fatalf("no master of this cluster holds slot %d of %s:\n%s", slot, key, nodes)
	}
	t.Fatalf("no node of the Redis Cluster answers")
	return -1
}
