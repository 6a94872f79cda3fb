package mission

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/internal/suggest"
)

// Type names a kind of mission.
type Type string

// The mission types. Fellowship is not executed itself: Expand turns it into
// a batch of the others.
const (
	Recon      Type = "recon"
	Consult    Type = "consult"
	Raven      Type = "raven"
	Fellowship Type = "fellowship"
)

// Stage is one named step of a mission, with its nominal duration at speed 1.
type Stage struct {
	Name     string
	Duration time.Duration
}

// Kind describes an executable mission type.
type Kind struct {
	Type        Type
	Title       string
	Stages      []Stage
	BasePoints  int
	Description string
}

// Duration is the nominal length of the whole mission at speed 1.
func (k Kind) Duration() time.Duration {
	var d time.Duration
	for _, s := range k.Stages {
		d += s.Duration
	}
	return d
}

var kinds = map[Type]Kind{
	Recon: {
		Type: Recon, Title: "Reconnaissance in Mordor", BasePoints: 50,
		Stages: []Stage{
			{"cross the Dead Marshes", 1200 * time.Millisecond},
			{"scout the Black Gate", 1300 * time.Millisecond},
			{"count the orc legions", 1500 * time.Millisecond},
			{"slip back to Ithilien", 1000 * time.Millisecond},
		},
	},
	Consult: {
		Type: Consult, Title: "Consult the Elves", BasePoints: 30,
		Stages: []Stage{
			{"ride to Rivendell", 1000 * time.Millisecond},
			{"council with Elrond", 1200 * time.Millisecond},
			{"read the old maps", 800 * time.Millisecond},
		},
	},
	Raven: {
		Type: Raven, Title: "Send a messenger raven", BasePoints: 10,
		Stages: []Stage{
			{"write the message", 400 * time.Millisecond},
			{"raven flies", 600 * time.Millisecond},
		},
	},
}

// fellowshipBatch is what one "fellowship" launches: mixed types, at least
// five missions, as the SPEC requires.
var fellowshipBatch = []Type{Recon, Consult, Raven, Consult, Recon}

// ErrUnknownType is returned for a mission type that does not exist.
var ErrUnknownType = errors.New("unknown mission type")

// Types lists the launchable types, fellowship included.
func Types() []Type { return []Type{Recon, Consult, Raven, Fellowship} }

// Lookup returns the Kind of an executable type.
func Lookup(t Type) (Kind, error) {
	k, ok := kinds[t]
	switch {
	case t == Fellowship:
		// Launch expands it; no mission has it as its type.
		return Kind{}, fmt.Errorf("%w: fellowship launches a batch (%s); a mission's type is %s",
			ErrUnknownType, joinTypes(fellowshipBatch, ", "), joinTypes(Types()[:len(Types())-1], " or "))
	case !ok:
		if hint := suggest.Hint(string(t), typeNames()); hint != "" {
			return Kind{}, fmt.Errorf("%w %q%s", ErrUnknownType, t, hint)
		}
		return Kind{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownType, t, knownTypes())
	}
	return k, nil
}

func knownTypes() string { return strings.Join(typeNames(), ", ") }

// TypeChoices lists the launchable types for a sentence: "recon, consult,
// raven or fellowship".
func TypeChoices() string { return joinTypes(Types(), " or ") }

func typeNames() []string {
	names := make([]string, 0, 4)
	for _, t := range Types() {
		names = append(names, string(t))
	}
	return names
}

// joinTypes joins ts with sep, the last two with " or " when sep is one.
func joinTypes(ts []Type, sep string) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = string(t)
	}
	if sep == " or " && len(names) > 2 {
		return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	}
	return strings.Join(names, sep)
}

// Expand turns launch arguments into executable types: each name is
// repeated count times, and fellowship becomes its batch.
func Expand(names []string, count int) ([]Type, error) {
	var out []Type
	err := Each(names, count, func(_ int, t Type) error {
		out = append(out, t)
		return nil
	})
	return out, err
}

// Each calls fn with the types Expand would return, one at a time, so that
// a launch of a million missions need not hold them all. It checks every
// name before the first call, and stops at fn's first error.
func Each(names []string, count int, fn func(i int, t Type) error) error {
	if count < 1 {
		return fmt.Errorf("count must be at least 1, got %d", count)
	}
	units := make([][]Type, len(names))
	for k, n := range names {
		t := Type(strings.ToLower(strings.TrimSpace(n)))
		if t == Fellowship {
			units[k] = fellowshipBatch
			continue
		}
		if _, err := Lookup(t); err != nil {
			return err
		}
		units[k] = []Type{t}
	}
	i := 0
	for _, unit := range units {
		for range count {
			for _, t := range unit {
				if err := fn(i, t); err != nil {
					return err
				}
				i++
			}
		}
	}
	return nil
}

// Heroes are the ten heroes of the SPEC, in rotation order.
var Heroes = []string{
	"aragorn", "legolas", "gimli", "gandalf", "frodo",
	"samwise", "boromir", "eowyn", "faramir", "galadriel",
}

// ErrUnknownHero is returned for a hero who is not in Heroes.
var ErrUnknownHero = errors.New("unknown hero")

// CheckHero reports whether h is one of the Heroes.
func CheckHero(h string) error {
	if slices.Contains(Heroes, h) {
		return nil
	}
	return fmt.Errorf("%w %q (known: %s)", ErrUnknownHero, h, strings.Join(Heroes, ", "))
}

// HeroFor is the deterministic rotation: the n-th mission ever launched
// goes to Heroes[n mod 10].
func HeroFor(n int) string { return Heroes[((n%len(Heroes))+len(Heroes))%len(Heroes)] }
