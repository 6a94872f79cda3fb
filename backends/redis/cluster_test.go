package redis_test

import (
	"testing"

	"github.com/palantir-lab/palantir/backends/backendtest"
	"github.com/palantir-lab/palantir/internal/testservices"
)

// TestConformanceCluster runs the conformance suite on a private Redis
// Cluster of three masters (testservices.StartRedisCluster) through a
// Cluster URL (redis://a?addr=b&addr=c). Every queue's keys share the
// hash tag {Q}, so its scripts run on one master. The broker restart is
// the whole cluster SIGKILLed and started again on its append-only
// files (appendfsync always).
func TestConformanceCluster(t *testing.T) {
	c := testservices.StartRedisCluster(t)
	s := &server{url: c.URL(), client: plainClient(t, c.URL()), cleaned: map[string]bool{}}
	t.Cleanup(func() { s.client.Close() })
	h := s.harness()
	h.Restartable = func(t *testing.T) (string, func()) {
		return c.URL(), func() {
			for i := range c.Nodes {
				c.Kill(i)
			}
			for i := range c.Nodes {
				c.Start(t, i)
			}
			c.WaitOK(t)
		}
	}
	backendtest.Run(t, h)
}
