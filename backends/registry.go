package backends

import (
	"github.com/palantir-lab/palantir/internal/suggest"

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
	// Inspect opens the queue to look at it (status, doctor, dlq list):
	// nothing is created on the broker, and Stats says ErrNoQueue for a
	// queue the broker has nothing of, where a queue opened to be used
	// would be declared and report zeros. A mistyped --queue must not
	// leave objects behind.
	Inspect bool
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
		if scheme.MatchString(key[:i]) {
			return Backend{}, fmt.Errorf("%w: URL scheme %q%s (known schemes: %s)", ErrUnknownBackend, key[:i], suggest.Hint(key[:i], r.schemes()), strings.Join(r.schemes(), ", "))
		}
	}
	if !strings.Contains(key, "://") {
		if hint := suggest.Hint(key, r.order); hint != "" {
			return Backend{}, fmt.Errorf("%w %q%s (known: %s)", ErrUnknownBackend, key, hint, strings.Join(r.order, ", "))
		}
	}
	// Never echo it whole: it may be a mistyped URL with a password.
	return Backend{}, fmt.Errorf("%w %q (known: %s; or a URL with one of the schemes %s)", ErrUnknownBackend, Redact(strings.TrimSpace(nameOrURL)),
		strings.Join(r.order, ", "), strings.Join(r.schemes(), ", "))
}

func (r *Registry) schemes() []string {
	var s []string
	for k := range r.byScheme {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// Redact returns rawURL with its secrets replaced by xxxxx, for logs,
// errors, banners and JSON. It hides:
//
//   - the password of the userinfo (scheme://user:PASSWORD@host);
//   - the value of every query parameter, and of every key=value pair,
//     whose name says it holds a secret (password, sslpassword, token,
//     secret and their kin), as in PostgreSQL's ?sslpassword= or a
//     key=value DSN ("host=h password=PASSWORD");
//   - in a string that is not a URL (a mistyped "redis//:PASSWORD@host/0",
//     "amqp:/user:PASSWORD@host" or a file path), whatever sits between a
//     user name's ':' and the last '@'.
//
// A string with "://" that does not parse is reduced to its scheme, since
// it may hold a secret in a shape we cannot recognise.
func Redact(rawURL string) string {
	if rawURL == "" {
		return ""
	}
	i := strings.Index(rawURL, "://")
	if i <= 0 {
		return redactLoose(rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		if scheme.MatchString(rawURL[:i]) {
			return rawURL[:i] + "://(unparseable URL)"
		}
		return "(unparseable URL)"
	}
	_, hasPassword := u.User.Password()
	secret := false
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if secretParam(k) {
				q.Set(k, "xxxxx")
				secret = true
			}
		}
		if secret {
			u.RawQuery = q.Encode()
		}
	}
	if !hasPassword && !secret && !strings.Contains(rawURL, "@") {
		// Nothing to hide: keep it as written ("postgres://" stays so).
		return redactPairs(rawURL)
	}
	out := u.Redacted()
	if u.User == nil && strings.Contains(out, "@") {
		// "scheme://host/:PASSWORD@…": no userinfo to url, but a shape
		// a driver may still read as one.
		out = redactUserinfo(out, i+3)
	}
	return redactPairs(out)
}

// scheme is a URL scheme (RFC 3986).
var scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// schemePrefix is what a mistyped URL keeps of its scheme ("redis:/",
// "amqp//").
// A bare "word:" is not one: it may as well be "user:" of "user:PASSWORD@host".
var schemePrefix = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*(:/+|//)`)

// redactLoose redacts a string that is not a URL with "://".
func redactLoose(s string) string {
	start := 0
	if m := schemePrefix.FindStringIndex(s); m != nil {
		start = m[1]
	}
	return redactPairs(redactUserinfo(s, start))
}

// redactUserinfo hides what follows the first ':' of the user information
// of s, which starts at start and ends at the last '@'.
func redactUserinfo(s string, start int) string {
	at := strings.LastIndex(s, "@")
	if at < start {
		return s
	}
	c := strings.Index(s[start:at], ":")
	if c < 0 {
		return s
	}
	return s[:start+c+1] + "xxxxx" + s[at:]
}

// secretPair is a key=value pair whose key names a secret, in a query
// string, a fragment or a key=value DSN (whose values may be quoted).
var secretPair = regexp.MustCompile(`(?i)([a-z0-9_.-]*(?:pass|secret|token|pwd)[a-z0-9_.-]*\s*=\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s&;#]*)`)

func redactPairs(s string) string {
	return secretPair.ReplaceAllStringFunc(s, func(m string) string {
		sub := secretPair.FindStringSubmatch(m)
		// Already redacted, maybe at the end of a clause ("…?sslpassword=xxxxx:
		// store unreachable"): the punctuation is the sentence's. A value not
		// yet redacted loses it, since it may be the secret's.
		if strings.TrimRight(sub[2], ":;,.") == "xxxxx" {
			return m
		}
		return sub[1] + "xxxxx"
	})
}

// secretParam reports whether a URL query parameter may hold a secret
// (PostgreSQL's password and sslpassword, and their kin).
func secretParam(key string) bool {
	k := strings.ToLower(key)
	return strings.Contains(k, "pass") || strings.Contains(k, "secret") || strings.Contains(k, "token") || strings.Contains(k, "pwd")
}

// wordInText is one whitespace-delimited word of a message.
var wordInText = regexp.MustCompile(`[^\s"'<>(),\x60]+`)

// RedactText redacts every URL, user:password@ pair and secret key=value
// pair inside a message (an error from a driver that may quote the URL,
// or part of it, it was given), for text that leaves the process: an HTTP
// answer, a log line, an error on stderr.
func RedactText(s string) string {
	s = redactPairs(s)
	return wordInText.ReplaceAllStringFunc(s, func(w string) string {
		if !strings.Contains(w, "@") && !strings.Contains(w, "//") {
			return w
		}
		// "open redis://…: refused": the colon is the sentence's.
		core := strings.TrimRight(w, ":;,.")
		return Redact(core) + w[len(core):]
	})
}
