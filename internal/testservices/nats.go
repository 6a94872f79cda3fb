package testservices

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NATSCluster is a NATS cluster of the test's own: three nats-server
// processes with JetStream (n0, n1, n2), routed to each other on free
// loopback ports, each with its store in a directory of its own and its
// HTTP monitoring port open (for /jsz: the meta leader and the stream
// leaders, without a client library).
type NATSCluster struct {
	bin   string
	Nodes []*NATSNode
}

// NATSNode is one server of a NATSCluster.
type NATSNode struct {
	Name                        string
	Port, ClusterPort, HTTPPort int
	Dir                         string

	node
}

// StartNATSCluster starts the three servers and waits until JetStream
// has elected a meta leader that every server knows. They are SIGKILLed
// when t ends. Without nats-server in PATH the test skips (fails under
// PALANTIR_REQUIRE_SERVICES=1).
func StartNATSCluster(t *testing.T) *NATSCluster {
	t.Helper()
	c := &NATSCluster{}
	var err error
	if c.bin, err = exec.LookPath("nats-server"); err != nil {
		Unavailable(t, "a private NATS cluster (nats-server)", "", err)
	}
	start := time.Now()
	root := t.TempDir()
	ports := FreePorts(t, 9)
	for i := range 3 {
		c.Nodes = append(c.Nodes, &NATSNode{
			Name: fmt.Sprintf("n%d", i), Port: ports[3*i], ClusterPort: ports[3*i+1], HTTPPort: ports[3*i+2],
			Dir: filepath.Join(root, fmt.Sprintf("n%d", i)),
		})
	}
	t.Cleanup(func() {
		for i := range c.Nodes {
			c.Kill(i)
		}
	})
	for i := range c.Nodes {
		c.Start(t, i)
	}
	c.WaitMetaLeader(t)
	t.Logf("private NATS cluster up in %v: %s", time.Since(start).Round(100*time.Millisecond), c.URL(0))
	return c
}

// URL is node i's client URL. One is enough: the client learns the other
// servers from it.
func (c *NATSCluster) URL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.Nodes[i].Port)
}

// Start starts node i (again, on its own store) and waits until its
// monitoring port answers; it does not wait for JetStream
// (WaitMetaLeader does).
func (c *NATSCluster) Start(t testing.TB, i int) {
	t.Helper()
	n := c.Nodes[i]
	var routes []string
	for j, o := range c.Nodes {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", o.ClusterPort))
		}
	}
	cmd := exec.Command(c.bin,
		"-a", "127.0.0.1", "-p", strconv.Itoa(n.Port), "-n", n.Name, "-m", strconv.Itoa(n.HTTPPort),
		"-js", "-sd", n.Dir,
		"--cluster_name", "palantir-test", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", n.ClusterPort),
		"--routes", strings.Join(routes, ","))
	n.start(t, "nats-server "+n.Name, cmd, func() error {
		_, err := c.monitor(i, "/varz")
		return err
	})
}

// Kill SIGKILLs node i and waits for it to end; a node already down is
// left alone.
func (c *NATSCluster) Kill(i int) { c.Nodes[i].kill() }

// Up reports whether node i runs.
func (c *NATSCluster) Up(i int) bool { return c.Nodes[i].up() }

// jsz is what palantir's tests read of /jsz.
type jsz struct {
	Meta *struct {
		Leader string `json:"leader"`
		Size   int    `json:"cluster_size"`
	} `json:"meta_cluster"`
	Accounts []struct {
		Streams []struct {
			Name      string       `json:"name"`
			Cluster   *raftCluster `json:"cluster"`
			Consumers []struct {
				Name    string       `json:"name"`
				Cluster *raftCluster `json:"cluster"`
			} `json:"consumer_detail"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// raftCluster is a stream's or a consumer's group as /jsz shows it.
type raftCluster struct {
	Leader   string `json:"leader"`
	Replicas []struct {
		Name    string `json:"name"`
		Offline bool   `json:"offline"`
	} `json:"replicas"`
}

// settled says why g has no leader, or a leader on a server that is
// down, or a follower on a server that runs offline; "" when none. (A follower's "current" is no help: an
// idle group shows it false.)
func (c *NATSCluster) settled(g *raftCluster) string {
	if g == nil || g.Leader == "" {
		return "no leader"
	}
	for i, n := range c.Nodes {
		if n.Name == g.Leader && !c.Up(i) {
			return "its leader " + n.Name + " is down"
		}
	}
	for _, r := range g.Replicas {
		for i, n := range c.Nodes {
			if n.Name == r.Name && r.Offline && c.Up(i) {
				return "replica " + r.Name + " offline"
			}
		}
	}
	return ""
}

func (c *NATSCluster) monitor(i int, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", c.Nodes[i].HTTPPort, path), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b.Bytes(), fmt.Errorf("GET %s: %s: %s", path, resp.Status, b.Bytes())
	}
	return b.Bytes(), nil
}

func (c *NATSCluster) jsz(i int) (jsz, error) {
	var z jsz
	b, err := c.monitor(i, "/jsz?accounts=true&streams=true&consumers=true")
	if err == nil {
		err = json.Unmarshal(b, &z)
	}
	return z, err
}

// WaitMetaLeader waits up to 30 s until every node that is up names the
// same JetStream meta leader, and returns its index.
func (c *NATSCluster) WaitMetaLeader(t testing.TB) int {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		leader, agreed := "", true
		for i := range c.Nodes {
			if !c.Up(i) {
				continue
			}
			z, err := c.jsz(i)
			if err != nil || z.Meta == nil || z.Meta.Leader == "" || leader != "" && z.Meta.Leader != leader {
				agreed = false
				last = fmt.Sprintf("%s: %v %+v", c.Nodes[i].Name, err, z.Meta)
				break
			}
			leader = z.Meta.Leader
		}
		if agreed && leader != "" {
			return c.index(t, leader)
		}
	}
	t.Fatalf("no JetStream meta leader within 30s (last: %s)", last)
	return -1
}

// WaitStreamLeaders waits up to 30 s until every node that is up names a
// leader for every stream and consumer it knows, and no follower
// offline on a server that runs: after a node starts, its streams and consumers elect leaders
// only after the meta leader, and a stream without one answers no API
// request.
func (c *NATSCluster) WaitStreamLeaders(t testing.TB) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		last = ""
		for i := range c.Nodes {
			if !c.Up(i) {
				continue
			}
			z, err := c.jsz(i)
			if err != nil {
				last = fmt.Sprintf("%s: %v", c.Nodes[i].Name, err)
				break
			}
			for _, a := range z.Accounts {
				for _, s := range a.Streams {
					if why := c.settled(s.Cluster); why != "" {
						last = fmt.Sprintf("%s: stream %s: %s", c.Nodes[i].Name, s.Name, why)
					}
					for _, con := range s.Consumers {
						if why := c.settled(con.Cluster); why != "" {
							last = fmt.Sprintf("%s: consumer %s of %s: %s", c.Nodes[i].Name, con.Name, s.Name, why)
						}
					}
				}
			}
		}
		if last == "" {
			return
		}
	}
	t.Fatalf("streams without a leader after 30s (last: %s)", last)
}

// StreamLeader is the index of the node that leads stream, as the nodes
// that are up see it; -1 when none names one.
func (c *NATSCluster) StreamLeader(t testing.TB, stream string) int {
	for i := range c.Nodes {
		if !c.Up(i) {
			continue
		}
		z, err := c.jsz(i)
		if err != nil {
			continue
		}
		for _, a := range z.Accounts {
			for _, s := range a.Streams {
				if s.Name == stream && s.Cluster != nil && s.Cluster.Leader != "" {
					return c.index(t, s.Cluster.Leader)
				}
			}
		}
	}
	return -1
}

func (c *NATSCluster) index(t testing.TB, name string) int {
	for i, n := range c.Nodes {
		if n.Name == name {
			return i
		}
	}
	t.Fatalf("leader %q is not a node of this cluster", name)
	return -1
}
