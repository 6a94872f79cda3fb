package mission

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestImportsNothingOfTheInfrastructure keeps the domain portable: the SPEC
// says mission code never depends on a broker, a database or the CLI.
func TestImportsNothingOfTheInfrastructure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{"database/sql", "jmoiron", "redis", "amqp", "cobra", "viper", "sqlite", "pgx", "palantir/backends", "palantir/store", "palantir/telemetry"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.Contains(dep, f) {
				t.Errorf("mission depends on %s (matches %q)", dep, f)
			}
		}
	}
}

func TestExpand(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		count int
		want  []Type
		err   error
	}{
		{name: "single", args: []string{"raven"}, count: 1, want: []Type{Raven}},
		{name: "count repeats each", args: []string{"raven", "recon"}, count: 2, want: []Type{Raven, Raven, Recon, Recon}},
		{name: "fellowship is a mixed batch of five", args: []string{"fellowship"}, count: 1, want: []Type{Recon, Consult, Raven, Consult, Recon}},
		{name: "case and spaces", args: []string{" RAVEN "}, count: 1, want: []Type{Raven}},
		{name: "unknown", args: []string{"dragon"}, count: 1, err: ErrUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expand(tt.args, tt.count)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Expand mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := Expand([]string{"raven"}, 0); err == nil {
		t.Error("count 0: got nil error")
	}
}

func order(t Type, failRate float64, seed uint64) Order {
	return Order{ID: "m1", Type: t, Hero: "frodo", FailRate: failRate, MaxAttempts: 3, Speed: 1, Seed: seed}
}

func TestPlanIsReproducibleFromSeedAndAttempt(t *testing.T) {
	o := order(Recon, 0.5, 42)
	a, b := PlanAttempt(o, 1), PlanAttempt(o, 1)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed and attempt planned differently:\n%s", diff)
	}
	differs := false
	for attempt := 2; attempt < 10; attempt++ {
		if !cmp.Equal(a, PlanAttempt(o, attempt)) {
			differs = true
		}
	}
	if !differs {
		t.Error("every attempt planned the same: attempts are not independent")
	}
}

func TestPlanDurationsStayWithinJitter(t *testing.T) {
	for _, typ := range []Type{Recon, Consult, Raven} {
		k, _ := Lookup(typ)
		for seed := range uint64(50) {
			p := PlanAttempt(order(typ, 0, seed), 1)
			if p.Ambush != -1 {
				t.Fatalf("%s seed %d: ambush with fail rate 0", typ, seed)
			}
			for i, s := range p.Steps {
				nominal := k.Stages[i].Duration
				if s.Duration < nominal*8/10 || s.Duration > nominal*12/10 {
					t.Errorf("%s step %q: %v outside ±20%% of %v", typ, s.Name, s.Duration, nominal)
				}
			}
			if last := p.Steps[len(p.Steps)-1].Progress; last != 100 {
				t.Errorf("%s: last step progress %d, want 100", typ, last)
			}
		}
	}
}

func TestNominalDurationsMatchTheSpec(t *testing.T) {
	want := map[Type]time.Duration{Recon: 5 * time.Second, Consult: 3 * time.Second, Raven: time.Second}
	for typ, d := range want {
		k, _ := Lookup(typ)
		if got := k.Duration(); got != d {
			t.Errorf("%s lasts %v, want %v", typ, got, d)
		}
	}
}

func TestFailRateIsRoughlyHonoured(t *testing.T) {
	fails := 0
	const n = 2000
	for seed := range uint64(n) {
		if PlanAttempt(order(Raven, 0.2, seed), 1).Ambush >= 0 {
			fails++
		}
	}
	if fails < n*15/100 || fails > n*25/100 {
		t.Errorf("fail rate 0.2 gave %d/%d ambushes", fails, n)
	}
	for seed := range uint64(20) {
		if PlanAttempt(order(Raven, 1, seed), 1).Ambush < 0 {
			t.Fatal("fail rate 1 gave a success")
		}
	}
}

func TestSpeedDividesDurations(t *testing.T) {
	slow := PlanAttempt(order(Recon, 0, 7), 1)
	o := order(Recon, 0, 7)
	o.Speed = 10
	fast := PlanAttempt(o, 1)
	for i := range slow.Steps {
		if got, want := fast.Steps[i].Duration, slow.Steps[i].Duration/10; got < want-time.Microsecond || got > want+time.Microsecond {
			t.Errorf("step %d at speed 10: %v, want %v", i, got, want)
		}
	}
}

func TestExecuteReportsProgressAndAmbush(t *testing.T) {
	noWait := func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	p := Plan{Steps: []Step{{"a", 1, 33}, {"b", 1, 66}, {"c", 1, 100}}, Ambush: 1}
	var seen []int
	err := Execute(context.Background(), p, noWait, func(s Step, i int, done bool) {
		if done {
			seen = append(seen, s.Progress)
		}
	})
	if !errors.Is(err, ErrAmbush) || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("err = %v, want an ambush at \"b\"", err)
	}
	if diff := cmp.Diff([]int{33}, seen); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	p.Ambush = -1
	seen = nil
	if err := Execute(context.Background(), p, noWait, func(s Step, _ int, done bool) {
		if done {
			seen = append(seen, s.Progress)
		}
	}); err != nil {
		t.Fatalf("success plan: %v", err)
	}
	if diff := cmp.Diff([]int{33, 66, 100}, seen); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Execute(ctx, p, Sleep, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

func TestDecode(t *testing.T) {
	good := order(Raven, 0.2, 1)
	body, _ := good.Encode()
	got, err := Decode(body)
	if err != nil || !cmp.Equal(got, good) {
		t.Fatalf("round trip: %v, %+v", err, got)
	}
	bad := map[string]string{
		"not json":      `{{{`,
		"unknown type":  `{"id":"x","type":"dragon","hero":"frodo","fail_rate":0,"max_attempts":1,"speed":1}`,
		"unknown hero":  `{"id":"x","type":"raven","hero":"sauron","fail_rate":0,"max_attempts":1,"speed":1}`,
		"no id":         `{"type":"raven","hero":"frodo","fail_rate":0,"max_attempts":1,"speed":1}`,
		"zero speed":    `{"id":"x","type":"raven","hero":"frodo","fail_rate":0,"max_attempts":1,"speed":0}`,
		"fail rate > 1": `{"id":"x","type":"raven","hero":"frodo","fail_rate":2,"max_attempts":1,"speed":1}`,
		// What a store refuses must not reach it: a NUL byte (PostgreSQL
		// text), an id beyond an index entry (~2.7 KB on PostgreSQL).
		"NUL in id":    `{"id":"x\u0000y","type":"raven","hero":"frodo","fail_rate":0,"max_attempts":1,"speed":1}`,
		"id of 3 KB":   `{"id":"` + strings.Repeat("x", 3000) + `","type":"raven","hero":"frodo","fail_rate":0,"max_attempts":1,"speed":1}`,
		"id of 129":    `{"id":"` + strings.Repeat("x", 129) + `","type":"raven","hero":"frodo","fail_rate":0,"max_attempts":1,"speed":1}`,
		"space in id":  `{"id":"a b","type":"raven","hero":"frodo","fail_rate":0,"max_attempts":1,"speed":1}`,
		"invalid utf8": "{\"id\":\"a\xff\",\"type\":\"raven\",\"hero\":\"frodo\",\"fail_rate\":0,\"max_attempts\":1,\"speed\":1}",
	}
	for _, id := range []string{"k3x9q2mz7w4a", "bench-000000001", "lab.4:a_b-c", strings.Repeat("x", 128)} {
		o := good
		o.ID = id
		if err := o.Validate(); err != nil {
			t.Errorf("id %q refused: %v", id, err)
		}
	}
	for name, b := range bad {
		if _, err := Decode([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// An order says which wire format it is; one from a newer palantir is
// dead-lettered with a reason that says to upgrade, not half-understood.
func TestDecodeChecksTheVersion(t *testing.T) {
	body, _ := order(Raven, 0.2, 1).Encode()
	if !strings.Contains(string(body), `"v":1`) {
		t.Errorf("Encode does not write the version: %s", body)
	}
	unversioned := `{"id":"x","type":"raven","hero":"frodo","fail_rate":0,"max_attempts":1,"speed":1}`
	if _, err := Decode([]byte(unversioned)); err != nil {
		t.Errorf("an order of before the version field: %v", err)
	}
	newer := `{"v":2,"id":"x","type":"raven","hero":"frodo","fail_rate":0,"max_attempts":1,"speed":1}`
	_, err := Decode([]byte(newer))
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), "upgrade") {
		t.Errorf("version 2: err = %v, want ErrMalformed naming the version and the fix", err)
	}
	if _, err := Decode([]byte(strings.Replace(newer, `"v":2`, `"v":-1`, 1))); !errors.Is(err, ErrMalformed) {
		t.Errorf("version -1: err = %v, want ErrMalformed", err)
	}
}

func TestBackoffAndScore(t *testing.T) {
	o := order(Raven, 0, 1)
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: 30 * time.Second} {
		if got := Backoff(o, attempt); got != want {
			t.Errorf("Backoff(attempt %d) = %v, want %v", attempt, got, want)
		}
	}
	if Score(Recon, 1) <= Score(Recon, 2) {
		t.Error("no bonus for first-attempt success")
	}
	if Score(Recon, 2) <= Score(Consult, 2) || Score(Consult, 2) <= Score(Raven, 2) {
		t.Error("longer missions must score more")
	}
}

func TestHeroRotation(t *testing.T) {
	if HeroFor(0) != "aragorn" || HeroFor(10) != "aragorn" || HeroFor(9) != "galadriel" {
		t.Errorf("rotation: %s %s %s", HeroFor(0), HeroFor(10), HeroFor(9))
	}
	if err := CheckHero("sauron"); !errors.Is(err, ErrUnknownHero) {
		t.Errorf("CheckHero(sauron) = %v", err)
	}
}
