package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/all"
	"github.com/palantir-lab/palantir/internal/testservices"
)

// Commands that only look (status, doctor, dlq list) create nothing on
// the broker: a mistyped --queue once left twelve durable queues on
// RabbitMQ and three streams on NATS. They say the queue does not exist,
// and exit 0.
func TestLookingCreatesNothingOnTheBroker(t *testing.T) {
	reg := all.Registry()
	for _, name := range reg.Names() {
		b, _ := reg.Resolve(name)
		if !b.Networked {
			continue
		}
		t.Run(name, func(t *testing.T) {
			var url string
			if b.URL != nil {
				url = testservices.BackendURL(*b.URL)
			} else {
				url = testservices.PostgresDB(t) // a database of its own
			}
			testservices.Reachable(t, b, url)
			dir := t.TempDir()
			queue := fmt.Sprintf("typo-%d-%x", os.Getpid(), rand.Uint32())
			for _, args := range [][]string{{"status"}, {"doctor"}, {"dlq", "list"}, {"status", "-o", "json"}} {
				r := cli(t, dir, append(args, "--backend", url, "--queue", queue)...)
				if r.code != 0 {
					t.Errorf("%v: exit %d: %s", args, r.code, r.err)
				}
				if args[0] == "status" && args[len(args)-1] != "json" && !strings.Contains(r.out+r.err, "does not exist") {
					t.Errorf("%v does not say the queue does not exist:\n%s%s", args, r.out, r.err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			q, err := b.Open(ctx, backends.Config{URL: url, Queue: queue, Inspect: true})
			if err == nil {
				_, err = q.Stats(ctx)
				q.Close()
			}
			if !errors.Is(err, backends.ErrNoQueue) {
				t.Errorf("after status, doctor and dlq list the queue %s exists on %s (Stats: %v)", queue, name, err)
				if q, err := b.Open(ctx, backends.Config{URL: url, Queue: queue}); err == nil {
					if d, ok := q.(backends.Destroyer); ok {
						d.Destroy(ctx)
					}
					q.Close()
				}
			}
		})
	}
}
