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
}

// Defaults of the SPEC.
const (
	DefaultFailRate    = 0.2
	DefaultMaxAttempts = 3
	DefaultSpeed       = 1.0
	// MaxSpeed keeps durations meaningful; speed is a multiplier, not a switch.
	MaxSpeed = 100000.0
)

// ErrMalformed is returned by Decode for a body that is not a valid Order.
var ErrMalformed = errors.New("malformed mission")

// Validate checks an order's fields, naming the first bad one.
func (o Order) Validate() error {
	if o.ID == "" {
		return errors.New("id is empty")
	}
	if _, err := Lookup(o.Type); err != nil {
		return err
	}
	if err := CheckHero(o.Hero); err != nil {
		return err
	}
	switch {
	case o.FailRate < 0 || o.FailRate > 1:
		return fmt.Errorf("fail_rate must be between 0 and 1, got %g", o.FailRate)
	case o.MaxAttempts < 1 || o.MaxAttempts > 100:
		return fmt.Errorf("max_attempts must be between 1 and 100, got %d", o.MaxAttempts)
	case o.Speed <= 0 || o.Speed > MaxSpeed:
		return fmt.Errorf("speed must be above 0 and at most %g, got %g", MaxSpeed, o.Speed)
	}
	return nil
}

// Encode is the wire form of an order (JSON, so students can read it in the
// broker's own tools).
func (o Order) Encode() ([]byte, error) { return json.Marshal(o) }

// Decode parses and validates a wire body. Every failure wraps ErrMalformed.
func Decode(body []byte) (Order, error) {
	var o Order
	if err := json.Unmarshal(body, &o); err != nil {
		return Order{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := o.Validate(); err != nil {
		return Order{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return o, nil
}
