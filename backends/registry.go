package backends

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config is what every backend is opened with. Only the fields a backend
// needs are read by it.
type Config struct {
	// URL locates the broker (redis://…, amqp://…); empty for inproc.
	URL string
	// Queue is the work queue name; broker names derive from it.
	Queue string
	// Lease is how long a delivery may stay unsettled and un-extended before
	// it is given to another consumer (the visibility timeout). Backends
	// whose lease is the connection (RabbitMQ) ignore it.
	Lease time.Duration
	// DeadLetters is where a backend without durable storage of its own
	// keeps its dead letters.
	DeadLetters DeadLetterBook
	Logger      *slog.Logger
	// MaxMessageBytes bounds a message body: Publish refuses a larger one
	// with ErrTooLarge, and a consumer reads no more than a few of them
	// at once [DefaultMaxMessageBytes].
	MaxMessageBytes int
	// MaxDeliveries is how many deliveries without an outcome a copy may
	// have before it is dead-lettered; brokers that enforce a delivery
	// limit of their own set it above this [DefaultMaxDeliveries].
	MaxDeliveries int
}

// DefaultLease is the visibility timeout when Config.Lease is zero.
const DefaultLease = 30 * time.Second

// The limits when Config leaves them zero. A mission's order is a few
// hundred bytes: 256 KiB leaves room for bench's padded messages while
// keeping a poll of a hundred of them in a few tens of MB. Ten deliveries
// without an outcome outlast any honest SIGKILL storm of the labs, and
// stop a message that crashes every worker it reaches.
const (
	DefaultMaxMessageBytes = 256 << 10
	DefaultMaxDeliveries   = 10
)

// MaxBytes is MaxMessageBytes or its default.
func (c Config) MaxBytes() int {
	if c.MaxMessageBytes > 0 {
		return c.MaxMessageBytes
	}
	return DefaultMaxMessageBytes
}

// DeliveryLimit is MaxDeliveries or its default.
func (c Config) DeliveryLimit() int {
	if c.MaxDeliveries > 0 {
		return c.MaxDeliveries
	}
	return DefaultMaxDeliveries
}

// CheckSizes returns ErrTooLarge, naming the first message over the limit,
// for Publish to call before it sends anything.
func (c Config) CheckSizes(msgs []Message) error {
	for _, m := range msgs {
		if len(m.Body) > c.MaxBytes() {
			return fmt.Errorf("%w: message %s is %d bytes, over the limit of %d (max_message_size)", ErrTooLarge, m.ID, len(m.Body), c.MaxBytes())
		}
	}
	return nil
}

// Opener connects to a broker. It must fail within a few seconds, wrapping
// ErrUnreachable, when the broker does not answer.
type Opener func(ctx context.Context, cfg Config) (Queue, error)

// Backend describes one registered backend.
type Backend struct {
	Name    string
	Schemes []string // URL schemes that select it
	// Networked is true when other processes (other machines) can share
	// the queue; false for inproc.
	Networked bool
	Open      Opener
}

// Registry maps names and URL schemes to backends. It is filled explicitly
// (see package backends/all), never by init side effects.
type Registry struct {
	byName   map[string]Backend
	byScheme map[string]string
	order    []string
}

// NewRegistry registers bs in order.
func NewRegistry(bs ...Backend) *Registry {
	r := &Registry{byName: map[string]Backend{}, byScheme: map[string]string{}}
	for _, b := range bs {
		r.byName[b.Name] = b
		r.order = append(r.order, b.Name)
		for _, s := range b.Schemes {
			r.byScheme[s] = b.Name
		}
	}
	return r
}

// Names lists the registered backends in registration order.
func (r *Registry) Names() []string { return slices.Clone(r.order) }

// Resolve finds a backend by name ("redis") or by a URL's scheme
// ("rediss://host"). The error lists what is known.
func (r *Registry) Resolve(nameOrURL string) (Backend, error) {
	key := strings.ToLower(strings.TrimSpace(nameOrURL))
	if b, ok := r.byName[key]; ok {
		return b, nil
	}
	if i := strings.Index(key, "://"); i > 0 {
		if name, ok := r.byScheme[key[:i]]; ok {
			return r.byName[name], nil
		}
		return Backend{}, fmt.Errorf("%w: URL scheme %q (known schemes: %s)", ErrUnknownBackend, key[:i], strings.Join(r.schemes(), ", "))
	}
	return Backend{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownBackend, nameOrURL, strings.Join(r.order, ", "))
}

func (r *Registry) schemes() []string {
	var s []string
	for k := range r.byScheme {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// Redact returns rawURL with any password replaced, for logs and errors.
// A string that does not parse is reduced to its scheme, since it may hold
// a secret in a shape we cannot recognise.
func Redact(rawURL string) string {
	if rawURL == "" {
		return ""
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		if i := strings.Index(rawURL, "://"); i > 0 {
			return rawURL[:i] + "://(unparseable URL)"
		}
		return "(unparseable URL)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if secretParam(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// secretParam reports whether a URL query parameter may hold a secret
// (PostgreSQL's password and sslpassword, and their kin).
func secretParam(key string) bool {
	k := strings.ToLower(key)
	return strings.Contains(k, "pass") || strings.Contains(k, "secret") || strings.Contains(k, "token")
}

// urlInText finds URLs inside a message.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// RedactText redacts every URL inside a message (an error from a driver
// that may quote the URL it was given), for text that leaves the process:
// an HTTP answer, a log line.
func RedactText(s string) string {
	return urlInText.ReplaceAllStringFunc(s, Redact)
}
