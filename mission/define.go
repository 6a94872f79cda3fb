package mission

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/palantir-lab/palantir/internal/suggest"
)

// Catalog holds the mission types people defined (the config file's
// missions: section, launch --plan), by name. The built-in types are
// known to every Catalog, the nil one included; a defined type cannot
// take a built-in name.
type Catalog map[Type]Kind

// The bounds of a definition: enough to model a workload, small enough
// that an order stays a message and a plan stays readable.
const (
	MaxStages        = 20
	MaxStageDuration = 10 * time.Minute
	maxStageName     = 60
	maxTitle         = 80
	maxPoints        = 10000
)

// ErrBadDefinition wraps every reason Define refuses a type.
var ErrBadDefinition = errors.New("bad mission definition")

var typeName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Define checks k and adds it to c as type t.
func (c Catalog) Define(t Type, k Kind) error {
	k.Type = t
	if err := k.checkDefined(); err != nil {
		return fmt.Errorf("%w: %q: %w", ErrBadDefinition, string(t), err)
	}
	c[t] = k
	return nil
}

// checkDefined is what a type someone defined must satisfy, checked at
// launch and again by the worker that decodes its order.
func (k Kind) checkDefined() error {
	switch {
	case k.Type == Fellowship || kinds[k.Type].Type != "":
		return fmt.Errorf("is a built in type; give yours another name")
	case !typeName.MatchString(string(k.Type)):
		return fmt.Errorf("is not a type name (a lower-case letter, then up to 31 letters, digits or '-')")
	case len(k.Stages) == 0:
		return errors.New("has no stage (give it at least one: name and duration)")
	case len(k.Stages) > MaxStages:
		return fmt.Errorf("has %d stages, over %d", len(k.Stages), MaxStages)
	case k.BasePoints < 0 || k.BasePoints > maxPoints:
		return fmt.Errorf("points %d: between 0 and %d", k.BasePoints, maxPoints)
	case len(k.Title) > maxTitle || !printable(k.Title):
		return fmt.Errorf("title: at most %d printable characters", maxTitle)
	case k.Payload < 0:
		return fmt.Errorf("payload %d bytes is negative", k.Payload)
	}
	for i, s := range k.Stages {
		switch {
		case strings.TrimSpace(s.Name) == "" || len(s.Name) > maxStageName || !printable(s.Name):
			return fmt.Errorf("stage %d: name must be 1 to %d printable characters", i+1, maxStageName)
		case s.Duration < 0 || s.Duration > MaxStageDuration:
			return fmt.Errorf("stage %q: duration %v (between 0 and %v)", s.Name, s.Duration, MaxStageDuration)
		case !(s.Fail >= 0 && s.Fail <= 1): // NaN too
			return fmt.Errorf("stage %q: fail %g (a chance between 0 and 1)", s.Name, s.Fail)
		}
	}
	return nil
}

func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

// Names lists the built-in types, then c's in order.
func (c Catalog) Names() []string {
	return append(typeNames(), slices.Sorted(func(yield func(string) bool) {
		for t := range maps.Keys(c) {
			if !yield(string(t)) {
				return
			}
		}
	})...)
}

// Plausible reports whether missions of type t may be in a store that
// this catalog did not launch: nil for a known type, and for a valid name
// that is no near miss of a known one (a type of a plan this process has
// not read); Lookup's error otherwise (fellowship, a typo, a bad name).
func (c Catalog) Plausible(t Type) error {
	_, err := c.Lookup(t)
	if err == nil || t == Fellowship || !typeName.MatchString(string(t)) {
		return err
	}
	if suggest.Hint(string(t), c.Names()) != "" {
		return err
	}
	return nil
}

// Stamp makes o carry its type's definition when the type is one of c's,
// padded to the definition's payload, so that any worker can run it.
func (c Catalog) Stamp(o *Order) {
	k, ok := c[o.Type]
	if !ok {
		return
	}
	o.Kind = &k
	if k.Payload > 0 {
		o.PadTo(k.Payload)
	}
}

// padOverhead is what a pad adds to an encoded order besides itself.
var padOverhead = len(`,"pad":""`)

// PadTo sets o.Pad so that o encodes to size bytes, when the order is
// smaller than that by more than the pad's own overhead.
func (o *Order) PadTo(size int) {
	o.Pad = ""
	body, err := json.Marshal(wire{V: WireVersion, Order: *o})
	if err != nil {
		return
	}
	if n := size - len(body) - padOverhead; n > 0 {
		o.Pad = strings.Repeat("x", n)
	}
}

// kind is the definition o runs by: the one it carries, or its built-in
// type's.
func (o Order) kind() (Kind, error) {
	if o.Kind == nil {
		return Lookup(o.Type)
	}
	k := *o.Kind
	k.Type = o.Type
	if err := k.checkDefined(); err != nil {
		return Kind{}, fmt.Errorf("%w: %q: %w", ErrBadDefinition, string(o.Type), err)
	}
	return k, nil
}

// Score is what a success of o earns the hero: its type's base points,
// and half as much again for success on the first attempt.
func (o Order) Score(attempt int) int {
	k, err := o.kind()
	if err != nil {
		return 0
	}
	return k.score(attempt)
}

func (k Kind) score(attempt int) int {
	if attempt == 1 {
		return k.BasePoints + k.BasePoints/2
	}
	return k.BasePoints
}
