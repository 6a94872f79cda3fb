// Package all registers every backend palantir ships, explicitly and in
// one place.
package all

import (
	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/inproc"
	"github.com/palantir-lab/palantir/backends/nats"
	"github.com/palantir-lab/palantir/backends/postgres"
	"github.com/palantir-lab/palantir/backends/rabbitmq"
	"github.com/palantir-lab/palantir/backends/redis"
	"github.com/palantir-lab/palantir/backends/sqlite"
)

// Registry returns a registry of all backends.
func Registry() *backends.Registry {
	return backends.NewRegistry(
		inproc.Backend(),
		redis.Backend(),
		rabbitmq.Backend(),
		nats.Backend(),
		postgres.Backend(),
		sqlite.Backend(),
	)
}
