package mission

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func heist() Kind {
	return Kind{Title: "Steal the Arkenstone", BasePoints: 40, Stages: []Stage{
		{Name: "sneak in", Duration: 800 * time.Millisecond},
		{Name: "grab the stone", Duration: 1500 * time.Millisecond, Fail: 1},
		{Name: "run", Duration: 500 * time.Millisecond},
	}}
}

func defined(t *testing.T) Catalog {
	t.Helper()
	c := Catalog{}
	if err := c.Define("heist", heist()); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDefinedKindTravelsWithTheOrder: a worker that has never seen the
// definition plans and scores the mission from the order alone.
func TestDefinedKindTravelsWithTheOrder(t *testing.T) {
	c := defined(t)
	var got []Type
	if err := c.Each([]string{"heist", "raven"}, 2, func(_ int, t Type) error { got = append(got, t); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(typeStrings(got), " ") != "heist heist raven raven" {
		t.Fatalf("Each = %v", got)
	}
	o := order("heist", 0, 7)
	c.Stamp(&o)
	body, err := o.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(body) // no catalog here: the order is enough
	if err != nil {
		t.Fatalf("Decode(%s): %v", body, err)
	}
	p := PlanAttempt(back, 1)
	if len(p.Steps) != 3 || p.Steps[1].Name != "grab the stone" || p.Steps[2].Progress != 100 {
		t.Fatalf("plan %+v, want the three defined stages", p)
	}
	if d := p.Steps[0].Duration; d < 640*time.Millisecond || d > 960*time.Millisecond {
		t.Errorf("first stage lasts %v, want 800ms ±20%%", d)
	}
	if p.Ambush != 1 {
		t.Errorf("ambush at %d, want 1: that stage fails every time", p.Ambush)
	}
	if back.Score(1) != 60 || back.Score(2) != 40 {
		t.Errorf("score %d and %d, want 60 on the first attempt and 40 after", back.Score(1), back.Score(2))
	}
}

func typeStrings(ts []Type) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

// TestStageFailIsAChanceAtThatStage: a stage's fail is the chance of an
// ambush there, once the attempt reaches it.
func TestStageFailIsAChanceAtThatStage(t *testing.T) {
	k := heist()
	k.Stages[1].Fail = 0.5
	o := order("heist", 0, 0)
	o.Kind = &k
	failed := 0
	const n = 4000
	for seed := range uint64(n) {
		o.Seed = seed
		switch PlanAttempt(o, 1).Ambush {
		case -1:
		case 1:
			failed++
		default:
			t.Fatal("ambushed at a stage whose fail is 0")
		}
	}
	if failed < n*45/100 || failed > n*55/100 {
		t.Errorf("%d of %d attempts failed, want about half", failed, n)
	}
}

func TestDefineRefusesWhatCannotRun(t *testing.T) {
	long := heist()
	long.Stages = make([]Stage, MaxStages+1)
	for i := range long.Stages {
		long.Stages[i] = Stage{Name: "s", Duration: time.Millisecond}
	}
	cases := map[string]struct {
		name Type
		k    func(Kind) Kind
		want string
	}{
		"a built-in name":  {"raven", func(k Kind) Kind { return k }, "built in"},
		"fellowship":       {"fellowship", func(k Kind) Kind { return k }, "built in"},
		"an upper-case":    {"Heist", func(k Kind) Kind { return k }, "name"},
		"a space":          {"big heist", func(k Kind) Kind { return k }, "name"},
		"no stages":        {"heist", func(k Kind) Kind { k.Stages = nil; return k }, "stage"},
		"too many stages":  {"heist", func(Kind) Kind { return long }, "stages"},
		"fail above 1":     {"heist", func(k Kind) Kind { k.Stages[0].Fail = 1.5; return k }, "fail"},
		"fail NaN":         {"heist", func(k Kind) Kind { k.Stages[0].Fail = math.NaN(); return k }, "fail"},
		"a negative time":  {"heist", func(k Kind) Kind { k.Stages[0].Duration = -time.Second; return k }, "duration"},
		"an hour":          {"heist", func(k Kind) Kind { k.Stages[0].Duration = time.Hour; return k }, "duration"},
		"an unnamed stage": {"heist", func(k Kind) Kind { k.Stages[0].Name = " "; return k }, "name"},
		"negative points":  {"heist", func(k Kind) Kind { k.BasePoints = -1; return k }, "points"},
	}
	for name, tc := range cases {
		err := Catalog{}.Define(tc.name, tc.k(heist()))
		if !errors.Is(err, ErrBadDefinition) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Define = %v, want ErrBadDefinition naming %q", name, err, tc.want)
		}
	}
}

// TestADefinedOrderIsCheckedOnDecode: a worker refuses a malformed
// definition as it refuses any malformed order (dead letter), rather
// than run what it cannot plan.
func TestADefinedOrderIsCheckedOnDecode(t *testing.T) {
	o := order("heist", 0, 1)
	k := heist()
	k.Stages = nil
	o.Kind = &k
	body, _ := o.Encode()
	if _, err := Decode(body); !errors.Is(err, ErrMalformed) {
		t.Errorf("Decode of a kind with no stages: %v, want ErrMalformed", err)
	}
	o = order("heist", 0, 1) // no kind: not a type this worker knows
	body, _ = o.Encode()
	if _, err := Decode(body); !errors.Is(err, ErrMalformed) {
		t.Errorf("Decode of an unknown type without its kind: %v, want ErrMalformed", err)
	}
}

func TestUnknownTypeSuggestsADefinedOne(t *testing.T) {
	err := defined(t).Each([]string{"heits"}, 1, func(int, Type) error { return nil })
	if !errors.Is(err, ErrUnknownType) || !strings.Contains(err.Error(), "heist") {
		t.Errorf("Each(heits) = %v, want ErrUnknownType suggesting heist", err)
	}
}

func TestPadToMakesTheEncodedOrderThatSize(t *testing.T) {
	o := order("heist", 0, 1)
	defined(t).Stamp(&o)
	o.PadTo(4096)
	body, err := o.Encode()
	if err != nil || len(body) != 4096 {
		t.Errorf("encoded %d bytes (%v), want 4096", len(body), err)
	}
}

// A name from a plan file or a message is quoted in errors: it may hold
// a terminal's escape codes.
func TestBadNamesAreQuotedInErrors(t *testing.T) {
	err := Catalog{}.Define("\x1b[31mevil", heist())
	if err == nil || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("Define of an escape-coded name: %q, want an error without the raw escape", err)
	}
	o := order("\x1b[31mevil", 0, 1)
	k := heist()
	o.Kind = &k
	if err := o.Validate(); err == nil || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("Validate of an escape-coded type: %q, want an error without the raw escape", err)
	}
}

// A catalog of thousands of types does not make a line of thousands of
// names.
func TestUnknownTypeListsAFewKnownOnes(t *testing.T) {
	c := Catalog{}
	for i := range 5000 {
		if err := c.Define(Type(fmt.Sprintf("t%d", i)), heist()); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Lookup("zzzzzzzzzzzz")
	if err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), "more") {
		t.Errorf("unknown type among 5000: %d bytes: %.200q", len(err.Error()), err)
	}
}
