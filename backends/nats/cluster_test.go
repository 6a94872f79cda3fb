package nats_test

import (
	"context"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
	"github.com/palantir-lab/palantir/backends/nats"
	"github.com/palantir-lab/palantir/internal/testservices"
)

// clusterURL is node i of c with the queue's streams kept by all three.
func clusterURL(c *testservices.NATSCluster, i int) string { return c.URL(i) + "?replicas=3" }

// waitJetStream waits until a queue opens on url: after a start the
// cluster elects its meta leader, then each stream's leader.
func waitJetStream(t *testing.T, url string) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var q *nats.Queue
		if q, err = nats.Open(context.Background(), backends.Config{URL: url, Queue: "ptest-probe"}); err == nil {
			q.Destroy(context.Background())
			q.Close()
			return
		}
	}
	t.Fatalf("JetStream at %s not serving within 30s: %v", url, err)
}

// TestConformanceCluster runs the conformance suite on a private
// three-server NATS cluster (testservices.StartNATSCluster) with every
// stream replicated on the three (?replicas=3). The broker restart is a
// rolling one: each server in turn SIGKILLed and started again on its
// store, the next one once every stream and consumer has a leader again.
// That is the fault R3 promises to ride out, the loss of a minority at a
// time. Without the wait (two servers killed before the consumer's group
// had a leader again) the pending message came back, in one run of
// three, as a first delivery: its delivery count lost with the majority
// of its group (docs/nats.md, Clusters, tested).
func TestConformanceCluster(t *testing.T) {
	c := testservices.StartNATSCluster(t)
	url := clusterURL(c, 0)
	waitJetStream(t, url)
	s, err := dial(c.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.nc.Close)
	s.url = url
	h := s.harness()
	h.Restartable = func(t *testing.T) (string, func()) {
		return url, func() {
			for i := range c.Nodes {
				c.Kill(i)
				c.Start(t, i)
				c.WaitMetaLeader(t)
				c.WaitStreamLeaders(t)
			}
		}
	}
	backendtest.Run(t, h)

	t.Run("StreamsKeepThreeReplicas", func(t *testing.T) {
		name := backendtest.QueueName(t)
		q := s.open(t, name, lease)
		// A process whose URL says nothing of replicas (another server's,
		// too) leaves them be.
		plain, err := nats.Open(context.Background(), backends.Config{URL: c.URL(1), Queue: name, Lease: lease})
		backendtest.Must(t, "Open without replicas", err)
		plain.Close()
		n := q.Names()
		for _, stream := range []string{n.Work, n.Delayed, n.Dead} {
			st, err := s.js.Stream(context.Background(), stream)
			backendtest.Must(t, "Stream "+stream, err)
			if r := st.CachedInfo().Config.Replicas; r != 3 {
				t.Errorf("%s has %d replicas, want 3", stream, r)
			}
		}
	})
}
