package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/palantir-lab/palantir/mission"
)

// schedulesKey is the config file's section of periodic launches, which
// every worker and serve with the file runs (each tick launched once
// across them).
const schedulesKey = "schedules"

// Schedule is one periodic launch as the file writes it: every Every, the
// launch `palantir launch Type --count Count …` would make. Unset
// optional fields take launch's defaults.
type Schedule struct {
	Name        string
	Every       time.Duration
	Type        string
	Count       int
	Hero        string
	FailRate    *float64
	MaxAttempts *int
	Speed       *float64
}

// The bounds of a schedule's period: often enough to watch, rarely
// enough to be a schedule rather than a loop.
const (
	minEvery = 100 * time.Millisecond
	maxEvery = 7 * 24 * time.Hour
)

type scheduleYAML struct {
	Every       string   `yaml:"every"`
	Type        string   `yaml:"type"`
	Count       *int     `yaml:"count"`
	Hero        string   `yaml:"hero"`
	FailRate    *float64 `yaml:"fail_rate"`
	MaxAttempts *int     `yaml:"max_attempts"`
	Speed       *float64 `yaml:"speed"`
}

// parseSchedules reads the schedules: section of a YAML document, in the
// file's order, and checks each launch as launch checks its flags, types
// being the built-in ones and the file's own.
func parseSchedules(doc map[string]yaml.Node, file string, types mission.Catalog) ([]Schedule, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s: %s", ErrInvalid, file, schedulesKey, oneLine(fmt.Errorf(format, a...)))
	}
	node, err := section(doc, file, schedulesKey, "schedule names to {every, type, …} (see docs/schedules.md)")
	if node == nil || err != nil {
		return nil, err
	}
	var out []Schedule
	// A name given twice never gets here: the file's reader refuses it.
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, def := node.Content[i], node.Content[i+1]
		s, err := decodeSchedule(key.Value, def, types)
		if err != nil {
			return nil, bad("%q (line %d): %v", key.Value, key.Line, err)
		}
		out = append(out, s)
	}
	return out, nil
}

var scheduleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func decodeSchedule(name string, n *yaml.Node, types mission.Catalog) (Schedule, error) {
	if !scheduleName.MatchString(name) {
		return Schedule{}, fmt.Errorf("not a schedule name (letters, digits, '.', '_' and '-', up to 64)")
	}
	if err := knownKeys(n, "every", "type", "count", "hero", "fail_rate", "max_attempts", "speed"); err != nil {
		return Schedule{}, err
	}
	var y scheduleYAML
	if err := n.Decode(&y); err != nil {
		return Schedule{}, fmt.Errorf("%s", oneLine(err))
	}
	every, err := time.ParseDuration(y.Every)
	switch {
	case y.Every == "":
		return Schedule{}, fmt.Errorf("every is required (e.g. every: 30s)")
	case err != nil:
		return Schedule{}, fmt.Errorf("every %q is not a duration (e.g. 30s, 5m)", y.Every)
	case every < minEvery || every > maxEvery:
		return Schedule{}, fmt.Errorf("every %v: between %v and %v", every, minEvery, maxEvery)
	case y.Type == "":
		return Schedule{}, fmt.Errorf("type is required (a mission type, as launch takes)")
	case y.Count != nil && (*y.Count < 1 || *y.Count > 1000):
		return Schedule{}, fmt.Errorf("count %d: between 1 and 1000", *y.Count)
	}
	s := Schedule{Name: name, Every: every, Type: y.Type, Count: 1, Hero: y.Hero, FailRate: y.FailRate,
		MaxAttempts: y.MaxAttempts, Speed: y.Speed}
	if y.Count != nil {
		s.Count = *y.Count
	}
	return s, checkLaunch(s, types)
}

// checkLaunch checks what a schedule launches by launch's own rules.
func checkLaunch(s Schedule, types mission.Catalog) error {
	if err := types.Each([]string{s.Type}, 1, func(int, mission.Type) error { return nil }); err != nil {
		return fmt.Errorf("type: %w", err)
	}
	switch {
	case s.Hero != "" && mission.CheckHero(strings.ToLower(s.Hero)) != nil:
		return fmt.Errorf("hero: %w", mission.CheckHero(strings.ToLower(s.Hero)))
	case s.FailRate != nil && !(*s.FailRate >= 0 && *s.FailRate <= 1):
		return fmt.Errorf("fail_rate %g: between 0 and 1", *s.FailRate)
	case s.MaxAttempts != nil && (*s.MaxAttempts < 1 || *s.MaxAttempts > 100):
		return fmt.Errorf("max_attempts %d: between 1 and 100", *s.MaxAttempts)
	case s.Speed != nil && !(*s.Speed >= mission.MinSpeed && *s.Speed <= mission.MaxSpeed):
		return fmt.Errorf("speed %g: between %g and %g", *s.Speed, mission.MinSpeed, mission.MaxSpeed)
	}
	return nil
}
