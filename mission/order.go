package mission

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Order is what travels through the broker: everything a worker needs to
// execute a mission, and nothing about where it travels. It is immutable
// once published; the attempt number travels beside it, as broker metadata.
type Order struct {
	ID          string    `json:"id"`
	Type        Type      `json:"type"`
	Hero        string    `json:"hero"`
	FailRate    float64   `json:"fail_rate"`
	MaxAttempts int       `json:"max_attempts"`
	Speed       float64   `json:"speed"`
	Seed        uint64    `json:"seed"`
	CreatedAt   time.Time `json:"created_at"`
	// Pad is ignored by workers. It lets `palantir bench` make a message
	// of a chosen size while the order stays decodable.
	Pad string `json:"pad,omitempty"`
	// Kind is the definition of a type someone defined (nil for the
	// built-in types): the order carries it so that workers need no copy
	// of the config that defined it.
	Kind *Kind `json:"kind,omitempty"`
}

// Defaults of the SPEC.
const (
	DefaultFailRate    = 0.2
	DefaultMaxAttempts = 3
	DefaultSpeed       = 1.0
	// MaxSpeed keeps durations meaningful; speed is a multiplier, not a switch.
	MaxSpeed = 100000.0
	// MinSpeed keeps them finite: a ten-minute stage at MinSpeed lasts a
	// week, far inside a time.Duration (slower ones overflowed into no
	// time at all).
	MinSpeed = 0.001
)

// ErrMalformed is returned by Decode for a body that is not a valid Order.
var ErrMalformed = errors.New("malformed mission")

// MaxIDLength bounds a mission id: far above the 12 characters palantir
// draws, far below what a store index takes.
const MaxIDLength = 128

// CheckID accepts ids of 1 to MaxIDLength letters, digits and . _ : -, so
// that an id is safe in a store key, a URL path, a broker header and a
// terminal, and no store ever sees one it would refuse.
func CheckID(id string) error {
	switch {
	case id == "":
		return errors.New("id is empty")
	case len(id) > MaxIDLength:
		return fmt.Errorf("id is %d bytes, over %d", len(id), MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !idByte(c) {
			return fmt.Errorf("id has %q at byte %d (allowed: letters, digits, . _ : -)", c, i)
		}
	}
	return nil
}

func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == ':' || c == '-'
}

// Validate checks an order's fields, naming the first bad one.
func (o Order) Validate() error {
	if err := CheckID(o.ID); err != nil {
		return err
	}
	if _, err := o.kind(); err != nil {
		return err
	}
	if err := CheckHero(o.Hero); err != nil {
		return err
	}
	switch {
	case !(o.FailRate >= 0 && o.FailRate <= 1): // NaN too
		return fmt.Errorf("fail_rate must be between 0 and 1, got %g", o.FailRate)
	case o.MaxAttempts < 1 || o.MaxAttempts > 100:
		return fmt.Errorf("max_attempts must be between 1 and 100, got %d", o.MaxAttempts)
	case !(o.Speed >= MinSpeed && o.Speed <= MaxSpeed):
		return fmt.Errorf("speed must be between %g and %g, got %g", MinSpeed, MaxSpeed, o.Speed)
	}
	return nil
}

// WireVersion is the version of the order's wire form. A worker decodes
// the versions up to its own; an order without one is of version 1 (it
// predates the field). Raise it when a change would make an older worker
// misread an order, so that the older worker dead-letters it instead.
const WireVersion = 1

// wire is the order as it travels: its fields beside the wire version.
type wire struct {
	V int `json:"v"`
	Order
}

// Encode is the wire form of an order (JSON, so students can read it in the
// broker's own tools).
func (o Order) Encode() ([]byte, error) { return json.Marshal(wire{V: WireVersion, Order: o}) }

// Decode parses and validates a wire body. Every failure wraps ErrMalformed.
func Decode(body []byte) (Order, error) {
	var w wire
	if err := json.Unmarshal(body, &w); err != nil {
		return Order{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case w.V > WireVersion:
		return Order{}, fmt.Errorf("%w: order version %d is newer than this worker reads (%d): upgrade the worker, then replay the dead letter", ErrMalformed, w.V, WireVersion)
	case w.V < 0:
		return Order{}, fmt.Errorf("%w: order version %d", ErrMalformed, w.V)
	}
	if err := w.Order.Validate(); err != nil {
		return Order{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return w.Order, nil
}
