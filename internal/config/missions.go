package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"go.yaml.in/yaml/v3"

	"github.com/palantir-lab/palantir/mission"
)

// missionsKey is the config file's section of mission types people
// define; a plan file (launch --plan) holds the same section alone.
const missionsKey = "missions"

// definition is one type of the missions: section as written.
type definition struct {
	Title   string  `yaml:"title"`
	Points  int     `yaml:"points"`
	Payload string  `yaml:"payload"`
	Stages  []stage `yaml:"stages"`
}

type stage struct {
	Name     string  `yaml:"name"`
	Duration string  `yaml:"duration"`
	Fail     float64 `yaml:"fail"`
}

// ReadMissions reads the missions: section of a plan file. Errors wrap
// ErrInvalid and name the file.
func ReadMissions(file string) (mission.Catalog, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: plan file: %v", ErrInvalid, err)
	}
	doc, err := document(raw, file)
	if err != nil {
		return nil, err
	}
	c, err := parseMissions(doc, file)
	if err == nil && len(c) == 0 {
		err = fmt.Errorf("%w: plan file %s defines no mission type (want a %s: section; see examples/missions/heist.yaml)", ErrInvalid, file, missionsKey)
	}
	return c, err
}

// parseMissions reads the missions: section of a YAML document, strictly
// (a misspelt key is an error, not a default), into checked definitions.
func parseMissions(doc map[string]yaml.Node, file string) (mission.Catalog, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s: %s", ErrInvalid, file, missionsKey, oneLine(fmt.Errorf(format, a...)))
	}
	node, err := section(doc, file, missionsKey, "type names to definitions (see docs/missions.md)")
	if node == nil || err != nil {
		return nil, err
	}
	c := mission.Catalog{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, def := node.Content[i], node.Content[i+1]
		name := key.Value
		if _, dup := c[mission.Type(name)]; dup {
			return nil, bad("line %d: %q is defined twice", key.Line, name)
		}
		k, err := decodeDefinition(*def)
		if err != nil {
			return nil, bad("%q: %v", name, err)
		}
		if err := c.Define(mission.Type(name), k); err != nil {
			reason := strings.TrimPrefix(err.Error(), mission.ErrBadDefinition.Error()+": ")
			return nil, bad("line %d: %s", key.Line, reason)
		}
	}
	return c, nil
}

func decodeDefinition(n yaml.Node) (mission.Kind, error) {
	var d definition
	// Node.Decode takes a misspelt key for an absent one; look first.
	if err := knownKeys(&n, "title", "points", "payload", "stages"); err != nil {
		return mission.Kind{}, err
	}
	if st := mappingValue(&n, "stages"); st != nil {
		if st.Kind != yaml.SequenceNode {
			return mission.Kind{}, fmt.Errorf("line %d: stages must be a list of {name, duration, fail}", st.Line)
		}
		for _, s := range st.Content {
			if err := knownKeys(s, "name", "duration", "fail"); err != nil {
				return mission.Kind{}, err
			}
		}
	}
	if err := n.Decode(&d); err != nil {
		return mission.Kind{}, errors.New(strings.TrimSpace(strings.TrimPrefix(oneLine(err), "yaml: unmarshal errors:")))
	}
	k := mission.Kind{Title: d.Title, BasePoints: d.Points}
	if d.Payload != "" {
		n, err := humanize.ParseBytes(d.Payload)
		if err != nil || n > maxMessageSize {
			return k, fmt.Errorf("payload %q is not a size up to 64MiB (e.g. 4KiB)", d.Payload)
		}
		k.Payload = int(n)
	}
	for _, s := range d.Stages {
		dur, err := time.ParseDuration(s.Duration)
		if err != nil {
			return k, fmt.Errorf("stage %q: duration %q is not a duration (e.g. 800ms, 2s)", s.Name, s.Duration)
		}
		k.Stages = append(k.Stages, mission.Stage{Name: s.Name, Duration: dur, Fail: s.Fail})
	}
	return k, nil
}

// readSections reads the config file's missions: and schedules:, the
// sections viper does not (they are not settings), from one parse.
func readSections(file string) (mission.Catalog, []Schedule, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: config file %s: %v", ErrInvalid, file, err)
	}
	doc, err := document(raw, file)
	if err != nil {
		return nil, nil, err
	}
	missions, err := parseMissions(doc, file)
	if err != nil {
		return nil, nil, err
	}
	schedules, err := parseSchedules(doc, file, missions)
	return missions, schedules, err
}

// document is a YAML file's top-level keys, their values unparsed.
func document(raw []byte, file string) (map[string]yaml.Node, error) {
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, file, oneLine(err))
	}
	return doc, nil
}

// section is the mapping under key in doc, nil when there is none;
// anything but a mapping is an error saying it must map what want says.
func section(doc map[string]yaml.Node, file, key, want string) (*yaml.Node, error) {
	node, ok := doc[key]
	if !ok {
		return nil, nil
	}
	if node.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: %s: %s: must map %s", ErrInvalid, file, key, want)
	}
	return &node, nil
}

// knownKeys refuses a key of mapping n that is not one of known, naming
// its line.
func knownKeys(n *yaml.Node, known ...string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping of %s", n.Line, strings.Join(known, ", "))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(known, k.Value) {
			return fmt.Errorf("line %d: unknown key %q (known: %s)", k.Line, k.Value, strings.Join(known, ", "))
		}
	}
	return nil
}

// mappingValue is the value of key in mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
