package ops

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
)

// HistoryQuery is the filter of `palantir history` and GET /api/missions,
// as typed by a person.
type HistoryQuery struct {
	Type, Status, Hero, Worker, Backend string
	Since                               string // an age: 90s, 30m, 2h, 7d
	Limit                               int    // 0: all
	// Defined are the types people defined that Type may name.
	Defined mission.Catalog
}

// FieldName turns a field of a request into the name its user typed: a
// flag ("--type") on the command line, a parameter ("type") in the API.
type FieldName func(field string) string

// Flag names fields as command-line flags.
func Flag(field string) string { return "--" + strings.ReplaceAll(field, "_", "-") }

// Param names fields as they appear in JSON bodies and query strings.
func Param(field string) string { return field }

// Filter checks q and returns the store's filter, ages counted back from
// now. Errors wrap ErrInvalid and name the field.
func (q HistoryQuery) Filter(now time.Time, name FieldName) (store.Filter, error) {
	f := store.Filter{Type: q.Type, Status: q.Status, Hero: q.Hero,
		Worker: q.Worker, Backend: q.Backend, Limit: q.Limit}
	if q.Type != "" {
		if err := q.Defined.Plausible(mission.Type(q.Type)); err != nil {
			return f, fmt.Errorf("%w: %s: %w", ErrInvalid, name("type"), err)
		}
	}
	if q.Status != "" && !mission.State(strings.ToUpper(q.Status)).Valid() {
		return f, fmt.Errorf("%w: %s %q: not a state (PENDING, QUEUED, STARTED, PROCESSING, RETRY, SUCCESS, FAILURE)",
			ErrInvalid, name("status"), q.Status)
	}
	if q.Hero != "" {
		if err := mission.CheckHero(q.Hero); err != nil {
			return f, fmt.Errorf("%w: %s: %w", ErrInvalid, name("hero"), err)
		}
	}
	if q.Limit < 0 {
		return f, fmt.Errorf("%w: %s must not be negative, got %d", ErrInvalid, name("limit"), q.Limit)
	}
	if q.Since != "" {
		d, err := ParseAge(q.Since)
		if err != nil {
			return f, fmt.Errorf("%w: %s %q: %v (use e.g. 90s, 30m, 2h, 7d)", ErrInvalid, name("since"), q.Since, err)
		}
		f.Since = now.Add(-d)
	}
	return f, nil
}

// ParseAge is time.ParseDuration plus a "d" suffix for days.
func ParseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("not a number of days")
		}
		return time.Duration(n * 24 * float64(time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		return 0, fmt.Errorf("negative")
	}
	return d, err
}
