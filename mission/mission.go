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
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
	// Fail is the chance that an attempt that reaches this stage is
	// ambushed there, on top of the order's fail rate. Only types people
	// define set it; the built-in ones fail by the fail rate alone.
	Fail float64 `json:"fail,omitempty"`
}

// Kind describes an executable mission type. A type someone defined
// travels in its orders as JSON (see Order.Kind), so a worker needs no
// copy of the definition.
type Kind struct {
	Type        Type    `json:"-"`
	Title       string  `json:"title,omitempty"`
	Stages      []Stage `json:"stages"`
	BasePoints  int     `json:"points"`
	Description string  `json:"-"`
	// Payload is the size launch pads each order of the type to, in
	// bytes (0: as small as it encodes). It shapes the message, not the
	// work, so it does not travel.
	Payload int `json:"-"`
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
			{Name: "cross the Dead Marshes", Duration: 1200 * time.Millisecond},
			{Name: "scout the Black Gate", Duration: 1300 * time.Millisecond},
			{Name: "count the orc legions", Duration: 1500 * time.Millisecond},
			{Name: "slip back to Ithilien", Duration: 1000 * time.Millisecond},
		},
	},
	Consult: {
		Type: Consult, Title: "Consult the Elves", BasePoints: 30,
		Stages: []Stage{
			{Name: "ride to Rivendell", Duration: 1000 * time.Millisecond},
			{Name: "council with Elrond", Duration: 1200 * time.Millisecond},
			{Name: "read the old maps", Duration: 800 * time.Millisecond},
		},
	},
	Raven: {
		Type: Raven, Title: "Send a messenger raven", BasePoints: 10,
		Stages: []Stage{
			{Name: "write the message", Duration: 400 * time.Millisecond},
			{Name: "raven flies", Duration: 600 * time.Millisecond},
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

// Lookup returns the Kind of a built-in executable type.
func Lookup(t Type) (Kind, error) { return Catalog(nil).Lookup(t) }

// Lookup returns the Kind of an executable type: a built-in one or one
// of c's.
func (c Catalog) Lookup(t Type) (Kind, error) {
	if k, ok := c[t]; ok {
		return k, nil
	}
	k, ok := kinds[t]
	switch {
	case t == Fellowship:
		// Launch expands it; no mission has it as its type.
		return Kind{}, fmt.Errorf("%w: fellowship launches a batch (%s); a mission's type is %s",
			ErrUnknownType, joinTypes(fellowshipBatch, ", "), joinTypes(Types()[:len(Types())-1], " or "))
	case !ok:
		if hint := suggest.Hint(string(t), c.Names()); hint != "" {
			return Kind{}, fmt.Errorf("%w %q%s", ErrUnknownType, t, hint)
		}
		return Kind{}, fmt.Errorf("%w %q (known: %s; define your own with launch --plan FILE or the config's missions:)", ErrUnknownType, t, someNames(c.Names(), 12))
	}
	return k, nil
}

// TypeChoices lists the launchable types for a sentence: "recon, consult,
// raven or fellowship".
func TypeChoices() string { return joinTypes(Types(), " or ") }

// someNames joins the first n names and counts the rest.
func someNames(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

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
	return Catalog(nil).Each(names, count, fn)
}

// Each is the package's Each, knowing c's types too.
func (c Catalog) Each(names []string, count int, fn func(i int, t Type) error) error {
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
		if _, err := c.Lookup(t); err != nil {
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
