package chaos

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
)

// BadKind is a kind of message a worker must survive.
type BadKind string

// The kinds of bad message.
const (
	// Malformed bodies are not JSON: text, truncated JSON, bytes that are
	// not UTF-8. A worker dead-letters them without executing anything.
	Malformed BadKind = "malformed"
	// Oversized bodies are valid-looking orders padded past the message
	// size limit: a backend refuses them at publish, and a worker must
	// dead-letter one that got in anyway without executing it.
	Oversized BadKind = "oversized"
	// Rejected bodies are valid JSON orders whose id the store refuses: a
	// NUL byte in it, or about 3 KB of it (over PostgreSQL's index row
	// limit). Unless the order is validated at decode, a worker's attempt
	// to record it fails on every delivery.
	Rejected BadKind = "rejected"
)

// BadKinds lists the kinds, for help and errors.
var BadKinds = []BadKind{Malformed, Oversized, Rejected}

// ParseBadKind reads a kind's name.
func ParseBadKind(s string) (BadKind, error) {
	for _, k := range BadKinds {
		if strings.EqualFold(s, string(k)) {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown kind of bad message %q (known: malformed, oversized, rejected)", s)
}

// Bad is one bad message and what is wrong with it.
type Bad struct {
	Kind    BadKind
	Message backends.Message
	Detail  string
}

// MaxBadCount bounds how many bad messages one call makes (oversized ones
// are a quarter of a MiB each).
const MaxBadCount = 1000

// OversizedBy is how far an oversized message goes past the limit.
const OversizedBy = 1 << 10

// BadMessages makes n messages of kind. Oversized ones are OversizedBy
// bytes over limit (0: backends.DefaultMaxMessageBytes); a queue opened to
// publish them needs a MaxMessageBytes of at least MaxBody(msgs). Message
// ids are fresh mission ids; an oversized order carries its message's id,
// a rejected order its own bad one.
func BadMessages(kind BadKind, n, limit int) ([]Bad, error) {
	if n < 1 || n > MaxBadCount {
		return nil, fmt.Errorf("count must be between 1 and %d, got %d", MaxBadCount, n)
	}
	if limit <= 0 {
		limit = backends.DefaultMaxMessageBytes
	}
	now := time.Now().UTC()
	out := make([]Bad, n)
	for i := range out {
		id := ops.NewMissionID()
		var body []byte
		var detail string
		var err error
		switch kind {
		case Malformed:
			body, detail = malformed(i, id)
		case Oversized:
			body, err = padded(order(id, i, now), limit+OversizedBy)
			detail = fmt.Sprintf("a valid order padded to %d bytes, over the limit of %d", len(body), limit)
		case Rejected:
			o := order(id, i, now)
			if i%2 == 0 {
				o.ID = id[:6] + "\x00" + id[6:]
				detail = fmt.Sprintf("a valid order whose id %q holds a NUL byte", o.ID)
			} else {
				o.ID = strings.Repeat(id, 3000/len(id))
				detail = fmt.Sprintf("a valid order whose id is %d characters long (%s…)", len(o.ID), id)
			}
			body, err = o.Encode()
		default:
			_, err = ParseBadKind(string(kind))
		}
		if err != nil {
			return nil, err
		}
		out[i] = Bad{Kind: kind, Message: backends.Message{ID: id, Body: body, Attempt: 1}, Detail: detail}
	}
	return out, nil
}

// MaxBody is the size of the largest body among bad.
func MaxBody(bad []Bad) int {
	n := 0
	for _, b := range bad {
		n = max(n, len(b.Message.Body))
	}
	return n
}

// Messages returns bad's messages, for Publish.
func Messages(bad []Bad) []backends.Message {
	out := make([]backends.Message, len(bad))
	for i, b := range bad {
		out[i] = b.Message
	}
	return out
}

// PublishBad publishes bad messages through pub (opened with a
// MaxMessageBytes of at least MaxBody(bad)).
func PublishBad(ctx context.Context, pub backends.Publisher, bad []Bad) error {
	if err := pub.Publish(ctx, Messages(bad)...); err != nil {
		return fmt.Errorf("publish %d %s message(s): %w", len(bad), bad[0].Kind, err)
	}
	return nil
}

// order is a fast, certain raven: were it executed, it would not linger.
func order(id string, i int, now time.Time) mission.Order {
	return mission.Order{ID: id, Type: mission.Raven, Hero: mission.HeroFor(i), FailRate: 0, MaxAttempts: 1,
		Speed: 10, Seed: uint64(i), CreatedAt: now}
}

// padded encodes o with a Pad that brings the body to size bytes.
func padded(o mission.Order, size int) ([]byte, error) {
	o.Pad = "x"
	b, err := o.Encode()
	if err != nil {
		return nil, err
	}
	o.Pad = strings.Repeat("x", size-len(b)+1)
	return o.Encode()
}

// malformed returns the i-th malformed body, in rotation, and what it is.
func malformed(i int, id string) ([]byte, string) {
	switch i % 4 {
	case 0:
		return []byte("chaos " + id + ": this is not a mission"), "plain text"
	case 1:
		return []byte(`{"id":"` + id + `","type":"recon","hero":"fro`), "truncated JSON"
	case 2:
		return append([]byte{0xff, 0xfe, 0x00}, id...), "bytes that are not UTF-8"
	default:
		v := mission.WireVersion + 1
		return fmt.Appendf(nil, `{"v":%d,"id":%q,"type":"recon","hero":"frodo","fail_rate":0,"max_attempts":1,"speed":1}`, v, id),
			fmt.Sprintf("an order of wire version %d, newer than this palantir", v)
	}
}
