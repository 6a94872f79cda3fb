package nats

import (
	"context"
	"errors"
	"strings"

	"github.com/palantir-lab/palantir/backends"
)

// Backend registers nats for the name nats and the schemes nats and tls
// (nats.go's own scheme for a server that requires TLS).
func Backend() backends.Backend {
	return backends.Backend{
		Name:      Name,
		Schemes:   []string{"nats", "tls"},
		Holds:     "NATS JetStream",
		Networked: true,
		URL: &backends.URLSetting{Key: "nats_url", Default: "nats://127.0.0.1:4222",
			Help: "NATS URL for --backend nats (a server with JetStream; tls:// or ?cacertfile= for TLS; ?replicas=3 on a cluster)"},
		Open: func(ctx context.Context, cfg backends.Config) (backends.Queue, error) {
			q, err := Open(ctx, cfg)
			if err != nil {
				return nil, err // not a typed nil inside the interface
			}
			return q, nil
		},
		Hint:      hint,
		RedactURL: redact,
		Ceiling:   ceiling,
		Primitives: map[string]string{
			"mission_queued": "PUB palantir.<Q> (stream PALANTIR_<Q>, work-queue retention, file storage), awaiting JetStream's publish ack " +
				"(every message of a launch; a retry's copy, or the mover's when it is due)",
			"mission_started":  "pull request $JS.API.CONSUMER.MSG.NEXT.PALANTIR_<Q>.palantir (Fetch on the durable pull consumer shared by every worker)",
			"mission_progress": "+WPI (in-progress ack, sent as a request) to the message's ack subject: restarts its AckWait (the lease)",
			"mission_retry": "PUB attempt+1 to palantir.<Q>.delayed with its due time, publish ack; +ACK of the original; " +
				"the mover NAKs it with the remaining delay (NakWithDelay), then publishes it to palantir.<Q> when due",
			"mission_persisted": "then +ACK of the message, awaiting the server's reply (AckSync); the work queue deletes it",
			"mission_dead_lettered": "PUB to palantir.<Q>.dead (stream PALANTIR_<Q>_DEAD, limits retention) with the reason, publish ack; " +
				"+ACK of the original",
		},
		Guarantees: backends.Guarantees{
			Holds: []string{
				"a dead worker's missions come back after the lease (AckWait)",
				"nothing lost on a server restart (file storage, publish acks awaited)",
				"delayed retries on time to a few milliseconds (NakWithDelay on the server's timer)",
				"a message no worker settles is dead-lettered at MaxDeliver (its advisory)",
			},
			DoesNot: []string{
				"durability through a power cut: JetStream fsyncs its files every 2 minutes by default (sync_interval)",
				"refusing a settlement after the lease ran out: an ack then still deletes the message",
				"FIFO across redeliveries and retries",
			},
		},
	}
}

// hint is doctor's advice when Open fails.
func hint(err error) string {
	if err != nil && strings.Contains(err.Error(), noJetStream) {
		return "restart the server with JetStream enabled (nats-server -js, or jetstream {} in its config file)"
	}
	if err != nil && strings.Contains(err.Error(), "does not offer it") {
		return "the server has no TLS: use nats:// (or enable TLS on the server)"
	}
	if err != nil && strings.Contains(err.Error(), "certificate") {
		return "the server's TLS certificate is not trusted: name the CA that signed it with ?cacertfile=/path/ca.pem"
	}
	if err != nil && errors.Is(err, backends.ErrUnreachable) && strings.Contains(strings.ToLower(err.Error()), "authorization") {
		return "the server refused the credentials: check the user and password (nats://user:password@host) or token (nats://token@host)"
	}
	return "start NATS with JetStream (nats-server -js) or point --nats-url / PALANTIR_NATS_URL at it"
}
