package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/palantir-lab/palantir/mission"
)

const heistYAML = `queue: lab
missions:
  heist:
    title: Steal the Arkenstone
    points: 40
    payload: 4KiB
    stages:
      - name: sneak in
        duration: 800ms
      - {name: grab the stone, duration: 1.5s, fail: 0.3}
`

func TestMissionsSectionDefinesTypes(t *testing.T) {
	t.Chdir(t.TempDir())
	os.WriteFile("palantir.yaml", []byte(heistYAML), 0o644)
	c, err := Load(flags(t), "", testURLs)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := c.Missions["heist"]
	want := []mission.Stage{{Name: "sneak in", Duration: 800 * time.Millisecond}, {Name: "grab the stone", Duration: 1500 * time.Millisecond, Fail: 0.3}}
	if !ok || k.Title != "Steal the Arkenstone" || k.BasePoints != 40 || k.Payload != 4096 || len(k.Stages) != 2 || k.Stages[0] != want[0] || k.Stages[1] != want[1] {
		t.Fatalf("Missions = %+v, want heist as defined", c.Missions)
	}
	if c.Queue != "lab" {
		t.Errorf("queue = %q: the section hid the file's other keys", c.Queue)
	}
}

// A plan file is the same section on its own, for launch --plan.
func TestReadMissionsReadsAPlanFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plan.yaml")
	os.WriteFile(file, []byte(heistYAML[strings.Index(heistYAML, "missions:"):]), 0o644)
	c, err := ReadMissions(file)
	if err != nil || len(c["heist"].Stages) != 2 {
		t.Fatalf("ReadMissions = %+v, %v", c, err)
	}
}

func TestBadMissionDefinitionsSayWhereAndWhat(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"a misspelt key":     {"missions:\n  heist:\n    stages:\n      - {name: a, durration: 1s}\n", "durration"},
		"not a duration":     {"missions:\n  heist:\n    stages:\n      - {name: a, duration: fast}\n", `"fast"`},
		"a built-in name":    {"missions:\n  raven:\n    stages:\n      - {name: a, duration: 1s}\n", "built in"},
		"no stages":          {"missions:\n  heist:\n    points: 3\n", "no stage"},
		"not a size":         {"missions:\n  heist:\n    payload: huge\n    stages:\n      - {name: a, duration: 1s}\n", "payload"},
		"a chance above one": {"missions:\n  heist:\n    stages:\n      - {name: a, duration: 1s, fail: 2}\n", "fail"},
		"not a mapping":      {"missions: [heist]\n", "missions"},
		"stages not a list":  {"missions:\n  heist:\n    stages: 3\n", "list"},
	}
	for name, tc := range cases {
		file := filepath.Join(t.TempDir(), "plan.yaml")
		os.WriteFile(file, []byte(tc.yaml), 0o644)
		_, err := ReadMissions(file)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), file) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line of ErrInvalid naming %s and %s", name, err, file, tc.want)
		}
	}
}

func TestAPlanFileWithoutTypesIsAnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plan.yaml")
	os.WriteFile(file, []byte("queue: lab\n"), 0o644)
	if _, err := ReadMissions(file); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no mission type") {
		t.Errorf("ReadMissions of a file without missions: %v, want ErrInvalid saying it defines none", err)
	}
}

// TestTheExamplePlanIsValid keeps examples/missions/heist.yaml loadable.
func TestTheExamplePlanIsValid(t *testing.T) {
	c, err := ReadMissions("../../examples/missions/heist.yaml")
	if err != nil || len(c["heist"].Stages) != 3 || c["courier"].Payload != 64<<10 {
		t.Fatalf("ReadMissions(example) = %+v, %v", c, err)
	}
}

func TestAConfigPayloadOverTheMessageLimitIsRefused(t *testing.T) {
	t.Chdir(t.TempDir())
	os.WriteFile("palantir.yaml", []byte("max_message_size: 64KiB\nmissions:\n  courier:\n    payload: 1MiB\n    stages: [{name: a, duration: 1s}]\n"), 0o644)
	if _, err := Load(flags(t), "", testURLs); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "courier") {
		t.Errorf("Load = %v, want ErrInvalid naming courier", err)
	}
}

// Every refusal names the line of the type it is about, quotes names, and
// stays one printable line whatever bytes the file holds.
func TestMissionErrorsNameTheLineAndStayPrintable(t *testing.T) {
	many := "missions:\n  x:\n    stages:\n" + strings.Repeat("      - {name: a, duration: 1s}\n", 21)
	cases := map[string]struct{ yaml, want string }{
		"too many stages":   {many, "line 2"},
		"an escape in name": {"missions:\n  \"\\e[31mevil\":\n    stages: [{name: a, duration: 1s}]\n", `"\x1b[31mevil"`},
		"binary":            {"missions:\n  x:\n    title: a\xff\xfe\x01b\n    stages: [{name: a, duration: 1s}]\n", "plan.yaml"},
		"binary in a stage": {"missions:\n  x:\n    stages: [{name: a, duration: \"\xe6\x9c\x80\xff\"}]\n", "UTF-8"},
		"a yaml error":      {"missions:\n  x:\n    points: many\n    stages: [{name: a, duration: 1s}]\n", "line 3"},
	}
	for name, tc := range cases {
		file := filepath.Join(t.TempDir(), "plan.yaml")
		os.WriteFile(file, []byte(tc.yaml), 0o644)
		_, err := ReadMissions(file)
		msg := fmt.Sprint(err)
		if err == nil || !strings.Contains(msg, tc.want) || strings.ContainsFunc(msg, func(r rune) bool { return !unicode.IsPrint(r) }) || strings.Contains(msg, "  ") {
			t.Errorf("%s: %q, want one printable line with single spaces naming %s", name, msg, tc.want)
		}
	}
}

func TestSchedulesSection(t *testing.T) {
	t.Chdir(t.TempDir())
	os.WriteFile("palantir.yaml", []byte("schedules:\n  ravens:\n    every: 30s\n    type: raven\n    count: 2\n    hero: frodo\n    fail_rate: 0\n    speed: 10\n  recons: {every: 1m, type: recon}\n"), 0o644)
	c, err := Load(flags(t), "", testURLs)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Schedules) != 2 {
		t.Fatalf("Schedules = %+v", c.Schedules)
	}
	r := c.Schedules[0]
	if r.Name != "ravens" || r.Every != 30*time.Second || r.Type != "raven" || r.Count != 2 || r.Hero != "frodo" ||
		r.FailRate == nil || *r.FailRate != 0 || r.Speed == nil || *r.Speed != 10 || r.MaxAttempts != nil {
		t.Errorf("ravens = %+v", r)
	}
	if d := c.Schedules[1]; d.Name != "recons" || d.Count != 1 || d.FailRate != nil {
		t.Errorf("recons = %+v, want count 1 and no fail rate of its own", d)
	}
	for name, bad := range map[string]string{
		"no every":        "schedules:\n  x: {type: raven}\n",
		"too often":       "schedules:\n  x: {every: 10ms, type: raven}\n",
		"a misspelt key":  "schedules:\n  x: {every: 1s, typ: raven}\n",
		"no type":         "schedules:\n  x: {every: 1s}\n",
		"not a mapping":   "schedules: [x]\n",
		"count of zero":   "schedules:\n  x: {every: 1s, type: raven, count: 0}\n",
		"every not a dur": "schedules:\n  x: {every: often, type: raven}\n",
		"unknown type":    "schedules:\n  x: {every: 1s, type: dragon}\n",
		"bad fail rate":   "schedules:\n  x: {every: 1s, type: raven, fail_rate: 2}\n",
		"NaN fail rate":   "schedules:\n  x: {every: 1s, type: raven, fail_rate: .nan}\n",
		"speed 0":         "schedules:\n  x: {every: 1s, type: raven, speed: 0}\n",
		"unknown hero":    "schedules:\n  x: {every: 1s, type: raven, hero: sauron}\n",
		"zero attempts":   "schedules:\n  x: {every: 1s, type: raven, max_attempts: 0}\n",
		"empty name":      "schedules:\n  \"\": {every: 1s, type: raven}\n",
	} {
		os.WriteFile("palantir.yaml", []byte(bad), 0o644)
		if _, err := Load(flags(t), "", testURLs); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "schedules") {
			t.Errorf("%s: %v, want ErrInvalid naming schedules", name, err)
		}
	}
	os.WriteFile("palantir.yaml", []byte("schedules:\n  x: {every: 1s, type: raven}\n  x: {every: 2s, type: raven}\n"), 0o644)
	if _, err := Load(flags(t), "", testURLs); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"x" already defined`) {
		t.Errorf("a schedule defined twice: %v, want ErrInvalid saying so", err)
	}
}
